#include "annotations/registry.hpp"

#include <algorithm>
#include <array>

#include "annotations/access.hpp"
#include "annotations/auth_basic.hpp"
#include "annotations/balancing.hpp"
#include "annotations/canary.hpp"
#include "annotations/proxy.hpp"
#include "annotations/redirect.hpp"
#include "annotations/rewrite.hpp"
#include "annotations/snippets.hpp"
#include "annotations/tls.hpp"
#include "annotations/upstream_vhost.hpp"

namespace sluice::annotations {
namespace {

constexpr const char* rewrite_keys[] = {"rewrite-target", "use-regex", "app-root", "x-forwarded-prefix"};
constexpr const char* redirect_keys[] = {"temporal-redirect", "temporal-redirect-code", "permanent-redirect",
                                         "permanent-redirect-code", "from-to-www-redirect"};
constexpr const char* proxy_keys[] = {"proxy-connect-timeout", "proxy-send-timeout",      "proxy-read-timeout",
                                      "proxy-body-size",       "client-body-buffer-size", "proxy-next-upstream-tries",
                                      "enable-access-log", "custom-http-errors", "default-backend",
                                      "custom-headers", "proxy-buffering", "proxy-request-buffering"};
constexpr const char* vhost_keys[] = {"upstream-vhost"};
constexpr const char* snippet_keys[] = {"configuration-snippet", "server-snippet", "stream-snippet", "auth-snippet",
                                        "modsecurity-snippet"};

constexpr const char* canary_keys[] = {"canary", "canary-by-header", "canary-by-header-value", "canary-by-header-pattern",
                                       "canary-by-cookie", "canary-weight", "canary-weight-total"};

constexpr const char* ssl_redirect_keys[] = {"ssl-redirect", "force-ssl-redirect", "preserve-trailing-slash",
                                             "use-port-in-redirects"};
constexpr const char* backend_tls_keys[] = {"backend-protocol",      "proxy-ssl-verify", "proxy-ssl-verify-depth",
                                            "proxy-ssl-server-name", "proxy-ssl-name",   "proxy-ssl-secret"};

constexpr const char* access_keys[] = {
    "allowlist-source-range", "whitelist-source-range", "denylist-source-range", "limit-connections", "limit-rps",
    "limit-rpm", "limit-burst-multiplier", "limit-allowlist", "limit-whitelist"};
constexpr const char* cors_keys[] = {"enable-cors",         "cors-allow-origin",      "cors-allow-methods",
                                     "cors-allow-headers",  "cors-expose-headers",    "cors-allow-credentials",
                                     "cors-max-age"};

constexpr const char* balancing_keys[] = {
    "load-balance", "upstream-hash-by", "upstream-hash-by-subset", "upstream-hash-by-subset-size", "affinity",
    "affinity-mode", "session-cookie-name", "session-cookie-path", "session-cookie-domain", "session-cookie-samesite",
    "session-cookie-expires", "session-cookie-max-age", "session-cookie-secure", "session-cookie-change-on-failure",
    "service-upstream", "proxy-next-upstream", "proxy-next-upstream-timeout", "connection-proxy-header"};

constexpr const char* auth_basic_keys[] = {"auth-type", "auth-secret", "auth-secret-type", "auth-realm"};

constexpr annotation_group groups[] = {
    {"auth-basic", auth_basic_keys, parse_auth_basic},
    {"canary", canary_keys, parse_canary},
    {"rewrite", rewrite_keys, parse_rewrite},
    {"redirect", redirect_keys, parse_redirect},
    {"proxy", proxy_keys, parse_proxy},
    {"upstream-vhost", vhost_keys, parse_upstream_vhost},
    {"ssl-redirect", ssl_redirect_keys, parse_ssl_redirect},
    {"backend-tls", backend_tls_keys, parse_backend_tls},
    {"access", access_keys, parse_access},
    {"cors", cors_keys, parse_cors},
    {"balancing", balancing_keys, parse_balancing},
    {"snippets", snippet_keys, refuse_snippets},
};

// The rest of ingress-nginx's annotation list (docs annotations.md and annotations-risk.md),
// sorted for binary search.
constexpr std::string_view known_unsupported[] = {
    "affinity-canary-behavior", "auth-always-set-cookie", "auth-cache-duration", "auth-cache-key",
    "auth-keepalive", "auth-keepalive-requests", "auth-keepalive-share-vars", "auth-keepalive-timeout",
    "auth-method", "auth-proxy-set-headers", "auth-request-redirect", "auth-response-headers", "auth-signin",
    "auth-signin-redirect-param", "auth-tls-error-page", "auth-tls-match-cn",
    "auth-tls-pass-certificate-to-upstream", "auth-tls-secret", "auth-tls-verify-client",
    "auth-tls-verify-depth", "auth-url", "client-body-timeout", "disable-proxy-intercept-errors",
    "enable-global-auth", "enable-modsecurity", "enable-opentelemetry", "enable-owasp-core-rules",
    "enable-rewrite-log", "fastcgi-index", "fastcgi-params-configmap", "http2-push-preload", "limit-rate",
    "limit-rate-after", "mirror-host", "mirror-request-body", "mirror-target", "modsecurity-transaction-id",
    "opentelemetry-operation-name", "opentelemetry-trust-incoming-span", "proxy-buffer-size",
    "proxy-buffers-number", "proxy-busy-buffers-size", "proxy-cookie-domain", "proxy-cookie-path",
    "proxy-http-version", "proxy-max-temp-file-size", "proxy-redirect-from", "proxy-redirect-to",
    "proxy-ssl-ciphers", "proxy-ssl-protocols", "relative-redirects", "satisfy", "server-alias",
    "session-cookie-conditional-samesite-none", "ssl-ciphers", "ssl-passthrough", "ssl-prefer-server-ciphers",
};

std::string join(const std::vector<std::string>& names)
{
    std::string out;
    for (const auto& n : names) {
        if (!out.empty())
            out += ", ";
        out += n;
    }
    return out;
}

}  // namespace

std::span<const annotation_group> registry() { return groups; }

bool is_known_unsupported(std::string_view name)
{
    return std::binary_search(std::begin(known_unsupported), std::end(known_unsupported), name);
}

ingress_annotations parse_ingress_annotations(const std::map<std::string, std::string>& annotations,
                                              std::string_view prefix)
{
    ingress_annotations out;
    annotation_reader reader(annotations, prefix);
    for (const auto& group : groups)
        group.parse(reader, out);
    std::vector<std::string> unsupported, unknown;
    for (auto& name : reader.unread())
        (is_known_unsupported(name) ? unsupported : unknown).push_back(std::move(name));
    out.diagnostics = std::move(reader.diagnostics());
    if (!unsupported.empty())
        out.diagnostics.push_back({std::string(prefix) + "/*", "not supported by sluice yet, ignored: " + join(unsupported)});
    if (!unknown.empty())
        out.diagnostics.push_back({std::string(prefix) + "/*", "unknown annotations, ignored: " + join(unknown)});
    return out;
}

}  // namespace sluice::annotations
