#include "controller/model_builder.hpp"

#include <algorithm>
#include <set>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/string.hpp>

#include "controller/global_settings.hpp"
#include "annotations/access.hpp"
#include "proxy/access_control.hpp"
#include "proxy/cors.hpp"
#include "proxy/htpasswd.hpp"
#include "proxy/request_metrics.hpp"
#include "proxy/url_template.hpp"
#include "tls/client_context.hpp"
#include "tls/server_context.hpp"

#include <openssl/evp.h>
#include <openssl/ssl.h>

namespace sluice {
namespace {

using k8s::kind;

constexpr std::string_view class_annotation = "kubernetes.io/ingress.class";

// Host names as the API validates them: DNS-1123 subdomain, optionally "*." in front.
bool valid_host_name(const std::string& host, std::string& lowered)
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

// The diagnostics about routes join the others, then the store's; the TLS context is made for
// this snapshot (its SNI callback reads the snapshot's hosts).
void finish_snapshot(route_snapshot& snap, const object_store& store)
{
    for (const auto& [owner, diags] : snap.route_diagnostics)
        snap.diagnostics.insert(snap.diagnostics.end(), diags.begin(), diags.end());
    for (const auto& [key, d] : store.diagnostics())
        snap.diagnostics.push_back(d);
    if (snap.default_certificate)
        snap.tls_context =
            std::make_shared<tls::server_context>(snap.settings.tls, snap.default_certificate, certificate_for, &snap);
}

class builder {
public:
    builder(const object_store& store, const builder_options& options, route_snapshot& snap)
        : store_(store), options_(options), snap_(snap)
    {
    }

    // Builds the whole snapshot; or, with `scope`, only the hosts a change of Ingresses touched
    // (see rebuild_hosts), returning false when the change reaches further than its hosts.
    bool run(const partial_scope* scope = nullptr)
    {
        load_settings();
        index_endpoints();
        std::vector<const k8s::ingress*> ingresses = accepted_ingresses();
        for (const k8s::ingress* ing : ingresses)
            snap_.served_ingresses.push_back(ing->meta.ns + "/" + ing->meta.name);
        // ingress-nginx orders Ingresses by creation time, then namespace/name; the first to
        // claim a host+path keeps it.
        std::stable_sort(ingresses.begin(), ingresses.end(), [](const k8s::ingress* a, const k8s::ingress* b) {
            return std::tie(a->meta.creation_timestamp, a->meta.ns, a->meta.name) <
                   std::tie(b->meta.creation_timestamp, b->meta.ns, b->meta.name);
        });
        if (scope && !restrict_to(*scope, ingresses))
            return false;
        // A canary Ingress creates no server and no location: it joins the locations of a main
        // Ingress with the same host, path and path type.
        std::vector<const k8s::ingress*> canaries;
        std::erase_if(ingresses, [&](const k8s::ingress* ing) {
            if (!annotations_of(*ing).canary)
                return false;
            canaries.push_back(ing);
            return true;
        });
        load_default_backend();
        load_default_certificate();
        route_pass_ = true;
        for (const k8s::ingress* ing : ingresses)
            add_servers(*ing);
        for (const k8s::ingress* ing : ingresses)
            add_certificates(*ing);
        inherit_wildcard_certificates();
        for (const k8s::ingress* ing : ingresses) {
            report_annotation_diagnostics(*ing);
            add_paths(*ing);
        }
        for (const k8s::ingress* ing : canaries) {
            report_annotation_diagnostics(*ing);
            merge_canary(*ing);
        }
        finalize_regex_hosts();
        route_pass_ = false;
        add_www_redirects();
        use_default_backend();
        label_locations();
        build_rings();
        return true;
    }

    // After a partial run: the hosts rebuilt, and the Ingresses that route them.
    const std::set<std::string>& scope_hosts() const { return scope_hosts_; }
    const std::vector<std::string>& scope_ingresses() const { return scope_ingresses_; }

private:
    // Narrows `ingresses` to the changed ones and those routing any host they route (before or
    // after the change), repeated until the set of hosts is closed: those hosts are then rebuilt
    // exactly as a full build would build them. False when the change reaches beyond hosts of
    // its own: the catch-all server (a rule without host, an Ingress without rules), wildcard
    // hosts, from-to-www-redirect aliases, service-upstream backends, a canary of the default
    // backend.
    bool restrict_to(const partial_scope& scope, std::vector<const k8s::ingress*>& ingresses)
    {
        std::set<std::string> hosts = scope.hosts;
        const std::set<std::string> changed(scope.ingresses.begin(), scope.ingresses.end());
        std::vector<std::vector<std::string>> hosts_of(ingresses.size());
        std::vector<bool> in(ingresses.size(), false);
        for (size_t i = 0; i < ingresses.size(); ++i) {
            hosts_of[i] = route_hosts(*ingresses[i]);
            if (changed.contains(ingresses[i]->meta.ns + "/" + ingresses[i]->meta.name)) {
                in[i] = true;
                hosts.insert(hosts_of[i].begin(), hosts_of[i].end());
            }
        }
        for (bool grew = true; grew;) {
            grew = false;
            for (size_t i = 0; i < ingresses.size(); ++i) {
                if (in[i] || std::none_of(hosts_of[i].begin(), hosts_of[i].end(),
                                          [&](const std::string& h) { return hosts.contains(h); }))
                    continue;
                in[i] = true;
                for (const auto& h : hosts_of[i])
                    grew = hosts.insert(h).second || grew;
            }
        }
        for (const auto& h : hosts)
            if (h.empty() || h.starts_with("*."))
                return false;
        std::vector<const k8s::ingress*> scoped;
        for (size_t i = 0; i < ingresses.size(); ++i) {
            if (!in[i])
                continue;
            const k8s::ingress& ing = *ingresses[i];
            const auto& a = annotations_of(ing);
            if (ing.rules.empty() || a.redirect.from_to_www || a.balancing.service_upstream || (a.canary && ing.default_backend))
                return false;
            scoped.push_back(&ing);
            scope_ingresses_.push_back(ing.meta.ns + "/" + ing.meta.name);
        }
        ingresses = std::move(scoped);
        scope_hosts_ = std::move(hosts);
        return true;
    }

    void load_settings()
    {
        struct derive {
            route_snapshot& snap;
            ~derive() { derive_settings(snap.settings); }
        } at_exit{snap_};
        snap_.catch_all.fallback.policy = defaults_;
        if (options_.configmap.empty())
            return;
        auto [ns, name] = split_reference(options_.configmap);
        const auto* cm = store_.find<k8s::config_map>(kind::config_map, ns, name);
        if (!cm)
            return;
        apply_configmap(cm->data, ns + "/" + name, snap_.settings, defaults_, snap_.diagnostics);
        load_header_configmaps();
        snap_.catch_all.fallback.policy = defaults_;
    }

    // A ConfigMap whose data are headers ("X-Name": "value"), or null when it is missing. Names
    // that are not HTTP tokens and values with line breaks are left out with a diagnostic.
    const k8s::config_map* header_configmap(const std::string& reference, const std::string& referrer,
                                            const std::string& field, std::vector<std::pair<std::string, std::string>>& out)
    {
        auto [ns, name] = split_reference(reference);
        const auto* cm = store_.find<k8s::config_map>(kind::config_map, ns, name);
        if (!cm) {
            report(referrer, {referrer, field, "ConfigMap " + reference + " not found; no headers added"});
            return nullptr;
        }
        for (const auto& [k, v] : cm->data) {
            bool token = !k.empty();
            for (char c : k)
                token = token && (std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos);
            if (!token || v.find_first_of("\r\n") != std::string::npos || v.find('\0') != std::string::npos) {
                report(referrer, {"ConfigMap " + reference, "data." + k,
                                             token ? "value has a line break; header left out" : "not a header name; left out"});
                continue;
            }
            out.emplace_back(k, v);
        }
        return cm;
    }

    // proxy-set-headers and add-headers of the controller's ConfigMap.
    void load_header_configmaps()
    {
        const std::string referrer = "ConfigMap " + options_.configmap;
        if (!snap_.settings.proxy_set_headers.empty()) {
            std::vector<std::pair<std::string, std::string>> raw;
            header_configmap(snap_.settings.proxy_set_headers, referrer, "data.proxy-set-headers", raw);
            auto set = std::make_shared<std::vector<std::pair<std::string, request_template>>>();
            for (const auto& [k, v] : raw) {
                std::string error;
                if (auto t = request_template::parse(v, error))
                    set->emplace_back(k, std::move(*t));
                else
                    snap_.diagnostics.push_back({"ConfigMap " + snap_.settings.proxy_set_headers, "data." + k, error + "; header left out"});
            }
            if (!set->empty())
                defaults_.set_request_headers = std::move(set);
        }
        if (!snap_.settings.add_headers.empty()) {
            auto add = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
            header_configmap(snap_.settings.add_headers, referrer, "data.add-headers", *add);
            if (!add->empty())
                defaults_.response_headers = std::move(add);
        }
    }

    // custom-headers: the ConfigMap's headers on the Ingress's responses, after add-headers. Every
    // name must be listed in global-allowed-response-headers, or the annotation is refused.
    void apply_custom_headers(location& loc, const k8s::ingress& ing, const std::string& reference)
    {
        const std::string key = ing.meta.ns + "/" + ing.meta.name;
        if (auto it = custom_headers_.find(key); it != custom_headers_.end()) {
            if (it->second)
                loc.policy.response_headers = it->second;
            return;
        }
        auto& cached = custom_headers_[key];
        const std::string full = reference.find('/') == std::string::npos ? ing.meta.ns + "/" + reference : reference;
        const std::string field = "metadata.annotations[" + options_.annotations_prefix + "/custom-headers]";
        if (full.substr(0, full.find('/')) != ing.meta.ns && !snap_.settings.allow_cross_namespace_resources) {
            diag(ing, field, "ConfigMap " + full + " is in another namespace and allow-cross-namespace-resources is off; ignored");
            return;
        }
        std::vector<std::pair<std::string, std::string>> headers;
        if (!header_configmap(full, "Ingress " + key, field, headers))
            return;
        for (const auto& [name, value] : headers) {
            bool allowed = false;
            for (const auto& a : snap_.settings.allowed_response_headers)
                allowed = allowed || boost::beast::iequals(a, name);
            if (!allowed) {
                diag(ing, field, "header " + name + " of ConfigMap " + full +
                                     " is not listed in the ConfigMap key global-allowed-response-headers; annotation ignored");
                return;
            }
        }
        auto merged = std::make_shared<std::vector<std::pair<std::string, std::string>>>(
            defaults_.response_headers ? *defaults_.response_headers : std::vector<std::pair<std::string, std::string>>{});
        for (auto& h : headers)
            merged->push_back(std::move(h));
        cached = merged;
        loc.policy.response_headers = std::move(merged);
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

    // A usable certificate from Secret namespace/name, or null with `why` set.
    std::shared_ptr<const tls::certificate> certificate_from(const std::string& ns, const std::string& name, std::string& why)
    {
        const stored_object* stored = store_.find_stored(kind::secret, ns, name);
        if (!stored) {
            why = "Secret " + ns + "/" + name + " not found";
            return nullptr;
        }
        if (!stored->certificate) {
            why = "Secret " + ns + "/" + name + " " +
                  (stored->certificate_error.empty() ? std::string("has no tls.crt") : stored->certificate_error);
            return nullptr;
        }
        const auto& cert = stored->certificate;
        if (options_.now && !cert->valid_at(options_.now)) {
            why = "the certificate of Secret " + ns + "/" + name + " (" + cert->subject() + ") " +
                  (options_.now > cert->not_after() ? "expired on " + tls::format_utc(cert->not_after())
                                                    : "is not valid before " + tls::format_utc(cert->not_before()));
            return nullptr;
        }
        return cert;
    }

    // --default-backend-service: its first port, as ingress-nginx's default backend.
    void load_default_backend()
    {
        if (options_.default_backend_service.empty())
            return;
        k8s::ingress owner;  // resolve_backend works for an Ingress; this one names the flag
        auto [ns, name] = split_reference(options_.default_backend_service);
        owner.meta.ns = ns;
        owner.meta.name = "--default-backend-service";
        std::string why;
        default_backend_ = first_port_backend(owner, name, "service", why);
        if (!why.empty())
            snap_.diagnostics.push_back({"--default-backend-service", "", why + "; sluice answers 404 itself"});
    }

    // The backend of the first port of Service `name` in the namespace of `ing` (ingress-nginx's
    // rule for default backends), or no_backend with `why` set.
    uint32_t first_port_backend(const k8s::ingress& ing, const std::string& name, const std::string& field, std::string& why)
    {
        const auto* svc = store_.find<k8s::service>(kind::service, ing.meta.ns, name);
        if (!svc || svc->ports.empty()) {
            why = "Service " + ing.meta.ns + "/" + name + (svc ? " has no port" : " not found");
            return no_backend;
        }
        k8s::service_backend_port port;
        port.number = svc->ports.front().port;
        return resolve_backend(ing, name, port, field);
    }

    // "namespace/name", or "name" in the default namespace.
    static std::pair<std::string, std::string> split_reference(const std::string& ref)
    {
        auto slash = ref.find('/');
        if (slash == std::string::npos)
            return {"default", ref};
        return {ref.substr(0, slash), ref.substr(slash + 1)};
    }

    template <class T>
    static void set_if(T& target, const std::optional<T>& value)
    {
        if (value)
            target = *value;
    }

    // Where no Ingress gives a backend (the catch-all server, a host's unmatched paths), the
    // default backend serves, and it answers every location's custom errors unless the location
    // names its own default-backend.
    void use_default_backend()
    {
        if (default_backend_ == no_backend)
            return;
        auto visit = [&](virtual_host& vh) {
            if (vh.fallback.backend == no_backend && vh.redirect_to.empty())
                vh.fallback.backend = default_backend_;
            for (location* loc : [&] {
                     std::vector<location*> all{&vh.fallback};
                     for (auto& l : vh.locations)
                         all.push_back(&l);
                     return all;
                 }())
                if (loc->error_backend == no_backend)
                    loc->error_backend = default_backend_;
        };
        visit(snap_.catch_all);
        for (auto& [k, vh] : snap_.exact_hosts)
            visit(*vh);
        for (auto& [k, vh] : snap_.wildcard_hosts)
            visit(*vh);
    }

    // --default-ssl-certificate, else the certificate generated at start.
    void load_default_certificate()
    {
        snap_.default_certificate = options_.generated_certificate;
        if (options_.default_ssl_certificate.empty())
            return;
        auto [ns, name] = split_reference(options_.default_ssl_certificate);
        std::string why;
        if (auto cert = certificate_from(ns, name, why))
            snap_.default_certificate = std::move(cert);
        else
            snap_.diagnostics.push_back({"--default-ssl-certificate", "", why + "; using the generated certificate"});
    }

    // ingress-nginx's rule (controller.go createServers): every host of the rules of an Ingress
    // with a TLS section gets a certificate, unless an older Ingress gave it one: the Secret of
    // the entry listing the host, else of an entry whose certificate covers the host, else the
    // default. An unusable Secret also means the default, with a diagnostic. Unlike
    // ingress-nginx, an expired certificate is not served.
    void add_certificates(const k8s::ingress& ing)
    {
        if (ing.tls.empty())
            return;
        for (size_t r = 0; r < ing.rules.size(); ++r) {
            std::string lowered;
            if (ing.rules[r].host.empty() || !valid_host_name(ing.rules[r].host, lowered))
                continue;
            virtual_host* vh = find_host(lowered);
            if (!vh || vh->tls)
                continue;
            vh->tls = true;
            vh->certificate = snap_.default_certificate;
            // The entry naming the host; else one whose certificate covers it.
            std::optional<size_t> entry;
            for (size_t t = 0; t < ing.tls.size() && !entry; ++t)
                for (const auto& h : ing.tls[t].hosts)
                    if (lower(h) == lowered)
                        entry = t;
            if (!entry) {
                for (size_t t = 0; t < ing.tls.size() && !entry; ++t) {
                    std::string ignored;
                    if (ing.tls[t].secret_name.empty())
                        continue;
                    auto cert = certificate_from(ing.meta.ns, ing.tls[t].secret_name, ignored);
                    if (cert && cert->matches_host(lowered))
                        entry = t;
                }
            }
            if (!entry || ing.tls[*entry].secret_name.empty())
                continue;  // listed without a Secret, or not listed: the default certificate
            const std::string& secret = ing.tls[*entry].secret_name;
            const std::string field = "spec.tls[" + std::to_string(*entry) + "].secretName";
            std::string why;
            auto cert = certificate_from(ing.meta.ns, secret, why);
            if (cert && !cert->matches_host(lowered)) {
                why = "the certificate of Secret " + ing.meta.ns + "/" + secret + " (" + cert->subject() +
                      ") is not valid for host " + lowered;
                cert.reset();
            }
            if (!cert) {
                diag(ing, field, why + "; host " + lowered + " uses the default certificate");
                continue;
            }
            vh->certificate = std::move(cert);
            vh->tls_secret = ing.meta.ns + "/" + secret;
        }
    }

    // As ingress-nginx's certificate lookup: a host without TLS of its own, covered by a
    // wildcard host with TLS, is served with the wildcard's certificate (and redirected).
    void inherit_wildcard_certificates()
    {
        for (auto& [name, host] : snap_.exact_hosts) {
            virtual_host& vh = *host;
            if (vh.tls)
                continue;
            auto dot = name.find('.');
            if (dot == std::string::npos)
                continue;
            auto it = snap_.wildcard_hosts.find(name.substr(dot + 1));
            if (it == snap_.wildcard_hosts.end() || !it->second->tls)
                continue;
            vh.tls = true;
            vh.certificate = it->second->certificate;
            vh.tls_secret = it->second->tls_secret;
        }
    }

    static std::string lower(std::string s)
    {
        for (char& c : s)
            if (c >= 'A' && c <= 'Z')
                c = static_cast<char>(c - 'A' + 'a');
        return s;
    }

    // A diagnostic. While routes are built, it belongs to the Ingress or host `owner` names
    // (route_diagnostics), so that a partial rebuild can keep those of what it did not rebuild.
    void report(const std::string& owner, diagnostic d)
    {
        if (route_pass_)
            snap_.route_diagnostics[owner].push_back(std::move(d));
        else
            snap_.diagnostics.push_back(std::move(d));
    }

    void diag(const k8s::ingress& ing, std::string field, std::string message)
    {
        std::string owner = "Ingress " + ing.meta.ns + "/" + ing.meta.name;
        report(owner, {owner, std::move(field), std::move(message)});
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
            if (stored.annotations)
                annotations_.emplace(ing, stored.annotations.get());
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
            it = table.emplace(key, std::make_shared<virtual_host>()).first;
            it->second->name = lowered;
            it->second->fallback.path = "/";
            it->second->fallback.policy = defaults_;
        }
        return *it->second;
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
            if (!valid_host_name(rule.host, lowered))
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
            if (!rule.host.empty() && !valid_host_name(rule.host, lowered)) {
                diag(ing, rule_field + ".host", "\"" + rule.host + "\" is not a valid host name; rule ignored");
                continue;
            }
            bool created = false;
            virtual_host& vh = host_for(lowered, created);
            const auto& ann = annotations_of(ing);
            if (!ann.rewrite.app_root.empty() && vh.app_root.empty())
                vh.app_root = ann.rewrite.app_root;
            if (ann.redirect.from_to_www && !lowered.empty() && !lowered.starts_with("*."))
                www_hosts_.insert(lowered);
            for (size_t p = 0; p < rule.paths.size(); ++p) {
                const auto& path = rule.paths[p];
                const std::string field = rule_field + ".http.paths[" + std::to_string(p) + "]";
                if (path.backend.has_resource) {
                    diag(ing, field + ".backend.resource", "resource backends are not supported; path ignored");
                    continue;
                }
                location loc;
                loc.path = path.path.empty() ? "/" : path.path;
                loc.raw_path = loc.path;
                if (loc.path.front() != '/') {
                    diag(ing, field + ".path", "\"" + path.path + "\" must start with '/'; path ignored");
                    continue;
                }
                // ingress-nginx treats ImplementationSpecific as Prefix.
                loc.match = path.type == k8s::path_type::exact ? path_match::exact : path_match::prefix;
                loc.ingress = ing_name;
                loc.policy = defaults_;
                loc.backend = resolve_backend(ing, path.backend.service_name, path.backend.service_port, field + ".backend");
                bool own_regex = apply_annotations(loc, ing);
                std::string shown_path = loc.path;
                const char* type = loc.match == path_match::exact ? "Exact" : "Prefix";
                const location* winner = add_location(vh, std::move(loc));
                if (!winner) {
                    auto& flags = own_regex_[&vh];
                    flags.resize(vh.locations.size(), false);
                    flags.back() = own_regex;
                    if (own_regex)
                        regex_hosts_.emplace(vh.name, &vh);
                }
                if (winner) {
                    diag(ing, field,
                         std::string(type) + " path " + shown_path + " on host " + (vh.name.empty() ? "*" : vh.name) +
                             " is already served by Ingress " + winner->ingress +
                             " (older, or first by namespace/name); path ignored");
                }
            }
        }
    }

    const annotations::ingress_annotations& annotations_of(const k8s::ingress& ing) const
    {
        auto it = annotations_.find(&ing);
        return it == annotations_.end() ? no_annotations_ : *it->second;
    }

    void report_annotation_diagnostics(const k8s::ingress& ing)
    {
        for (const auto& d : annotations_of(ing).diagnostics)
            diag(ing, "metadata.annotations[" + d.key + "]", d.message);
    }

    // Compiles the Ingress's annotations into one of its locations. Returns whether the location
    // itself asks for regex matching (use-regex, or a rewrite-target that differs from the path).
    bool apply_annotations(location& loc, const k8s::ingress& ing)
    {
        const auto& a = annotations_of(ing);
        const std::string prefix = options_.annotations_prefix + "/";
        set_if(loc.policy.connect_timeout, a.proxy.connect_timeout);
        set_if(loc.policy.send_timeout, a.proxy.send_timeout);
        set_if(loc.policy.read_timeout, a.proxy.read_timeout);
        set_if(loc.policy.max_body_size, a.proxy.body_size);
        set_if(loc.policy.next_upstream_tries, a.proxy.next_upstream_tries);
        set_if(loc.policy.access_log, a.proxy.access_log);
        set_if(loc.policy.custom_errors, a.proxy.custom_errors);
        if (!a.proxy.default_backend.empty()) {
            const std::string field = "metadata.annotations[" + prefix + "default-backend]";
            std::string why;
            loc.error_backend = first_port_backend(ing, a.proxy.default_backend, field, why);
            if (!why.empty())
                diag_once(ing, field, why + "; ignored");
        }
        loc.upstream_vhost = a.upstream_vhost;
        set_if(loc.policy.ssl_redirect, a.ssl.ssl_redirect);
        set_if(loc.policy.force_ssl_redirect, a.ssl.force_ssl_redirect);
        set_if(loc.policy.preserve_trailing_slash, a.ssl.preserve_trailing_slash);
        set_if(loc.policy.use_port_in_redirects, a.ssl.use_port_in_redirects);
        if (a.auth_basic)
            loc.auth = resolve_basic_auth(ing, *a.auth_basic);
        loc.policy.access = resolve_access(ing, a.access);
        if (!a.proxy.custom_headers.empty())
            apply_custom_headers(loc, ing, a.proxy.custom_headers);
        apply_balancing(loc, ing, a.balancing);
        if (a.cors.enabled)
            loc.policy.cors = resolve_cors(ing, a.cors);
        if (a.backend_tls.https)
            loc.tls_upstream = resolve_upstream_tls(ing, a.backend_tls);
        std::string error;
        if (!a.redirect.url.empty()) {
            if (auto t = url_template::parse(a.redirect.url, true, error))
                loc.redirect = redirect_action{a.redirect.code, std::move(*t)};
            else
                diag_once(ing, "metadata.annotations[" + prefix + "redirect]", error + "; redirect ignored");
        }
        const bool rewrites = !a.rewrite.target.empty() && a.rewrite.target != loc.raw_path;
        if (rewrites) {
            if (auto t = url_template::parse(a.rewrite.target, false, error))
                loc.rewrite = std::move(*t);
            else
                diag_once(ing, "metadata.annotations[" + prefix + "rewrite-target]", error + "; ignored");
            if (!a.rewrite.x_forwarded_prefix.empty()) {
                if (auto t = url_template::parse(a.rewrite.x_forwarded_prefix, false, error))
                    loc.x_forwarded_prefix = std::move(*t);
                else
                    diag_once(ing, "metadata.annotations[" + prefix + "x-forwarded-prefix]", error + "; ignored");
            }
        }
        return a.rewrite.use_regex || rewrites;
    }

    // Which balancer a location uses, in ingress-nginx's order of precedence (balancer.lua
    // get_implementation): cookie affinity, then upstream-hash-by, then load-balance.
    void apply_balancing(location& loc, const k8s::ingress& ing, const annotations::balancing_config& b)
    {
        balance_policy& bp = loc.policy.balance;
        if (b.load_balance)
            bp.kind = *b.load_balance;
        if (b.hash_by) {
            bp.kind = balance_kind::hash;
            bp.key = b.hash_by;
            bp.subset_size = b.subset_size;
        }
        if (b.affinity) {
            bp.kind = balance_kind::sticky;
            bp.cookie = b.affinity;
            if (b.affinity->path.empty() && annotations_of(ing).rewrite.use_regex)
                diag_once(ing, "metadata.annotations[" + options_.annotations_prefix + "/session-cookie-path]",
                          "should be set when use-regex is true: a cookie path cannot be a regular expression; the "
                          "location's path is used as written");
        }
        set_if(loc.policy.next_upstream, b.next_upstream);
        set_if(loc.policy.next_upstream_timeout, b.next_upstream_timeout);
        if (!b.connection_header.empty())
            loc.policy.connection_header = b.connection_header;
    }

    // Source ranges and limits of an Ingress's locations, one object per Ingress: its locations
    // share the limit counters, as ingress-nginx's per-Ingress zones. Lists left out of the
    // annotations take the ConfigMap's (whitelist-source-range, denylist-source-range).
    std::shared_ptr<const access_rules> resolve_access(const k8s::ingress& ing, const annotations::access_config& c)
    {
        const std::string key = ing.meta.ns + "/" + ing.meta.name;
        if (auto it = access_.find(key); it != access_.end())
            return it->second;
        if (!c.allow && !c.deny && !c.connections && !c.rps && !c.rpm && c.error.empty())
            return access_[key] = defaults_.access;
        auto rules = std::make_shared<access_rules>(defaults_.access ? *defaults_.access : access_rules{});
        auto networks = [](const std::vector<std::string>& items) {
            std::vector<ip_network> out;
            for (const auto& item : items)
                out.push_back(*ip_network::parse(item));  // checked by the annotation parser
            return out;
        };
        if (c.allow)
            rules->allow = networks(*c.allow);
        if (c.deny)
            rules->deny = networks(*c.deny);
        rules->misconfigured = c.error;
        rules->connections = c.connections;
        rules->rps = c.rps;
        rules->rpm = c.rpm;
        rules->burst_multiplier = c.burst_multiplier;
        rules->limit_exempt = networks(c.limit_exempt);
        rules->zone = std::hash<std::string>{}(key);
        return access_[key] = rules;
    }

    std::shared_ptr<const cors_policy> resolve_cors(const k8s::ingress& ing, const annotations::cors_config& c)
    {
        const std::string key = ing.meta.ns + "/" + ing.meta.name;
        if (auto it = cors_.find(key); it != cors_.end())
            return it->second;
        auto p = std::make_shared<cors_policy>();
        for (const auto& origin : c.origins) {
            if (origin == "*")
                p->any_origin = true;
            p->origins.push_back(origin);
        }
        if (c.credentials)
            p->headers.emplace_back("Access-Control-Allow-Credentials", "true");
        p->headers.emplace_back("Access-Control-Allow-Methods", c.methods);
        p->headers.emplace_back("Access-Control-Allow-Headers", c.headers);
        if (!c.expose_headers.empty())
            p->headers.emplace_back("Access-Control-Expose-Headers", c.expose_headers);
        p->headers.emplace_back("Access-Control-Max-Age", std::to_string(c.max_age));
        return cors_[key] = p;
    }

    // backend-protocol HTTPS with its proxy-ssl-* settings; one client context per distinct
    // configuration in a build. A proxy-ssl-secret that cannot be used leaves the location
    // without verification material: with proxy-ssl-verify on, its requests fail (502) rather
    // than go to an unverified upstream.
    std::shared_ptr<const upstream_tls> resolve_upstream_tls(const k8s::ingress& ing, const annotations::backend_tls_config& c)
    {
        std::string secret_ns, secret_name;
        if (!c.secret.empty()) {
            auto slash = c.secret.find('/');
            secret_ns = slash == std::string::npos ? ing.meta.ns : c.secret.substr(0, slash);
            secret_name = slash == std::string::npos ? c.secret : c.secret.substr(slash + 1);
        }
        std::string profile = secret_ns + "/" + secret_name + "|" + (c.verify ? "verify" : "") + "|" +
                              std::to_string(c.verify_depth) + "|" + (c.server_name ? "sni" : "") + "|" + c.name;
        if (auto it = upstream_tls_.find(profile); it != upstream_tls_.end())
            return it->second;
        const std::string field = "metadata.annotations[" + options_.annotations_prefix + "/proxy-ssl-secret]";
        tls::client_settings settings;
        settings.verify = c.verify;
        settings.verify_depth = static_cast<int>(c.verify_depth);
        bool usable = true;
        if (!c.secret.empty()) {
            const stored_object* stored = store_.find_stored(kind::secret, secret_ns, secret_name);
            const auto* secret = stored ? std::get_if<k8s::secret>(&stored->object) : nullptr;
            if (!secret) {
                diag_once(ing, field, "Secret " + secret_ns + "/" + secret_name + " not found");
                usable = false;
            } else if (secret_ns != ing.meta.ns && !snap_.settings.allow_cross_namespace_resources) {
                diag_once(ing, field, "Secret " + secret_ns + "/" + secret_name +
                                          " is in another namespace and allow-cross-namespace-resources is off");
                usable = false;
            } else {
                if (auto ca = secret->data.find("ca.crt"); ca != secret->data.end())
                    settings.ca_pem = ca->second;
                else if (c.verify) {
                    diag_once(ing, field, "Secret " + secret_ns + "/" + secret_name + " has no ca.crt to verify the upstream with");
                    usable = false;
                }
                if (stored->certificate)
                    settings.client_certificate = stored->certificate;
                else if (secret->data.contains("tls.crt"))
                    diag_once(ing, field, "Secret " + secret_ns + "/" + secret_name + " " + stored->certificate_error +
                                              "; no client certificate is sent");
            }
        }
        auto t = std::make_shared<upstream_tls>();
        t->verify = c.verify;
        t->send_sni = c.server_name;
        t->name = c.name;
        t->profile = profile;
        std::string error;
        if (usable)
            t->context = tls::make_client_context(settings, error);
        if (usable && !t->context)
            diag_once(ing, field, "Secret " + secret_ns + "/" + secret_name + ": " + error);
        if (!t->context) {
            // Verification requested but impossible: a context that trusts nothing fails every
            // handshake, so the upstream is never used unverified.
            settings.ca_pem.clear();
            settings.client_certificate.reset();
            t->context = tls::make_client_context(tls::client_settings{}, error);
            if (c.verify) {
                SSL_CTX_set_verify(t->context->native_handle(), SSL_VERIFY_PEER, nullptr);
                t->profile += "|untrusted";
            }
        }
        upstream_tls_.emplace(profile, t);
        return t;
    }

    // The users of an auth-secret, parsed once per Ingress and Secret in a build. A problem with
    // the Secret denies the location (503), as ingress-nginx: never served unprotected.
    std::shared_ptr<const basic_auth> resolve_basic_auth(const k8s::ingress& ing, const annotations::auth_basic_config& c)
    {
        const std::string cache_key = ing.meta.ns + "/" + ing.meta.name;
        if (auto it = auth_by_ingress_.find(cache_key); it != auth_by_ingress_.end())
            return it->second;
        auto auth = std::make_shared<basic_auth>();
        auth->www_authenticate = "Basic realm=\"" + c.realm + "\"";
        const std::string field = "metadata.annotations[" + options_.annotations_prefix + "/auth-secret]";
        auto deny = [&](const std::string& why) {
            auth->denied = why;
            diag(ing, field, why + "; the location answers 503");
        };
        if (!c.denied.empty()) {
            auth->denied = c.denied;  // already reported by the annotation parser
        } else {
            auto slash = c.secret.find('/');
            std::string ns = slash == std::string::npos ? ing.meta.ns : c.secret.substr(0, slash);
            std::string name = slash == std::string::npos ? c.secret : c.secret.substr(slash + 1);
            const auto* secret = store_.find<k8s::secret>(kind::secret, ns, name);
            if (ns != ing.meta.ns && !snap_.settings.allow_cross_namespace_resources) {
                deny("Secret " + ns + "/" + name + " is in another namespace and allow-cross-namespace-resources is off");
            } else if (!secret) {
                deny("Secret " + ns + "/" + name + " not found");
            } else if (!c.map && !secret->data.contains("auth")) {
                deny("Secret " + ns + "/" + name + " has no key \"auth\" (auth-secret-type auth-file)");
            } else {
                auto table = std::make_shared<htpasswd_table>(c.map ? htpasswd_table::from_map(secret->data)
                                                                    : htpasswd_table::parse_file(secret->data.at("auth")));
                for (const auto& why : table->refused())
                    diag(ing, field, "Secret " + ns + "/" + name + ": " + why + "; that user's logins get 500");
                if (table->size() == 0)
                    diag(ing, field, "Secret " + ns + "/" + name + " lists no usable user; every request gets 401");
                auth->users = std::move(table);
                auth->version = secret_version(*secret, c.map);
            }
        }
        auth_by_ingress_.emplace(cache_key, auth);
        return auth;
    }

    // A digest of the Secret's content: cached verifications of an older version never match.
    static std::string secret_version(const k8s::secret& secret, bool map)
    {
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
        EVP_DigestUpdate(ctx, map ? "map" : "file", map ? 3 : 4);
        for (const auto& [k, v] : secret.data) {
            uint64_t sizes[2] = {k.size(), v.size()};
            EVP_DigestUpdate(ctx, sizes, sizeof sizes);
            EVP_DigestUpdate(ctx, k.data(), k.size());
            EVP_DigestUpdate(ctx, v.data(), v.size());
        }
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        EVP_DigestFinal_ex(ctx, md, &n);
        EVP_MD_CTX_free(ctx);
        return std::string(reinterpret_cast<char*>(md), n);
    }

    void diag_once(const k8s::ingress& ing, const std::string& field, const std::string& message)
    {
        std::string key = ing.meta.ns + "/" + ing.meta.name + field + message;
        if (reported_.insert(key).second)
            diag(ing, field, message);
    }

    // ingress-nginx: when any location of a host uses a regex, every path of the host becomes
    // `~* "^<path>"`, sorted by path length then reverse string order, first match wins.
    void finalize_regex_hosts()
    {
        for (const auto& named : regex_hosts_) {
            virtual_host* vh = named.second;  // not a structured binding: the sort below captures it
            struct entry {
                std::string pattern;
                uint32_t location;
            };
            std::vector<entry> entries;
            const auto& own = own_regex_[vh];
            std::set<std::string> exact_paths;
            for (const auto& loc : vh->locations)
                if (loc.match == path_match::exact)
                    exact_paths.insert(loc.raw_path);
            // getBackendServers sorts the locations by path length, then reverse string order
            // (stable); updateServerLocations then expands each Prefix location in place.
            std::vector<uint32_t> sorted(vh->locations.size());
            for (uint32_t i = 0; i < sorted.size(); ++i)
                sorted[i] = i;
            std::stable_sort(sorted.begin(), sorted.end(), [&](uint32_t a, uint32_t b) {
                const std::string& pa = vh->locations[a].raw_path;
                const std::string& pb = vh->locations[b].raw_path;
                if (pa.size() != pb.size())
                    return pa.size() > pb.size();
                return pa > pb;
            });
            for (uint32_t i : sorted) {
                location& loc = vh->locations[i];
                re2::RE2::Options opts;
                opts.set_case_sensitive(false);
                opts.set_log_errors(false);
                auto re = std::make_shared<re2::RE2>(loc.raw_path, opts);
                if (!re->ok()) {
                    report("Ingress " + loc.ingress, {"Ingress " + loc.ingress, "path " + loc.raw_path,
                                                 "not a valid RE2 regular expression (" + re->error() +
                                                     "); path ignored on host " + host_label(*vh)});
                    continue;
                }
                int groups = re->NumberOfCapturingGroups();
                for (const auto* t : {loc.rewrite ? &*loc.rewrite : nullptr,
                                      loc.x_forwarded_prefix ? &*loc.x_forwarded_prefix : nullptr}) {
                    if (t && t->max_capture() > groups)
                        report("Ingress " + loc.ingress,
                            {"Ingress " + loc.ingress, "path " + loc.raw_path,
                             "\"" + t->text() + "\" uses $" + std::to_string(t->max_capture()) + " but the path has " +
                                 std::to_string(groups) + " capture group(s); it expands to nothing, as in nginx"});
                }
                loc.path_regex = std::move(re);
                bool split = loc.match == path_match::prefix && !(i < own.size() && own[i]) && loc.raw_path != "/";
                if (split) {
                    // ingress-nginx's Prefix normalisation (controller/location.go): "/foo" becomes
                    // "/foo/" followed by an exact copy "/foo" unless an Exact "/foo" exists; on such a
                    // host both are rendered as regexes.
                    std::string normalized = loc.raw_path.back() == '/' ? loc.raw_path : loc.raw_path + "/";
                    entries.push_back({normalized, i});
                    if (!exact_paths.contains(loc.raw_path))
                        entries.push_back({loc.raw_path, i});
                } else {
                    entries.push_back({loc.raw_path, i});
                }
            }
            re2::RE2::Options opts;
            opts.set_case_sensitive(false);
            opts.set_log_errors(false);
            opts.set_max_mem(int64_t{256} << 20);
            auto set = std::make_shared<re2::RE2::Set>(opts, re2::RE2::ANCHOR_START);
            regex_table table;
            for (const auto& e : entries) {
                std::string error;
                if (set->Add(e.pattern, &error) >= 0)
                    table.order.push_back(e.location);
            }
            if (!set->Compile()) {
                report("host " + host_label(*vh), {"host " + host_label(*vh), "", "the regex paths of this host do not "
                                             "fit in memory together; the host answers 404"});
                table.order.clear();
                set.reset();
            }
            table.set = std::move(set);
            vh->regex = std::move(table);
        }
    }

    virtual_host* find_host(const std::string& lowered)
    {
        if (lowered.empty())
            return &snap_.catch_all;
        auto& table = lowered.starts_with("*.") ? snap_.wildcard_hosts : snap_.exact_hosts;
        auto it = table.find(lowered.starts_with("*.") ? lowered.substr(2) : lowered);
        return it == table.end() ? nullptr : it->second.get();
    }

    static void add_canary(location& loc, const canary_policy& policy, uint32_t backend, const std::string& ingress)
    {
        loc.canary_policies.push_back(policy);
        loc.canary_backends.push_back(backend);
        loc.canary_ingresses.push_back(ingress);
    }

    // Joins a canary Ingress to the main locations it names. Unlike ingress-nginx, the split is
    // attached to the location, not to the main Service's upstream, so other hosts and paths
    // using the same Service are not affected (ingress-nginx #4667), and several canaries may
    // share a location (asked oldest first).
    void merge_canary(const k8s::ingress& ing)
    {
        const auto& c = *annotations_of(ing).canary;
        const std::string name = ing.meta.ns + "/" + ing.meta.name;
        const std::string prefix = options_.annotations_prefix + "/";
        canary_policy policy;
        policy.header = c.header;
        policy.header_value = c.header_value;
        policy.cookie = c.cookie;
        policy.weight = c.weight;
        policy.weight_total = c.weight_total;
        if (!c.header_pattern.empty() && c.header_value.empty()) {
            re2::RE2::Options opts;
            opts.set_log_errors(false);
            auto re = std::make_shared<re2::RE2>(c.header_pattern, opts);
            if (re->ok())
                policy.header_pattern = std::move(re);
            else
                diag(ing, "metadata.annotations[" + prefix + "canary-by-header-pattern]",
                     "not a valid RE2 regular expression (" + re->error() + "); ignored");
        }
        if (ing.default_backend && ing.default_backend->has_service) {
            uint32_t b = resolve_backend(ing, ing.default_backend->service_name, ing.default_backend->service_port,
                                         "spec.defaultBackend");
            if (snap_.catch_all.fallback.backend != no_backend) {
                add_canary(snap_.catch_all.fallback, policy, b, name);
            } else {
                diag(ing, "spec.defaultBackend", "no main default backend to be a canary of; ignored");
            }
        }
        for (size_t r = 0; r < ing.rules.size(); ++r) {
            const auto& rule = ing.rules[r];
            std::string lowered;
            if (!rule.host.empty() && !valid_host_name(rule.host, lowered)) {
                diag(ing, "spec.rules[" + std::to_string(r) + "].host", "\"" + rule.host + "\" is not a valid host name; rule ignored");
                continue;
            }
            virtual_host* vh = find_host(lowered);
            for (size_t p = 0; p < rule.paths.size(); ++p) {
                const auto& path = rule.paths[p];
                const std::string field = "spec.rules[" + std::to_string(r) + "].http.paths[" + std::to_string(p) + "]";
                std::string raw = path.path.empty() ? "/" : path.path;
                path_match match = path.type == k8s::path_type::exact ? path_match::exact : path_match::prefix;
                location* target = nullptr;
                if (vh) {
                    for (auto& loc : vh->locations)
                        if (loc.raw_path == raw && loc.match == match && loc.backend != no_backend)
                            target = &loc;
                }
                if (!target) {
                    diag(ing, field,
                         "canary: no main Ingress serves host " + (lowered.empty() ? std::string("*") : lowered) +
                             " path " + raw + " (" + (match == path_match::exact ? "Exact" : "Prefix") +
                             "); a canary creates no route of its own, path ignored");
                    continue;
                }
                if (path.backend.has_resource) {
                    diag(ing, field + ".backend.resource", "resource backends are not supported; path ignored");
                    continue;
                }
                uint32_t b = resolve_backend(ing, path.backend.service_name, path.backend.service_port, field + ".backend");
                add_canary(*target, policy, b, name);
            }
        }
    }

    // The request-metric labels of every location, ingress-nginx's names.
    void label_locations()
    {
        auto label = [&](const virtual_host& vh, location& loc) {
            std::string ns, ingress, service;
            if (auto slash = loc.ingress.find('/'); slash != std::string::npos) {
                ns = loc.ingress.substr(0, slash);
                ingress = loc.ingress.substr(slash + 1);
            }
            if (loc.backend != no_backend) {
                const std::string& key = snap_.backends[loc.backend].key;  // namespace/service:port
                auto slash = key.find('/');
                auto colon = key.rfind(':');
                service = key.substr(slash + 1, colon - slash - 1);
            }
            // ingress-nginx's upstream names: "namespace-service-port".
            auto upstream_name = [&](uint32_t b) {
                std::string key = snap_.backends[b].key;
                std::replace(key.begin(), key.end(), '/', '-');
                std::replace(key.begin(), key.end(), ':', '-');
                return key;
            };
            loc.upstream_name = loc.backend != no_backend ? upstream_name(loc.backend) : "upstream-default-backend";
            loc.alternative_upstream_name.clear();
            if (!loc.canary_backends.empty())
                loc.alternative_upstream_name = upstream_name(loc.canary_backends.front());
            loc.metric_labels = "host=\"" + prometheus_escape(vh.name.empty() ? "_" : vh.name) + "\",ingress=\"" +
                                prometheus_escape(ingress) + "\",namespace=\"" + prometheus_escape(ns) + "\",path=\"" +
                                prometheus_escape(loc.raw_path.empty() ? loc.path : loc.raw_path) + "\",service=\"" +
                                prometheus_escape(service) + "\"";
        };
        auto label_host = [&](virtual_host& vh) {
            for (auto& loc : vh.locations)
                label(vh, loc);
            label(vh, vh.fallback);
        };
        label_host(snap_.catch_all);
        for (auto& [k, vh] : snap_.exact_hosts)
            label_host(*vh);
        for (auto& [k, vh] : snap_.wildcard_hosts)
            label_host(*vh);
    }

    // Hash rings for the backends (canaries included) of locations that hash or stick: built once
    // per snapshot and only where used, since a ring holds 160 points per endpoint.
    void build_rings()
    {
        std::map<uint32_t, std::set<uint32_t>> wanted;  // backend → subset sizes in use
        auto visit = [&](const location& loc) {
            const balance_policy& bp = loc.policy.balance;
            if (bp.kind != balance_kind::hash && bp.kind != balance_kind::sticky)
                return;
            auto want = [&](uint32_t b) {
                if (b == no_backend)
                    return;
                auto& sizes = wanted[b];
                if (bp.kind == balance_kind::hash && bp.subset_size)
                    sizes.insert(bp.subset_size);
            };
            want(loc.backend);
            for (uint32_t b : loc.canary_backends)
                want(b);
        };
        auto visit_host = [&](const virtual_host& vh) {
            for (const auto& loc : vh.locations)
                visit(loc);
            visit(vh.fallback);
        };
        visit_host(snap_.catch_all);
        for (const auto& [k, vh] : snap_.exact_hosts)
            visit_host(*vh);
        for (const auto& [k, vh] : snap_.wildcard_hosts)
            visit_host(*vh);
        for (const auto& [b, subset_sizes] : wanted) {
            backend& be = snap_.backends[b];
            if (be.endpoints.empty())
                continue;
            auto rings = std::make_shared<backend_rings>();
            std::vector<std::string> names;
            for (const auto& ep : be.endpoints) {
                names.push_back(endpoint_name(ep));
                rings->endpoint_ids.push_back(stable_hash(names.back()));
            }
            rings->endpoints.emplace(names);
            for (uint32_t size : subset_sizes) {
                // chashsubset: endpoint i belongs to subset i mod count.
                size_t count = (be.endpoints.size() + size - 1) / size;
                std::vector<std::string> subsets;
                for (size_t i = 0; i < count; ++i)
                    subsets.push_back("subset-" + std::to_string(i));
                rings->subsets.emplace_back(size, hash_ring(subsets));
            }
            be.rings = std::move(rings);
        }
    }

    static std::string host_label(const virtual_host& vh) { return vh.name.empty() ? "*" : vh.name; }

    // from-to-www-redirect: the www/apex twin of a host, when no Ingress defines it, redirects there.
    void add_www_redirects()
    {
        for (const std::string& host : www_hosts_) {
            std::string twin = host.starts_with("www.") ? host.substr(4) : "www." + host;
            if (twin.empty() || snap_.exact_hosts.contains(twin))
                continue;
            virtual_host& vh = *(snap_.exact_hosts[twin] = std::make_shared<virtual_host>());
            vh.name = twin;
            vh.redirect_to = host;
            vh.fallback.path = "/";
            // ingress-nginx serves the alias with the host's certificate when it covers the alias.
            const virtual_host& origin = *snap_.exact_hosts.at(host);
            if (origin.tls && origin.certificate && origin.certificate->matches_host(twin)) {
                vh.tls = true;
                vh.certificate = origin.certificate;
                vh.tls_secret = origin.tls_secret;
            }
        }
    }

    uint32_t resolve_backend(const k8s::ingress& ing, const std::string& svc_name, const k8s::service_backend_port& port,
                             const std::string& field)
    {
        std::string key = ing.meta.ns + "/" + svc_name + ":" +
                          (port.number ? std::to_string(*port.number) : port.name);
        // service-upstream: the Service's ClusterIP instead of its endpoints; a backend of its own.
        const bool cluster_ip = annotations_of(ing).balancing.service_upstream;
        const std::string index_key = cluster_ip ? key + " (service-upstream)" : key;
        if (auto it = backend_index_.find(index_key); it != backend_index_.end()) {
            // Every path naming a Service that is missing (or lacks the port) is reported, not
            // only the first.
            if (auto problem = backend_problems_.find(it->second); problem != backend_problems_.end())
                diag(ing, field + problem->second.first, problem->second.second);
            return it->second;
        }
        backend b;
        b.key = key;
        fill_endpoints(ing, svc_name, port, field, b);
        if (cluster_ip && b.state != backend_state::service_missing)
            use_cluster_ip(ing, svc_name, port, field, b);
        uint32_t index = static_cast<uint32_t>(snap_.backends.size());
        snap_.backends.push_back(std::move(b));
        backend_index_.emplace(index_key, index);
        return index;
    }

    // service-upstream: one endpoint, the ClusterIP and the Service's port, as ingress-nginx. A
    // headless Service has no ClusterIP: its endpoints stay, with a diagnostic.
    void use_cluster_ip(const k8s::ingress& ing, const std::string& svc_name, const k8s::service_backend_port& port,
                        const std::string& field, backend& b)
    {
        const auto* svc = store_.find<k8s::service>(kind::service, ing.meta.ns, svc_name);
        boost::system::error_code ec;
        auto ip = boost::asio::ip::make_address(svc->cluster_ip, ec);
        const k8s::service_port* sp = nullptr;
        for (const auto& candidate : svc->ports)
            if (port.number ? candidate.port == *port.number : candidate.name == port.name)
                sp = &candidate;
        if (ec || !sp) {
            diag_once(ing, "metadata.annotations[" + options_.annotations_prefix + "/service-upstream]",
                      "Service " + ing.meta.ns + "/" + svc_name + " has no ClusterIP (\"" + svc->cluster_ip +
                          "\"); its endpoints are used");
            return;
        }
        b.endpoints = {boost::asio::ip::tcp::endpoint(ip, static_cast<uint16_t>(sp->port))};
        b.state = backend_state::ready;
        (void)field;
    }

    void fill_endpoints(const k8s::ingress& ing, const std::string& svc_name, const k8s::service_backend_port& port,
                        const std::string& field, backend& b)
    {
        const auto* svc = store_.find<k8s::service>(kind::service, ing.meta.ns, svc_name);
        // The problem is kept for the next paths naming the same backend (resolve_backend).
        auto problem = [&](std::string where, std::string message) {
            b.state = backend_state::service_missing;
            diag(ing, field + where, message);
            backend_problems_[static_cast<uint32_t>(snap_.backends.size())] = {std::move(where), std::move(message)};
        };
        if (!svc) {
            problem(".service.name", "Service " + ing.meta.ns + "/" + svc_name + " not found; answering 503");
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
            problem(".service.port", "Service " + ing.meta.ns + "/" + svc_name + " has no port " +
                                         (port.number ? std::to_string(*port.number) : "named " + port.name) +
                                         "; answering 503");
            return;
        }
        if (svc->type == "ExternalName") {
            problem(".service.name", "Service " + ing.meta.ns + "/" + svc_name +
                                         " is of type ExternalName, which sluice does not route to yet; answering 503");
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
    std::map<uint32_t, std::pair<std::string, std::string>> backend_problems_;  // backend → (field suffix, message)
    std::unordered_map<const k8s::ingress*, const annotations::ingress_annotations*> annotations_;
    annotations::ingress_annotations no_annotations_;
    std::map<std::string, virtual_host*> regex_hosts_;  // by name: diagnostics in the same order in every build
    std::map<const virtual_host*, std::vector<bool>> own_regex_;
    std::set<std::string> www_hosts_;
    std::set<std::string> reported_;
    std::map<std::string, std::shared_ptr<const basic_auth>> auth_by_ingress_;
    std::map<std::string, std::shared_ptr<const upstream_tls>> upstream_tls_;
    std::map<std::string, std::shared_ptr<const access_rules>> access_;
    std::map<std::string, std::shared_ptr<const cors_policy>> cors_;
    std::map<std::string, std::shared_ptr<const std::vector<std::pair<std::string, std::string>>>> custom_headers_;
    uint32_t default_backend_ = no_backend;
    bool route_pass_ = false;  // diagnostics go to route_diagnostics
    std::set<std::string> scope_hosts_;
    std::vector<std::string> scope_ingresses_;
};

}  // namespace

std::vector<std::string> route_hosts(const k8s::ingress& ing)
{
    std::vector<std::string> out;
    for (const auto& rule : ing.rules) {
        std::string lowered;
        if (rule.host.empty())
            out.emplace_back();
        else if (valid_host_name(rule.host, lowered))
            out.push_back(std::move(lowered));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::shared_ptr<route_snapshot> build_snapshot(const object_store& store, const builder_options& options,
                                               uint64_t generation)
{
    auto snap = std::make_shared<route_snapshot>();
    snap->generation = generation;
    snap->catch_all.fallback.path = "/";
    builder(store, options, *snap).run();
    finish_snapshot(*snap, store);
    return snap;
}

std::shared_ptr<route_snapshot> rebuild_hosts(const route_snapshot& previous, const object_store& store,
                                              const builder_options& options, uint64_t generation,
                                              const partial_scope& scope)
{
    // from-to-www-redirect aliases are made across hosts.
    for (const auto& [name, vh] : previous.exact_hosts)
        if (!vh->redirect_to.empty())
            return nullptr;
    route_snapshot part;
    part.generation = generation;
    part.catch_all.fallback.path = "/";
    builder b(store, options, part);
    if (!b.run(&scope))
        return nullptr;
    const std::set<std::string>& hosts = b.scope_hosts();
    for (const auto& h : hosts) {
        // An exact host under a wildcard may take the wildcard's certificate.
        auto dot = h.find('.');
        if (dot != std::string::npos && previous.wildcard_hosts.contains(std::string_view(h).substr(dot + 1)))
            return nullptr;
    }
    // Hash rings are built for every location of a backend together.
    auto hashes = [](const location& loc) {
        return loc.policy.balance.kind == balance_kind::hash || loc.policy.balance.kind == balance_kind::sticky;
    };
    for (const auto& [name, vh] : part.exact_hosts)
        if (hashes(vh->fallback) || std::any_of(vh->locations.begin(), vh->locations.end(), hashes))
            return nullptr;

    auto out = std::make_shared<route_snapshot>();
    out->generation = generation;
    out->settings = part.settings;
    out->catch_all = previous.catch_all;
    out->backends = previous.backends;
    out->appended_backends = previous.appended_backends;
    // The rebuilt hosts' backends, by key, are the previous snapshot's where they are the same;
    // others are appended. Unused ones stay until the next full build.
    string_map<uint32_t> by_key;
    for (uint32_t i = 0; i < previous.backends.size(); ++i)
        by_key.emplace(previous.backends[i].key, i);
    std::vector<uint32_t> remap(part.backends.size());
    for (uint32_t j = 0; j < part.backends.size(); ++j) {
        const backend& be = part.backends[j];
        auto it = by_key.find(be.key);
        if (it != by_key.end() && previous.backends[it->second].endpoints == be.endpoints &&
            previous.backends[it->second].state == be.state) {
            remap[j] = it->second;
        } else {
            remap[j] = static_cast<uint32_t>(out->backends.size());
            out->backends.push_back(be);
            ++out->appended_backends;
        }
    }
    if (out->appended_backends > max_appended_backends)
        return nullptr;
    auto renumber = [&](location& loc) {
        for (uint32_t* b : {&loc.backend, &loc.error_backend})
            if (*b != no_backend)
                *b = remap[*b];
        for (uint32_t& b : loc.canary_backends)
            b = remap[b];
    };
    out->exact_hosts = previous.exact_hosts;
    out->wildcard_hosts = previous.wildcard_hosts;
    for (const auto& h : hosts)
        out->exact_hosts.erase(h);
    for (auto& [name, vh] : part.exact_hosts) {
        for (auto& loc : vh->locations)
            renumber(loc);
        renumber(vh->fallback);
        out->exact_hosts.insert_or_assign(name, std::move(vh));
    }
    out->diagnostics = std::move(part.diagnostics);  // the global ones, all made again
    out->route_diagnostics = previous.route_diagnostics;
    for (const auto& name : b.scope_ingresses())
        out->route_diagnostics.erase("Ingress " + name);
    for (const auto& name : scope.ingresses)
        out->route_diagnostics.erase("Ingress " + name);
    for (const auto& h : hosts)
        out->route_diagnostics.erase("host " + h);
    for (auto& [owner, diags] : part.route_diagnostics)
        out->route_diagnostics[owner] = std::move(diags);
    out->served_ingresses = std::move(part.served_ingresses);
    out->default_certificate = std::move(part.default_certificate);
    finish_snapshot(*out, store);
    return out;
}

}  // namespace sluice
