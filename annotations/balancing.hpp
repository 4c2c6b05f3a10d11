#pragma once
#include "annotations/ingress_annotations.hpp"

namespace sluice::annotations {
// load-balance, upstream-hash-by, upstream-hash-by-subset, upstream-hash-by-subset-size,
// affinity, affinity-mode, session-cookie-name, -path, -domain, -samesite, -expires, -max-age,
// -secure, -change-on-failure, service-upstream, proxy-next-upstream, proxy-next-upstream-timeout,
// connection-proxy-header (ingress-nginx's loadbalancing, upstreamhashby, sessionaffinity,
// serviceupstream, proxy and connection parsers).
void parse_balancing(annotation_reader& reader, ingress_annotations& out);
}  // namespace sluice::annotations
