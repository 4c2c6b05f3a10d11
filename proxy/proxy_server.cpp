#include "proxy/proxy_server.hpp"

#include <future>
#include <random>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>

namespace sluice {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

proxy_server::proxy_server(const listen_options& options, std::shared_ptr<const route_snapshot> initial)
{
    std::random_device entropy;
    unsigned n = options.workers ? options.workers : 1;
    auto address = asio::ip::make_address(options.bind_address);
    // With port 0 the first listener of each kind picks the port and the others join it.
    auto listen = [&](worker& w, uint16_t& port) {
        tcp::acceptor acceptor(w.io());
        tcp::endpoint ep(address, port);
        acceptor.open(ep.protocol());
        acceptor.set_option(tcp::acceptor::reuse_address(true));
        acceptor.set_option(reuse_port(true));
        if (address.is_v6())
            acceptor.set_option(asio::ip::v6_only(false));
        acceptor.bind(ep);
        acceptor.listen(asio::socket_base::max_listen_connections);
        port = acceptor.local_endpoint().port();
        return acceptor;
    };
    uint16_t http_port = options.http_port;
    uint16_t https_port = options.https_port;
    std::vector<std::pair<tcp::acceptor, tcp::acceptor>> acceptors;
    for (unsigned i = 0; i < n; ++i) {
        uint64_t seed = (uint64_t{entropy()} << 32) ^ entropy();
        workers_.push_back(std::make_unique<worker>(i, seed, slow_work_));
        worker& w = *workers_.back();
        w.set_snapshot(initial);
        w.set_access_log(options.access_log);
        tcp::acceptor http = listen(w, http_port);
        tcp::acceptor https = listen(w, https_port);
        acceptors.emplace_back(std::move(http), std::move(https));
    }
    http_port_ = http_port;
    https_port_ = https_port;
    bind_address_ = address.to_string();
    for (unsigned i = 0; i < n; ++i)
        workers_[i]->start(std::move(acceptors[i].first), std::move(acceptors[i].second), https_port);
}

proxy_server::~proxy_server()
{
    stop();
}

void proxy_server::start()
{
    for (auto& w : workers_)
        threads_.emplace_back([wp = w.get()] { wp->io().run(); });
}

void proxy_server::publish(std::shared_ptr<const route_snapshot> snap)
{
    for (auto& w : workers_)
        asio::post(w->io(), [wp = w.get(), snap] { wp->set_snapshot(snap); });
}

void proxy_server::begin_drain()
{
    for (auto& w : workers_)
        asio::post(w->io(), [wp = w.get()] { wp->begin_drain(); });
}

void proxy_server::stop()
{
    for (auto& w : workers_)
        w->io().stop();
    for (auto& t : threads_)
        if (t.joinable())
            t.join();
    threads_.clear();
    slow_work_.stop();
    slow_work_.join();
}

series_map proxy_server::collect_request_metrics(std::chrono::milliseconds timeout)
{
    std::vector<std::future<series_map>> parts;
    for (auto& w : workers_) {
        auto promise = std::make_shared<std::promise<series_map>>();
        parts.push_back(promise->get_future());
        asio::post(w->io(), [wp = w.get(), promise] { promise->set_value(wp->metrics().series()); });
    }
    series_map merged;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (auto& part : parts) {
        if (part.wait_until(deadline) != std::future_status::ready)
            continue;
        for (const auto& [labels, s] : part.get())
            merged[labels].merge(s);
    }
    return merged;
}

proxy_totals proxy_server::totals() const
{
    proxy_totals t;
    for (const auto& w : workers_) {
        const auto& c = w->counters();
        t.requests += c.requests.load(std::memory_order_relaxed);
        t.connections_accepted += c.connections_accepted.load(std::memory_order_relaxed);
        t.connections_open += c.connections_open.load(std::memory_order_relaxed);
        t.upstream_connects += c.upstream_connects.load(std::memory_order_relaxed);
        t.upstream_reuses += c.upstream_reuses.load(std::memory_order_relaxed);
        t.tls_handshakes += c.tls_handshakes.load(std::memory_order_relaxed);
        t.tls_handshake_errors += c.tls_handshake_errors.load(std::memory_order_relaxed);
        t.tunnels_open += c.tunnels_open.load(std::memory_order_relaxed);
        t.connections_parked += c.connections_parked.load(std::memory_order_relaxed);
        t.body_buffers_lent += c.body_buffers_lent.load(std::memory_order_relaxed);
        t.connection_limit_reached += c.connection_limit_reached.load(std::memory_order_relaxed);
    }
    return t;
}

}  // namespace sluice
