#include "controller/snapshot_json.hpp"

#include <algorithm>

#include "tls/certificate.hpp"
#include "tls/settings.hpp"

namespace sluice {
namespace {

using json = nlohmann::json;

json certificate_json(const tls::certificate& c)
{
    return json{{"subject", c.subject()},
                {"issuer", c.issuer()},
                {"dnsNames", c.dns_names()},
                {"notBefore", tls::format_utc(c.not_before())},
                {"notAfter", tls::format_utc(c.not_after())},
                {"sha256", c.sha256_fingerprint()}};
}

json location_json(const route_snapshot& snap, const location& loc)
{
    json j{{"path", loc.path},
           {"pathType", loc.match == path_match::exact ? "Exact" : "Prefix"},
           {"ingress", loc.ingress},
           {"backend", loc.backend == no_backend ? json("default (404)") : json(snap.backends[loc.backend].key)},
           {"connectTimeoutMs", loc.policy.connect_timeout.count()},
           {"sendTimeoutMs", loc.policy.send_timeout.count()},
           {"readTimeoutMs", loc.policy.read_timeout.count()},
           {"maxBodySize", loc.policy.max_body_size},
           {"nextUpstreamTries", loc.policy.next_upstream_tries}};
    if (!loc.raw_path.empty() && loc.raw_path != loc.path)
        j["pathAsWritten"] = loc.raw_path;
    if (loc.rewrite)
        j["rewriteTarget"] = loc.rewrite->text();
    if (loc.redirect)
        j["redirect"] = {{"code", loc.redirect->code}, {"url", loc.redirect->url.text()}};
    if (!loc.upstream_vhost.empty())
        j["upstreamVhost"] = loc.upstream_vhost;
    if (loc.tls_upstream)
        j["backendProtocol"] = {{"protocol", "HTTPS"},
                                {"verify", loc.tls_upstream->verify},
                                {"serverName", loc.tls_upstream->send_sni},
                                {"name", loc.tls_upstream->name}};
    if (loc.policy.force_ssl_redirect)
        j["forceSslRedirect"] = true;
    if (!loc.policy.ssl_redirect)
        j["sslRedirect"] = false;
    for (size_t i = 0; i < loc.canary_policies.size(); ++i) {
        const auto& p = loc.canary_policies[i];
        j["canaries"].push_back({{"ingress", loc.canary_ingresses[i]},
                                 {"backend", snap.backends[loc.canary_backends[i]].key},
                                 {"header", p.header},
                                 {"headerValue", p.header_value},
                                 {"headerPattern", p.header_pattern ? p.header_pattern->pattern() : ""},
                                 {"cookie", p.cookie},
                                 {"weight", p.weight},
                                 {"weightTotal", p.weight_total}});
    }
    return j;
}

json host_json(const route_snapshot& snap, const virtual_host& h)
{
    json locations = json::array();
    std::vector<const location*> sorted;
    for (const auto& l : h.locations)
        sorted.push_back(&l);
    std::sort(sorted.begin(), sorted.end(), [](const location* a, const location* b) {
        return std::tie(a->path, a->match) < std::tie(b->path, b->match);
    });
    for (const location* l : sorted)
        locations.push_back(location_json(snap, *l));
    json out{{"host", h.name.empty() ? "_" : h.name},
                {"locations", std::move(locations)},
                {"fallback", location_json(snap, h.fallback)}};
    if (h.regex)
        out["regexPaths"] = true;
    if (!h.app_root.empty())
        out["appRoot"] = h.app_root;
    if (!h.redirect_to.empty())
        out["redirectTo"] = h.redirect_to;
    if (h.tls) {
        out["tls"] = {{"secret", h.tls_secret.empty() ? json("default certificate") : json(h.tls_secret)}};
        if (h.certificate)
            out["tls"]["certificate"] = certificate_json(*h.certificate);
    }
    return out;
}

}  // namespace

json snapshot_to_json(const route_snapshot& snap)
{
    json hosts = json::array();
    std::vector<const virtual_host*> all;
    for (const auto& [k, h] : snap.exact_hosts)
        all.push_back(h.get());
    for (const auto& [k, h] : snap.wildcard_hosts)
        all.push_back(h.get());
    std::sort(all.begin(), all.end(), [](const virtual_host* a, const virtual_host* b) { return a->name < b->name; });
    hosts.push_back(host_json(snap, snap.catch_all));
    for (const virtual_host* h : all)
        hosts.push_back(host_json(snap, *h));

    json backends = json::array();
    for (const auto& b : snap.backends) {
        json eps = json::array();
        for (const auto& ep : b.endpoints) {
            std::string addr = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
            eps.push_back(addr + ":" + std::to_string(ep.port()));
        }
        const char* state = b.state == backend_state::ready          ? "ready"
                            : b.state == backend_state::no_endpoints ? "no ready endpoints (503)"
                                                                     : "service missing (503)";
        backends.push_back(json{{"name", b.key}, {"state", state}, {"endpoints", std::move(eps)}});
    }
    json diags = json::array();
    for (const auto& d : snap.diagnostics)
        diags.push_back(json{{"object", d.object}, {"field", d.field}, {"message", d.message}});
    const auto& s = snap.settings;
    return json{{"generation", snap.generation},
                {"settings",
                 {{"clientHeaderTimeoutMs", s.client_header_timeout.count()},
                  {"clientBodyTimeoutMs", s.client_body_timeout.count()},
                  {"keepAliveTimeoutMs", s.keepalive_timeout.count()},
                  {"keepAliveRequests", s.keepalive_requests},
                  {"upstreamKeepaliveConnections", s.upstream_keepalive_connections},
                  {"upstreamKeepaliveTimeoutMs", s.upstream_keepalive_timeout.count()},
                  {"upstreamKeepaliveRequests", s.upstream_keepalive_requests},
                  {"headerLimit", s.header_limit},
                  {"generateRequestId", s.generate_request_id},
                  {"sslProtocols", std::string(s.tls.min_version == 0x0303 ? "TLSv1.2" : "TLSv1.3") +
                                       (s.tls.max_version != s.tls.min_version ? " TLSv1.3" : "")},
                  {"sslCiphers", s.tls.ciphers.empty() ? std::string(tls::default_ciphers) : s.tls.ciphers},
                  {"sslSessionTickets", s.tls.session_tickets},
                  {"httpRedirectCode", s.http_redirect_code},
                  {"hsts", s.hsts_header}}},
                {"defaultCertificate", snap.default_certificate ? certificate_json(*snap.default_certificate) : json()},
                {"hosts", std::move(hosts)},
                {"backends", std::move(backends)},
                {"diagnostics", std::move(diags)}};
}

}  // namespace sluice
