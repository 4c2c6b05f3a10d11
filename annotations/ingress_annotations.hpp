#pragma once
// The typed annotations of one Ingress: what every group's parser produced. Built once when the
// Ingress changes; the model builder compiles it into locations.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "annotations/annotation_reader.hpp"
#include "proxy/balancer.hpp"

namespace sluice::annotations {

// rewrite-target, use-regex, app-root, x-forwarded-prefix
struct rewrite_config {
    std::string target;
    bool use_regex = false;
    std::string app_root;
    std::string x_forwarded_prefix;
};

// temporal-redirect(-code), permanent-redirect(-code), from-to-www-redirect
struct redirect_config {
    std::string url;  // empty: no redirect
    unsigned code = 0;
    bool from_to_www = false;
};

// proxy-*-timeout, proxy-body-size, client-body-buffer-size, proxy-next-upstream-tries,
// enable-access-log
struct proxy_config {
    std::optional<std::chrono::milliseconds> connect_timeout;
    std::optional<std::chrono::milliseconds> send_timeout;
    std::optional<std::chrono::milliseconds> read_timeout;
    std::optional<uint64_t> body_size;
    std::optional<uint64_t> client_body_buffer_size;
    std::optional<uint32_t> next_upstream_tries;
    std::optional<bool> access_log;  // enable-access-log
    std::optional<std::vector<uint16_t>> custom_errors;  // custom-http-errors
    std::string default_backend;     // default-backend: a Service of the Ingress's namespace
    std::string custom_headers;      // custom-headers: a ConfigMap, "name" or "namespace/name"
    // proxy-buffering, proxy-request-buffering: read and checked; sluice streams both ways.
    std::optional<bool> buffering;
    std::optional<bool> request_buffering;
};

// canary-*: set only when `canary: "true"`.
struct canary_config {
    bool enabled = false;
    std::string header;
    std::string header_value;
    std::string header_pattern;
    std::string cookie;
    uint32_t weight = 0;
    uint32_t weight_total = 100;
};

// auth-type basic, auth-secret, auth-secret-type, auth-realm
struct auth_basic_config {
    bool enabled = false;
    std::string secret;  // "name" or "namespace/name"
    bool map = false;    // auth-secret-type auth-map (else auth-file)
    std::string realm;
    std::string denied;  // non-empty: misconfigured, the location answers 503
};

// ssl-redirect, force-ssl-redirect, preserve-trailing-slash, use-port-in-redirects: unset values
// take the ConfigMap's defaults.
struct ssl_redirect_config {
    std::optional<bool> ssl_redirect;
    std::optional<bool> force_ssl_redirect;
    std::optional<bool> preserve_trailing_slash;
    std::optional<bool> use_port_in_redirects;
};

// backend-protocol and proxy-ssl-*: how sluice talks to the upstream.
struct backend_tls_config {
    bool https = false;        // backend-protocol HTTPS
    bool verify = false;       // proxy-ssl-verify on
    uint32_t verify_depth = 1; // proxy-ssl-verify-depth
    std::string name;          // proxy-ssl-name: verified and sent as SNI, else the upstream's host
    bool server_name = false;  // proxy-ssl-server-name on: send SNI
    std::string secret;        // proxy-ssl-secret "namespace/name": ca.crt, optional tls.crt + tls.key
};

// allowlist-source-range (whitelist-), denylist-source-range, limit-*: unset values take the
// ConfigMap's. A list with an entry that is not an address or CIDR sets `error` (fail closed).
struct access_config {
    std::optional<std::vector<std::string>> allow;
    std::optional<std::vector<std::string>> deny;
    uint32_t connections = 0;  // limit-connections
    uint32_t rps = 0;          // limit-rps
    uint32_t rpm = 0;          // limit-rpm
    uint32_t burst_multiplier = 5;
    std::vector<std::string> limit_exempt;  // limit-allowlist (limit-whitelist)
    std::string error;
};

// enable-cors and cors-*, with ingress-nginx's defaults.
struct cors_config {
    bool enabled = false;
    std::vector<std::string> origins{"*"};
    std::string methods = "GET, PUT, POST, DELETE, PATCH, OPTIONS";
    std::string headers = "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization";
    std::string expose_headers;
    bool credentials = true;
    uint64_t max_age = 1728000;
};

// load-balance, upstream-hash-by*, affinity*, session-cookie-*, service-upstream,
// proxy-next-upstream(-timeout), connection-proxy-header.
struct balancing_config {
    std::optional<balance_kind> load_balance;        // round_robin or ewma
    std::shared_ptr<const request_template> hash_by; // upstream-hash-by
    uint32_t subset_size = 0;                        // upstream-hash-by-subset(-size)
    std::shared_ptr<const affinity_cookie> affinity; // affinity: cookie
    bool service_upstream = false;
    std::optional<uint16_t> next_upstream;
    std::optional<std::chrono::milliseconds> next_upstream_timeout;
    std::string connection_header;
};

struct ingress_annotations {
    std::optional<canary_config> canary;
    std::optional<auth_basic_config> auth_basic;
    rewrite_config rewrite;
    redirect_config redirect;
    proxy_config proxy;
    std::string upstream_vhost;
    ssl_redirect_config ssl;
    backend_tls_config backend_tls;
    access_config access;
    cors_config cors;
    balancing_config balancing;
    std::vector<annotation_diagnostic> diagnostics;
};

}  // namespace sluice::annotations
