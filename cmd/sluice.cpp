// sluice: Kubernetes ingress controller and reverse proxy.
#include <atomic>
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/program_options.hpp>

#include "controller/controller.hpp"
#include "controller/manifest_source.hpp"
#include "kube/api_source.hpp"
#include "kube/event_recorder.hpp"
#include "kube/leader_election.hpp"
#include "kube/status_writer.hpp"
#include "proxy/text.hpp"
#include "controller/log.hpp"
#include "controller/snapshot_json.hpp"
#include "controller/status_server.hpp"
#include "proxy/proxy_server.hpp"
#include "tls/certificate.hpp"

namespace po = boost::program_options;
namespace asio = boost::asio;

namespace {

std::string metrics_text(const sluice::controller& ctl, sluice::proxy_server& proxy, const std::string& controller_labels,
                         uint64_t dropped_log_lines)
{
    auto t = proxy.totals();
    const auto& s = ctl.stats();
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, auto value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
               std::to_string(value) + "\n";
    };
    metric("nginx_ingress_controller_config_last_reload_successful", "gauge",
           "Whether the last configuration change was applied (always a swap, never a reload).",
           s.last_build_ok ? 1 : 0);
    metric("sluice_snapshot_generation", "gauge", "Generation of the routing snapshot being served.", s.generation);
    metric("sluice_snapshot_swaps_total", "counter", "Routing snapshots published to the workers.", s.swaps);
    metric("sluice_snapshot_partial_builds_total", "counter",
           "Routing snapshots that rebuilt only the hosts a change of Ingresses touched.", s.partial_builds);
    metric("sluice_snapshot_build_seconds", "gauge", "Time the last snapshot took to build.",
           static_cast<double>(s.last_build.count()) / 1e6);
    metric("sluice_requests_total", "counter", "Requests whose header was read.", t.requests);
    metric("sluice_connections_accepted_total", "counter", "Client connections accepted.", t.connections_accepted);
    metric("sluice_connections_active", "gauge", "Client connections open.", t.connections_open);
    metric("sluice_connections_parked", "gauge",
           "Idle keep-alive client connections parked: a socket waiting for its next request, no session or buffer.",
           t.connections_parked);
    metric("sluice_body_buffers_in_use", "gauge",
           "32 KiB body buffers lent to requests streaming a body and to tunnels moving bytes; an idle tunnel holds none.",
           t.body_buffers_lent);
    metric("sluice_upstream_connects_total", "counter", "New upstream connections.", t.upstream_connects);
    metric("sluice_upstream_reuses_total", "counter", "Requests sent on a pooled upstream connection.",
           t.upstream_reuses);
    metric("sluice_access_log_dropped_total", "counter", "Access-log lines dropped because the writer fell behind.",
           dropped_log_lines);
    metric("sluice_tls_handshakes_total", "counter", "TLS handshakes completed with clients.", t.tls_handshakes);
    metric("sluice_tls_handshake_errors_total", "counter", "TLS handshakes with clients that failed.",
           t.tls_handshake_errors);
    metric("sluice_upgraded_connections_active", "gauge", "Upgraded connections (WebSocket and others) being tunnelled.",
           t.tunnels_open);
    metric("sluice_worker_connection_limit_reached_total", "counter",
           "Times a worker stopped accepting because it held max-worker-connections client connections.",
           t.connection_limit_reached);
    out += sluice::render_request_metrics(proxy.collect_request_metrics(std::chrono::seconds(1)), controller_labels);
    return out;
}

}  // namespace

int main(int argc, char** argv)
{
    std::string manifests, kubeconfig, bind = "0.0.0.0", ingress_class = "nginx",
                                       controller_class = "k8s.io/ingress-nginx", watch_namespace,
                                       annotations_prefix = "nginx.ingress.kubernetes.io", configmap,
                                       default_ssl_certificate, default_backend_service, access_log = "-",
                                       publish_status_address, election_id;
    bool update_status = true, wait_shutdown = false;
    int wait_pid = 1;
    int lease_seconds = 15;
    unsigned http_port = 80, https_port = 443, status_port = 10254, workers = std::thread::hardware_concurrency();
    int verbosity = 2;
    bool watch_without_class = false;

    po::options_description desc("sluice: Kubernetes ingress controller and reverse proxy\n\nOptions");
    desc.add_options()
        ("help,h", "show this help")
        ("manifests", po::value(&manifests), "serve the manifests (*.yaml, *.yml, *.json) below DIR, watched live")
        ("publish-status-address", po::value(&publish_status_address),
         "addresses (comma-separated) written to the status of served Ingresses; default: the nodes of the "
         "controller's running pods")
        ("update-status", po::value(&update_status)->default_value(true),
         "write Ingress status (API source; the leader of --election-id only)")
        ("election-id", po::value(&election_id)->default_value("sluice-leader"), "name of the leader-election Lease")
        ("lease-duration", po::value(&lease_seconds)->default_value(15), "leader-election lease duration in seconds")
        ("wait-shutdown", po::bool_switch(&wait_shutdown),
         "preStop hook: send SIGTERM to the sluice of --wait-pid and return once it has drained and exited")
        ("wait-pid", po::value(&wait_pid)->default_value(1), "the process --wait-shutdown stops (the container's PID 1)")
        ("kubeconfig", po::value(&kubeconfig), "watch the cluster of this kubeconfig (default without --manifests: the in-cluster configuration)")
        ("bind", po::value(&bind)->default_value(bind), "address to listen on")
        ("http-port", po::value(&http_port)->default_value(http_port), "HTTP port (0: any free port)")
        ("https-port", po::value(&https_port)->default_value(https_port), "HTTPS port (0: any free port)")
        ("status-port", po::value(&status_port)->default_value(status_port),
         "port of /healthz, /readyz, /metrics, /debug/config (0: any free port)")
        ("workers", po::value(&workers)->default_value(workers), "proxy worker threads")
        ("ingress-class", po::value(&ingress_class)->default_value(ingress_class),
         "value of the kubernetes.io/ingress.class annotation to serve")
        ("controller-class", po::value(&controller_class)->default_value(controller_class),
         "spec.controller of the IngressClasses to serve")
        ("watch-ingress-without-class", po::bool_switch(&watch_without_class), "also serve Ingresses with no class")
        ("watch-namespace", po::value(&watch_namespace), "serve only Ingresses of this namespace")
        ("annotations-prefix", po::value(&annotations_prefix)->default_value(annotations_prefix),
         "prefix of the annotations to read")
        ("configmap", po::value(&configmap), "NAMESPACE/NAME of the ConfigMap with global settings")
        ("default-ssl-certificate", po::value(&default_ssl_certificate),
         "NAMESPACE/NAME of the TLS Secret served when no other certificate applies (default: a "
         "self-signed certificate generated at start)")
        ("default-backend-service", po::value(&default_backend_service),
         "NAMESPACE/NAME of the Service that answers unmatched requests and custom-http-errors")
        ("access-log", po::value(&access_log)->default_value(access_log),
         "where access-log lines go: - (standard output), a file (appended), or off")
        ("v,v", po::value(&verbosity)->default_value(verbosity), "log level: 0 errors, 1 warnings, 2 info, 3 debug");

    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "sluice: " << e.what() << "\n" << desc << "\n";
        return 2;
    }
    if (vm.count("help")) {
        std::cout << desc << "\n";
        return 0;
    }
    sluice::set_log_level(static_cast<sluice::log_level>(std::clamp(verbosity, 0, 3)));
    if (wait_shutdown) {
        // As ingress-nginx's /wait-shutdown: the drain runs while Kubernetes waits for the hook,
        // so the container stops only once its requests are done.
        if (::kill(wait_pid, SIGTERM) != 0) {
            std::cerr << "sluice: cannot signal process " << wait_pid << ": " << std::strerror(errno) << "\n";
            return 1;
        }
        while (::kill(wait_pid, 0) == 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        return 0;
    }
    if (!kubeconfig.empty() && !manifests.empty()) {
        std::cerr << "sluice: --manifests and --kubeconfig are two sources; give one\n";
        return 2;
    }
    std::optional<sluice::kube::api_config> api_config;
    if (manifests.empty()) {
        try {
            api_config = kubeconfig.empty() ? sluice::kube::in_cluster_config() : sluice::kube::load_kubeconfig(kubeconfig);
        } catch (const std::exception& e) {
            std::cerr << "sluice: " << e.what() << "\n";
            return 2;
        }
        if (!api_config) {
            std::cerr << "sluice: no source: give --manifests DIR or --kubeconfig FILE, or run in a cluster "
                         "(KUBERNETES_SERVICE_HOST is not set)\n";
            return 2;
        }
    } else if (!std::filesystem::is_directory(manifests)) {
        std::cerr << "sluice: --manifests " << manifests << ": not a directory\n";
        return 2;
    }
    if (http_port > 65535 || https_port > 65535 || status_port > 65535) {
        std::cerr << "sluice: ports must be between 0 and 65535\n";
        return 2;
    }
    if (workers == 0)
        workers = 1;

    sluice::builder_options options;
    options.ingress_class = ingress_class;
    options.controller_class = controller_class;
    options.watch_ingress_without_class = watch_without_class;
    options.watch_namespace = watch_namespace;
    options.configmap = configmap;
    options.annotations_prefix = annotations_prefix;
    options.default_ssl_certificate = default_ssl_certificate;
    options.default_backend_service = default_backend_service;

    try {
        // ingress-nginx's "Fake Certificate": served when no other certificate applies.
        options.generated_certificate = sluice::tls::certificate::self_signed("Kubernetes Ingress Controller Fake Certificate");
        asio::io_context control_io{1};
        std::unique_ptr<sluice::kube::api_client> api;
        sluice::controller::source_factory make_source;
        std::string source_name;
        sluice::kube::source_options source_options;  // outlives the factory that captures it
        source_options.watch_namespace = watch_namespace;
        if (api_config) {
            api = std::make_unique<sluice::kube::api_client>(control_io, *api_config);
            make_source = [&](sluice::change_source::change_handler on_changes) {
                return std::make_unique<sluice::kube::api_source>(control_io, *api, source_options, std::move(on_changes));
            };
            source_name = "the Kubernetes API at " + api_config->host + ":" + api_config->port + " (" + api_config->origin + ")";
        } else {
            make_source = [&](sluice::change_source::change_handler on_changes) {
                return std::make_unique<sluice::manifest_source>(control_io, manifests, std::move(on_changes));
            };
            source_name = "manifests from " + manifests;
        }
        sluice::controller ctl(control_io, make_source, options);
        // Status write-back, by the one replica that holds the Lease.
        std::unique_ptr<sluice::kube::status_writer> status_writer;
        std::unique_ptr<sluice::kube::leader_election> election;
        std::unique_ptr<sluice::kube::event_recorder> events;
        auto env = [](const char* name) { const char* v = std::getenv(name); return std::string(v ? v : ""); };
        if (api && update_status) {
            sluice::kube::status_options so;
            for (auto a : sluice::split_list(publish_status_address))
                so.publish_addresses.emplace_back(a);
            so.pod_namespace = env("POD_NAMESPACE");
            so.node_ip = env("NODE_IP");
            status_writer = std::make_unique<sluice::kube::status_writer>(control_io, *api, so);
            sluice::kube::event_options ev;
            ev.instance = env("POD_NAME");
            events = std::make_unique<sluice::kube::event_recorder>(control_io, *api, ev);
            ctl.on_build([&](const sluice::object_store& store, const sluice::route_snapshot& snap) {
                status_writer->observe(store, snap);
                events->observe(store, snap);
            });
            sluice::kube::election_options eo;
            eo.ns = so.pod_namespace.empty() ? "default" : so.pod_namespace;
            eo.name = election_id;
            eo.identity = env("POD_NAME").empty() ? std::string("sluice-") + std::to_string(::getpid()) : env("POD_NAME");
            eo.lease_duration = std::chrono::seconds(std::max(1, lease_seconds));
            eo.renew_deadline = eo.lease_duration * 2 / 3;
            eo.retry_period = std::chrono::duration_cast<std::chrono::milliseconds>(eo.lease_duration) * 2 / 15;
            election = std::make_unique<sluice::kube::leader_election>(
                control_io, *api, eo, [&](bool leading) {
                    status_writer->set_leading(leading);
                    events->set_leading(leading);
                    // Diagnostics that arose before this replica led are reported now.
                    if (leading)
                        events->observe(ctl.store(), *ctl.current());
                });
        }
        auto first = ctl.initial_sync();

        std::unique_ptr<sluice::access_log_writer> access_log_writer;
        if (access_log != "off")
            access_log_writer = std::make_unique<sluice::access_log_writer>(access_log);
        sluice::listen_options listen;
        listen.access_log = access_log_writer.get();
        listen.bind_address = bind;
        listen.http_port = static_cast<uint16_t>(http_port);
        listen.https_port = static_cast<uint16_t>(https_port);
        // worker-processes from the ConfigMap, unless --workers says otherwise; read at start only.
        if (vm["workers"].defaulted() && first->settings.worker_processes > 0)
            workers = first->settings.worker_processes;
        listen.workers = workers;
        sluice::proxy_server proxy(listen, first);
        // ingress-nginx's controller_* labels; the pod's name and namespace come from the
        // downward API (POD_NAME, POD_NAMESPACE) in a cluster.
        const std::string controller_labels = "controller_class=\"" + sluice::prometheus_escape(controller_class) +
                                              "\",controller_namespace=\"" + sluice::prometheus_escape(env("POD_NAMESPACE")) +
                                              "\",controller_pod=\"" + sluice::prometheus_escape(env("POD_NAME")) + "\",";
        std::atomic<bool> draining{false};

        sluice::status_server status(
            control_io, bind, static_cast<uint16_t>(status_port),
            sluice::status_handlers{
                [&] { return ctl.ready() && !draining.load(); },
                [&] { return metrics_text(ctl, proxy, controller_labels, access_log_writer ? access_log_writer->dropped() : 0); },
                // Strings from the API or the manifests are UTF-8 by then; should one not be, it is
                // shown replaced rather than failing the whole answer.
                [&] {
                    return sluice::snapshot_to_json(*ctl.current()).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
                           "\n";
                },
            });

        ctl.watch([&proxy](std::shared_ptr<const sluice::route_snapshot> snap) { proxy.publish(std::move(snap)); });
        if (election)
            election->start();
        proxy.start();
        sluice::log_info("serving http on " + proxy.bind_address() + ":" + std::to_string(proxy.http_port()) +
                         ", https on " + proxy.bind_address() + ":" + std::to_string(proxy.https_port()) + " with " + std::to_string(workers) + " worker(s); status on " + bind + ":" +
                         std::to_string(status.port()) + "; " + source_name);

        // SIGTERM/SIGINT: drain gracefully (readyz turns 503, listeners close, idle connections
        // close, requests in flight finish) within worker-shutdown-timeout; SIGQUIT: stop now.
        asio::steady_timer drain_timer(control_io);
        std::chrono::steady_clock::time_point drain_deadline;
        std::function<void()> poll_drain = [&] {
            if (proxy.totals().connections_open <= 0 || std::chrono::steady_clock::now() >= drain_deadline) {
                int64_t left = proxy.totals().connections_open;
                sluice::log_info(left > 0 ? "drain timed out with " + std::to_string(left) + " connection(s) open; stopping"
                                          : std::string("drained; stopping"));
                control_io.stop();
                return;
            }
            drain_timer.expires_after(std::chrono::milliseconds(50));
            drain_timer.async_wait([&](const boost::system::error_code& ec) {
                if (!ec)
                    poll_drain();
            });
        };
        asio::signal_set signals(control_io, SIGINT, SIGTERM, SIGQUIT);
        std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                                   int sig) {
            if (ec)
                return;
            if (sig == SIGQUIT || draining.exchange(true)) {
                sluice::log_info(sig == SIGQUIT ? "received SIGQUIT, stopping now" : "second signal, stopping now");
                control_io.stop();
                return;
            }
            auto timeout = ctl.current()->settings.worker_shutdown_timeout;
            sluice::log_info(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", draining for up to " +
                             std::to_string(timeout.count() / 1000) + "s");
            drain_deadline = std::chrono::steady_clock::now() + timeout;
            proxy.begin_drain();
            poll_drain();
            signals.async_wait(on_signal);
        };
        signals.async_wait(on_signal);
        std::signal(SIGPIPE, SIG_IGN);
        control_io.run();
        proxy.stop();
    } catch (const std::exception& e) {
        std::cerr << "sluice: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
