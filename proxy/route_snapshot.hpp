#pragma once
// The routing snapshot: everything a request needs, immutable once built. A new snapshot is
// published as a whole; a request keeps the one it started with until it ends.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include <re2/re2.h>
#include <re2/set.h>

#include "canary/canary_decision.hpp"
#include "proxy/balancer.hpp"
#include "proxy/client_address.hpp"
#include "proxy/url_template.hpp"
#include "tls/settings.hpp"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace sluice {

namespace tls {
class certificate;
class server_context;
}  // namespace tls
class log_format;
struct access_rules;
struct cors_policy;
enum class log_escape : uint8_t;

struct string_hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <class T>
using string_map = std::unordered_map<std::string, T, string_hash, std::equal_to<>>;

// Process-wide proxy settings, from the ConfigMap (ingress-nginx key names and defaults).
struct global_settings {
    std::chrono::milliseconds client_header_timeout{60'000};
    std::chrono::milliseconds client_body_timeout{60'000};
    std::chrono::milliseconds keepalive_timeout{75'000};
    uint32_t keepalive_requests = 1000;
    // max-worker-connections: client connections one worker holds at once; at the limit it stops
    // accepting until one closes (new connections wait in the kernel's backlog). 0: no limit
    // other than file descriptors.
    uint32_t max_worker_connections = 16384;
    uint32_t upstream_keepalive_connections = 320;
    std::chrono::milliseconds upstream_keepalive_timeout{60'000};
    uint32_t upstream_keepalive_requests = 10000;
    uint32_t header_limit = 4 * 8192;  // large-client-header-buffers "4 8k"
    uint32_t request_line_limit = 8192;  // one of those buffers: a longer request line is 414
    bool generate_request_id = true;
    bool allow_cross_namespace_resources = false;  // auth-secret in another namespace
    std::chrono::milliseconds worker_shutdown_timeout{240'000};  // the drain's upper bound
    tls::server_settings tls;
    unsigned http_redirect_code = 308;  // the HTTP to HTTPS redirect (http-redirect-code)
    // hsts, hsts-max-age, hsts-include-subdomains, hsts-preload
    bool hsts = true;
    uint64_t hsts_max_age = 31536000;
    bool hsts_include_subdomains = true;
    bool hsts_preload = false;
    std::string hsts_header;  // the Strict-Transport-Security value, "" when off
    forwarding_policy forwarding;
    // Access log: disable-access-log, log-format-upstream, log-format-escape-json/-none.
    bool access_log = true;
    std::shared_ptr<const log_format> access_log_format;  // null: ingress-nginx's default
    log_escape access_log_escape{};
    unsigned worker_processes = 0;         // worker-processes: threads at start; 0 = one per core
    uint32_t upstream_header_limit = 64 * 1024;  // raised (never lowered) by proxy-buffer-size
    // Passive health (nginx's max_fails and fail_timeout, ConfigMap upstream-max-fails and
    // upstream-fail-timeout): an endpoint that failed max_fails times within fail_timeout is
    // left out for fail_timeout. 0 turns it off.
    uint32_t max_fails = 1;
    std::chrono::milliseconds fail_timeout{10'000};
    // ConfigMap references ("namespace/name") whose data are headers: proxy-set-headers,
    // add-headers; and global-allowed-response-headers (what custom-headers may set).
    std::string proxy_set_headers;
    std::string add_headers;
    std::vector<std::string> allowed_response_headers;
    unsigned limit_req_status = 503;   // limit-req-status-code
    unsigned limit_conn_status = 503;  // limit-conn-status-code
};

// proxy-next-upstream conditions, as nginx's proxy_next_upstream.
enum : uint16_t {
    retry_on_error = 1 << 0,
    retry_on_timeout = 1 << 1,
    retry_on_invalid_header = 1 << 2,
    retry_on_http_500 = 1 << 3,
    retry_on_http_502 = 1 << 4,
    retry_on_http_503 = 1 << 5,
    retry_on_http_504 = 1 << 6,
    retry_on_http_403 = 1 << 7,
    retry_on_http_404 = 1 << 8,
    retry_on_http_429 = 1 << 9,
    retry_on_non_idempotent = 1 << 10,
};
// The proxy-next-upstream bit of an upstream status, 0 for statuses it cannot name.
inline uint16_t next_upstream_bit(unsigned status)
{
    switch (status) {
    case 500: return retry_on_http_500;
    case 502: return retry_on_http_502;
    case 503: return retry_on_http_503;
    case 504: return retry_on_http_504;
    case 403: return retry_on_http_403;
    case 404: return retry_on_http_404;
    case 429: return retry_on_http_429;
    default: return 0;
    }
}
// "error timeout http_502": the mask, or nothing when a word is unknown ("off" is 0).
std::optional<uint16_t> parse_next_upstream(std::string_view words);

// Per-location behaviour compiled from annotations and ConfigMap defaults.
struct location_policy {
    std::chrono::milliseconds connect_timeout{5'000};
    std::chrono::milliseconds send_timeout{60'000};
    std::chrono::milliseconds read_timeout{60'000};
    uint64_t max_body_size = 1024 * 1024;  // 0: unlimited (proxy-body-size "1m")
    uint32_t next_upstream_tries = 3;       // 0: unlimited
    uint16_t next_upstream = retry_on_error | retry_on_timeout;  // proxy-next-upstream
    std::chrono::milliseconds next_upstream_timeout{0};  // proxy-next-upstream-timeout; 0: unlimited
    balance_policy balance;                  // load-balance, upstream-hash-by, affinity
    bool ssl_redirect = true;               // to HTTPS, on hosts with TLS
    bool force_ssl_redirect = false;        // to HTTPS, on any host
    bool preserve_trailing_slash = false;   // else the HTTPS redirect drops a final '/'
    bool use_port_in_redirects = false;     // the HTTPS redirect names the HTTPS port
    bool access_log = true;                 // enable-access-log
    // custom-http-errors: these statuses (from the upstream, or sluice's own 502/503/504) are
    // answered by error_backend instead (or sluice's page when there is none).
    std::vector<uint16_t> custom_errors;
    std::string connection_header;  // connection-proxy-header: the Connection value sent upstream
    std::shared_ptr<const access_rules> access;  // source ranges and limits; null: none
    // proxy-set-headers: request headers set for the upstream after sluice's own (an empty
    // expansion removes the header).
    std::shared_ptr<const std::vector<std::pair<std::string, request_template>>> set_request_headers;
    // add-headers (ConfigMap) and custom-headers (annotation): set on every response.
    std::shared_ptr<const std::vector<std::pair<std::string, std::string>>> response_headers;
    std::shared_ptr<const cors_policy> cors;     // enable-cors; null: off
};

enum class backend_state : uint8_t { ready, no_endpoints, service_missing };

struct backend {
    std::string key;  // "namespace/service:port", stable across snapshots
    std::vector<boost::asio::ip::tcp::endpoint> endpoints;
    backend_state state = backend_state::no_endpoints;
    // Hash rings and endpoint ids, for backends that a hashing or sticky location uses.
    std::shared_ptr<const backend_rings> rings;
};

enum class path_match : uint8_t { exact, prefix };

inline constexpr uint32_t no_backend = UINT32_MAX;

class htpasswd_table;

// Basic authentication of a location (auth-type basic), resolved from its Secret at build time.
struct basic_auth {
    std::shared_ptr<const htpasswd_table> users;
    std::string version;           // digest of the Secret's content: keys the verification cache
    std::string www_authenticate;  // Basic realm="..."
    std::string denied;            // non-empty: misconfigured (missing Secret, ...): answer 503
};

// backend-protocol HTTPS: how connections to the upstream are secured.
struct upstream_tls {
    std::shared_ptr<boost::asio::ssl::context> context;  // verification, CA, client certificate
    bool verify = false;   // proxy-ssl-verify: also check the name below
    bool send_sni = false; // proxy-ssl-server-name
    std::string name;      // proxy-ssl-name; empty: the Host sent upstream, without port
    // Pooled connections are reused only by requests with the same profile and name.
    std::string profile;
};

struct redirect_action {
    unsigned code = 302;
    url_template url;
};

struct location {
    std::string path;      // as matched: Exact as written, Prefix without trailing slashes
    std::string raw_path;  // as written in the Ingress
    path_match match = path_match::prefix;
    uint32_t backend = no_backend;  // index into route_snapshot::backends; no_backend → 404
    std::string ingress;            // "namespace/name" that defined it ("" for the default)
    location_policy policy;
    // (?i)<path>, unanchored as nginx's rewrite runs it: the source of $1..$9. Set on hosts whose
    // paths are regexes (use-regex or rewrite-target on any of their Ingresses).
    std::shared_ptr<const re2::RE2> path_regex;
    std::optional<url_template> rewrite;             // rewrite-target, when it differs from the path
    std::optional<url_template> x_forwarded_prefix;  // sent only with a rewrite, as ingress-nginx
    std::optional<redirect_action> redirect;         // permanent- or temporal-redirect
    std::string upstream_vhost;                      // Host sent upstream instead of the client's
    std::shared_ptr<const basic_auth> auth;          // auth-type basic
    std::shared_ptr<const upstream_tls> tls_upstream; // backend-protocol HTTPS
    // default-backend annotation, else --default-backend-service: serves the location when its
    // Service has no ready endpoint, and answers its custom-http-errors.
    uint32_t error_backend = no_backend;
    // host="..",ingress="..",namespace="..",path="..",service=".." for the request metrics.
    std::string metric_labels;
    // $proxy_upstream_name ("namespace-service-port", ingress-nginx's upstream name) and the
    // canary's, for the access log.
    std::string upstream_name;
    std::string alternative_upstream_name;
    // Canary Ingresses merged into this location, asked in order (oldest Ingress first); entry i
    // sends to canary_backends[i]. Location behaviour above applies to canary traffic too.
    std::vector<canary_policy> canary_policies;
    std::vector<uint32_t> canary_backends;
    std::vector<std::string> canary_ingresses;
};

// A host whose paths are regular expressions, matched in ingress-nginx's order (longest path
// first, then reverse string order): the first match wins.
struct regex_table {
    std::shared_ptr<const re2::RE2::Set> set;  // anchored at the start, case-insensitive
    std::vector<uint32_t> order;      // set entry → index into locations
};

struct virtual_host {
    std::string name;  // "" for the catch-all server, "*.example.com" for a wildcard
    std::vector<location> locations;
    string_map<uint32_t> exact;   // path → index into locations
    string_map<uint32_t> prefix;  // prefix without trailing slashes → index
    location fallback;            // "/" when nothing matches: the Ingress default backend or 404
    std::optional<regex_table> regex;  // set: paths are matched as regexes, exact/prefix unused
    std::string app_root;              // app-root: "/" answers 302 to it
    std::string redirect_to;           // from-to-www-redirect alias: everything answers 308 there
    // TLS: set when an Ingress lists the host under spec.tls. The certificate is the Secret's,
    // or the default one when the Secret is missing or unusable (ingress-nginx's fallback).
    bool tls = false;
    std::shared_ptr<const tls::certificate> certificate;
    std::string tls_secret;  // "namespace/name" the certificate came from, "" for the default
};

struct diagnostic {
    std::string object;  // "Ingress default/web", "file examples/a.yaml"
    std::string field;   // may be empty
    std::string message;
    std::string str() const;
};

// Hosts are held by reference count so that a partial rebuild shares the hosts it did not touch
// with the snapshot before it. A host is never modified once its snapshot is published.
using shared_host = std::shared_ptr<virtual_host>;
struct route_snapshot {
    uint64_t generation = 0;
    global_settings settings;
    string_map<shared_host> exact_hosts;     // lower-case host
    string_map<shared_host> wildcard_hosts;  // key: the suffix after "*."
    virtual_host catch_all;
    std::vector<backend> backends;
    std::vector<diagnostic> diagnostics;
    // The diagnostics about the routes of each Ingress ("Ingress namespace/name") and host
    // ("host name"), also in `diagnostics`: a partial rebuild keeps those of what it left alone.
    std::map<std::string, std::vector<diagnostic>> route_diagnostics;
    // Backends partial rebuilds appended since the last full build (some may be unused now).
    uint32_t appended_backends = 0;
    // The Ingresses this controller serves (its class), "namespace/name": their status is ours.
    std::vector<std::string> served_ingresses;
    // HTTPS: the default certificate (--default-ssl-certificate or the generated one) and the
    // handshake context whose SNI callback picks certificates from this snapshot's hosts.
    std::shared_ptr<const tls::certificate> default_certificate;
    std::shared_ptr<const tls::server_context> tls_context;
};

// The certificate the SNI callback serves for `server_name` (lower-case): the host's, else the
// default. `snap` is a route_snapshot.
const tls::certificate* certificate_for(const void* snap, std::string_view server_name);

struct route_match {
    const virtual_host* host = nullptr;
    const location* loc = nullptr;
};

// Host header (any case, optional port, optional trailing dot) to its virtual host.
const virtual_host& match_host(const route_snapshot& snap, std::string_view host_header);
// Normalised request path to a location of `host`; never null (falls back to host.fallback).
const location& match_path(const virtual_host& host, std::string_view path);

inline route_match match_route(const route_snapshot& snap, std::string_view host_header, std::string_view path)
{
    const virtual_host& h = match_host(snap, host_header);
    return {&h, &match_path(h, path)};
}

// Lower-cases and strips port and trailing dot; returns false for a malformed Host value.
bool normalize_host(std::string_view in, std::string& out);

// Adds a location to `host`, keeping the first one for a (path, match) pair: returns null, or
// the location that was already there and keeps its place.
const location* add_location(virtual_host& host, location loc);

}  // namespace sluice
