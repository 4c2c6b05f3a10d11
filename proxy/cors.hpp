#pragma once
// enable-cors, as ingress-nginx's CORS template: a request whose Origin is allowed gets the
// Access-Control-* headers on its response; an OPTIONS request with an allowed Origin is a
// preflight, answered 204 by the proxy without reaching the upstream or the access checks.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {

struct cors_policy {
    bool any_origin = false;  // "*": every response says Access-Control-Allow-Origin: *
    // Allowed origins, lower-case: exact "scheme://host[:port]", or with the host's first label
    // a wildcard ("https://*.example.com": one label of letters, digits and '-').
    std::vector<std::string> origins;
    // The other headers, in ingress-nginx's order: Allow-Credentials (when true), Allow-Methods,
    // Allow-Headers, Expose-Headers (when set), Max-Age.
    std::vector<std::pair<std::string, std::string>> headers;

    // The Access-Control-Allow-Origin value for a request with this Origin header (empty when
    // the request gets no CORS headers). ingress-nginx matches origins with a regex anchored only
    // at the end; here the whole origin must match.
    std::string_view allow_origin(std::string_view origin) const;
};

}  // namespace sluice
