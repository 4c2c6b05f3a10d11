#include "controller/model_builder.hpp"

#include <algorithm>
#include <set>

#include <boost/asio/ip/address.hpp>

#include "controller/global_settings.hpp"

namespace sluice {
namespace {

using k8s::kind;

constexpr std::string_view class_annotation = "kubernetes.io/ingress.class";

class builder {
public:
    builder(const object_store& store, const builder_options& options, route_snapshot& snap)
        : store_(store), options_(options), snap_(snap)
    {
    }

    void run()
    {
        load_settings();
        index_endpoints();
        std::vector<const k8s::ingress*> ingresses = accepted_ingresses();
        // ingress-nginx orders Ingresses by creation time, then namespace/name; the first to
        // claim a host+path keeps it.
        std::stable_sort(ingresses.begin(), ingresses.end(), [](const k8s::ingress* a, const k8s::ingress* b) {
            return std::tie(a->meta.creation_timestamp, a->meta.ns, a->meta.name) <
                   std::tie(b->meta.creation_timestamp, b->meta.ns, b->meta.name);
        });
        for (const k8s::ingress* ing : ingresses)
            add_servers(*ing);
        for (const k8s::ingress* ing : ingresses)
            add_paths(*ing);
        for (const auto& [key, d] : store_.diagnostics())
            snap_.diagnostics.push_back(d);
    }

private:
    void load_settings()
    {
        snap_.catch_all.fallback.policy = defaults_;
        if (options_.configmap.empty())
            return;
        auto slash = options_.configmap.find('/');
        std::string ns = slash == std::string::npos ? "default" : options_.configmap.substr(0, slash);
        std::string name = slash == std::string::npos ? options_.configmap : options_.configmap.substr(slash + 1);
        const auto* cm = store_.find<k8s::config_map>(kind::config_map, ns, name);
        if (!cm)
            return;
        apply_configmap(cm->data, ns + "/" + name, snap_.settings, defaults_, snap_.diagnostics);
        snap_.catch_all.fallback.policy = defaults_;
    }

    void index_endpoints()
    {
        for (const auto& [key, stored] : store_.objects()) {
            if (const auto* es = std::get_if<k8s::endpoint_slice>(&stored.object)) {
                if (!es->service_name.empty())
                    slices_[key.ns + "/" + es->service_name].push_back(es);
            }
        }
    }

    void diag(const k8s::ingress& ing, std::string field, std::string message)
    {
        snap_.diagnostics.push_back({"Ingress " + ing.meta.ns + "/" + ing.meta.name, std::move(field), std::move(message)});
    }

    std::vector<const k8s::ingress*> accepted_ingresses()
    {
        std::set<std::string> owned_classes;
        bool default_class = false;
        for (const auto& [key, stored] : store_.objects()) {
            if (const auto* ic = std::get_if<k8s::ingress_class>(&stored.object)) {
                if (ic->controller == options_.controller_class) {
                    owned_classes.insert(ic->meta.name);
                    default_class = default_class || ic->is_default;
                }
            }
        }
        std::vector<const k8s::ingress*> out;
        for (const auto& [key, stored] : store_.objects()) {
            const auto* ing = std::get_if<k8s::ingress>(&stored.object);
            if (!ing)
                continue;
            if (!options_.watch_namespace.empty() && ing->meta.ns != options_.watch_namespace)
                continue;
            if (ing->ingress_class_name) {
                if (owned_classes.contains(*ing->ingress_class_name)) {
                    out.push_back(ing);
                } else if (*ing->ingress_class_name == options_.ingress_class) {
                    diag(*ing, "spec.ingressClassName",
                         "IngressClass " + options_.ingress_class + " does not exist or its spec.controller is not " +
                             options_.controller_class + "; Ingress ignored");
                }
                continue;
            }
            auto ann = ing->meta.annotations.find(std::string(class_annotation));
            if (ann != ing->meta.annotations.end()) {
                if (ann->second == options_.ingress_class)
                    out.push_back(ing);
                continue;
            }
            if (options_.watch_ingress_without_class || default_class)
                out.push_back(ing);
        }
        return out;
    }

    // Host names as the API validates them: DNS-1123 subdomain, optionally "*." in front.
    bool valid_host(const std::string& host, std::string& lowered)
    {
        lowered.clear();
        std::string_view h = host;
        if (h.starts_with("*.")) {
            lowered = "*.";
            h.remove_prefix(2);
        }
        if (h.empty() || h.size() > 253)
            return false;
        for (char c : h) {
            if (c >= 'A' && c <= 'Z')
                c = static_cast<char>(c - 'A' + 'a');
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
                return false;
            lowered.push_back(c);
        }
        return lowered.back() != '.' && lowered.back() != '-' && h.front() != '-' && h.front() != '.' &&
               lowered.find("..") == std::string::npos;
    }

    virtual_host& host_for(const std::string& lowered, bool& created)
    {
        created = false;
        if (lowered.empty())
            return snap_.catch_all;
        auto& table = lowered.starts_with("*.") ? snap_.wildcard_hosts : snap_.exact_hosts;
        std::string key = lowered.starts_with("*.") ? lowered.substr(2) : lowered;
        auto it = table.find(key);
        if (it == table.end()) {
            created = true;
            it = table.emplace(key, virtual_host{}).first;
            it->second.name = lowered;
            it->second.fallback.path = "/";
            it->second.fallback.policy = defaults_;
        }
        return it->second;
    }

    // Servers and their fallback ("/") location, in ingress-nginx's order: an Ingress with a
    // default backend and no rules configures the catch-all server; one with rules makes its
    // default backend the fallback of the hosts it is first to define.
    void add_servers(const k8s::ingress& ing)
    {
        uint32_t fallback = no_backend;
        if (ing.default_backend) {
            if (ing.default_backend->has_resource) {
                diag(ing, "spec.defaultBackend.resource", "resource backends are not supported; ignored");
            } else {
                fallback = resolve_backend(ing, ing.default_backend->service_name, ing.default_backend->service_port,
                                           "spec.defaultBackend");
                if (ing.rules.empty()) {
                    if (snap_.catch_all.fallback.backend == no_backend && snap_.catch_all.fallback.ingress.empty()) {
                        snap_.catch_all.fallback.backend = fallback;
                        snap_.catch_all.fallback.ingress = ing.meta.ns + "/" + ing.meta.name;
                    } else {
                        diag(ing, "spec.defaultBackend",
                             "the catch-all default backend is already set by Ingress " +
                                 snap_.catch_all.fallback.ingress + "; ignored");
                    }
                }
            }
        }
        for (size_t r = 0; r < ing.rules.size(); ++r) {
            const auto& rule = ing.rules[r];
            if (rule.host.empty())
                continue;
            std::string lowered;
            if (!valid_host(rule.host, lowered))
                continue;  // reported by add_paths
            bool created = false;
            virtual_host& vh = host_for(lowered, created);
            if (created) {
                vh.fallback.backend = fallback;
                vh.fallback.ingress = ing.meta.ns + "/" + ing.meta.name;
            }
        }
    }

    void add_paths(const k8s::ingress& ing)
    {
        const std::string ing_name = ing.meta.ns + "/" + ing.meta.name;
        for (size_t r = 0; r < ing.rules.size(); ++r) {
            const auto& rule = ing.rules[r];
            const std::string rule_field = "spec.rules[" + std::to_string(r) + "]";
            std::string lowered;
            if (!rule.host.empty() && !valid_host(rule.host, lowered)) {
                diag(ing, rule_field + ".host", "\"" + rule.host + "\" is not a valid host name; rule ignored");
                continue;
            }
            bool created = false;
            virtual_host& vh = host_for(lowered, created);
            for (size_t p = 0; p < rule.paths.size(); ++p) {
                const auto& path = rule.paths[p];
                const std::string field = rule_field + ".http.paths[" + std::to_string(p) + "]";
                if (path.backend.has_resource) {
                    diag(ing, field + ".backend.resource", "resource backends are not supported; path ignored");
                    continue;
                }
                location loc;
                loc.path = path.path.empty() ? "/" : path.path;
                if (loc.path.front() != '/') {
                    diag(ing, field + ".path", "\"" + path.path + "\" must start with '/'; path ignored");
                    continue;
                }
                // ingress-nginx treats ImplementationSpecific as Prefix.
                loc.match = path.type == k8s::path_type::exact ? path_match::exact : path_match::prefix;
                loc.ingress = ing_name;
                loc.policy = defaults_;
                loc.backend = resolve_backend(ing, path.backend.service_name, path.backend.service_port, field + ".backend");
                std::string shown_path = loc.path;
                const char* type = loc.match == path_match::exact ? "Exact" : "Prefix";
                if (const location* winner = add_location(vh, std::move(loc))) {
                    diag(ing, field,
                         std::string(type) + " path " + shown_path + " on host " + (vh.name.empty() ? "*" : vh.name) +
                             " is already served by Ingress " + winner->ingress +
                             " (older, or first by namespace/name); path ignored");
                }
            }
        }
    }

    uint32_t resolve_backend(const k8s::ingress& ing, const std::string& svc_name, const k8s::service_backend_port& port,
                             const std::string& field)
    {
        std::string key = ing.meta.ns + "/" + svc_name + ":" +
                          (port.number ? std::to_string(*port.number) : port.name);
        if (auto it = backend_index_.find(key); it != backend_index_.end())
            return it->second;
        backend b;
        b.key = key;
        fill_endpoints(ing, svc_name, port, field, b);
        uint32_t index = static_cast<uint32_t>(snap_.backends.size());
        snap_.backends.push_back(std::move(b));
        backend_index_.emplace(key, index);
        return index;
    }

    void fill_endpoints(const k8s::ingress& ing, const std::string& svc_name, const k8s::service_backend_port& port,
                        const std::string& field, backend& b)
    {
        const auto* svc = store_.find<k8s::service>(kind::service, ing.meta.ns, svc_name);
        if (!svc) {
            b.state = backend_state::service_missing;
            diag(ing, field + ".service.name", "Service " + ing.meta.ns + "/" + svc_name + " not found; answering 503");
            return;
        }
        const k8s::service_port* sp = nullptr;
        for (const auto& candidate : svc->ports) {
            if (port.number ? candidate.port == *port.number : candidate.name == port.name) {
                sp = &candidate;
                break;
            }
        }
        if (!sp) {
            b.state = backend_state::service_missing;
            diag(ing, field + ".service.port",
                 "Service " + ing.meta.ns + "/" + svc_name + " has no port " +
                     (port.number ? std::to_string(*port.number) : "named " + port.name) + "; answering 503");
            return;
        }
        if (svc->type == "ExternalName") {
            b.state = backend_state::service_missing;
            diag(ing, field + ".service.name",
                 "Service " + ing.meta.ns + "/" + svc_name + " is of type ExternalName, which sluice does not route to yet; answering 503");
            return;
        }
        std::vector<boost::asio::ip::tcp::endpoint> eps;
        auto add = [&](const std::string& address, int32_t number) {
            boost::system::error_code ec;
            auto ip = boost::asio::ip::make_address(address, ec);
            if (ec || number < 1 || number > 65535)
                return;
            eps.emplace_back(ip, static_cast<uint16_t>(number));
        };
        // The target port when the Service names a number: used when an endpoint port has no number.
        std::optional<int32_t> numeric_target;
        if (!sp->target_port)
            numeric_target = sp->port;
        else if (sp->target_port->is_int())
            numeric_target = sp->target_port->as_int();

        auto slices = slices_.find(ing.meta.ns + "/" + svc_name);
        if (slices != slices_.end()) {
            for (const k8s::endpoint_slice* es : slices->second) {
                if (es->address_type == "FQDN")
                    continue;
                std::optional<int32_t> number;
                for (const auto& p : es->ports) {
                    if (p.name == sp->name && p.protocol == sp->protocol) {
                        number = p.port ? p.port : numeric_target;
                        break;
                    }
                }
                if (!number)
                    continue;
                for (const auto& e : es->endpoints) {
                    if (e.ready.value_or(true))
                        for (const auto& a : e.addresses)
                            add(a, *number);
                }
            }
        } else if (const auto* legacy = store_.find<k8s::endpoints>(kind::endpoints, ing.meta.ns, svc_name)) {
            for (const auto& subset : legacy->subsets) {
                std::optional<int32_t> number;
                for (const auto& p : subset.ports) {
                    if (p.name == sp->name && p.protocol == sp->protocol) {
                        number = p.port ? p.port : numeric_target;
                        break;
                    }
                }
                if (!number)
                    continue;
                for (const auto& a : subset.addresses)
                    add(a, *number);
            }
        }
        std::sort(eps.begin(), eps.end());
        eps.erase(std::unique(eps.begin(), eps.end()), eps.end());
        b.endpoints = std::move(eps);
        b.state = b.endpoints.empty() ? backend_state::no_endpoints : backend_state::ready;
    }

    const object_store& store_;
    const builder_options& options_;
    route_snapshot& snap_;
    location_policy defaults_;
    std::map<std::string, std::vector<const k8s::endpoint_slice*>> slices_;
    std::map<std::string, uint32_t> backend_index_;
};

}  // namespace

std::shared_ptr<route_snapshot> build_snapshot(const object_store& store, const builder_options& options,
                                               uint64_t generation)
{
    auto snap = std::make_shared<route_snapshot>();
    snap->generation = generation;
    snap->catch_all.fallback.path = "/";
    builder(store, options, *snap).run();
    return snap;
}

}  // namespace sluice
