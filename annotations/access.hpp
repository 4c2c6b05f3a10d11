#pragma once
#include "annotations/ingress_annotations.hpp"

namespace sluice::annotations {
// allowlist-source-range (alias whitelist-source-range), denylist-source-range, limit-connections,
// limit-rps, limit-rpm, limit-burst-multiplier, limit-allowlist (alias limit-whitelist), as
// ingress-nginx's ipallowlist, ipdenylist and ratelimit parsers.
void parse_access(annotation_reader& reader, ingress_annotations& out);

// enable-cors, cors-allow-origin, cors-allow-methods, cors-allow-headers, cors-expose-headers,
// cors-allow-credentials, cors-max-age (ingress-nginx annotations/cors).
void parse_cors(annotation_reader& reader, ingress_annotations& out);

// "10.0.0.0/8, 192.168.1.1": the items, or an error naming the first item that is not an
// address or CIDR.
std::optional<std::vector<std::string>> parse_cidr_list(std::string_view list, std::string& error);
}  // namespace sluice::annotations
