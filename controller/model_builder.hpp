#pragma once
// The model builder: a pure function from the store's objects to a routing snapshot and its
// diagnostics. No I/O, no clock: the same objects always give the same snapshot.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "controller/object_store.hpp"
#include "proxy/route_snapshot.hpp"
#include "tls/certificate.hpp"

namespace sluice {

struct builder_options {
    std::string ingress_class = "nginx";
    std::string controller_class = "k8s.io/ingress-nginx";
    bool watch_ingress_without_class = false;
    std::string watch_namespace;  // empty: all namespaces
    std::string configmap;        // "namespace/name", empty: defaults only
    std::string annotations_prefix = "nginx.ingress.kubernetes.io";
    std::string default_backend_service;  // "namespace/name": unmatched requests and custom errors
    std::string default_ssl_certificate;  // "namespace/name" of a TLS Secret, empty: the generated one
    // The certificate served when nothing else applies and no default Secret is usable. Null:
    // the snapshot has no TLS context (tests that do not exercise HTTPS).
    std::shared_ptr<const tls::certificate> generated_certificate;
    // The time certificates are checked against (the builder reads no clock); 0 skips the check.
    std::time_t now = 0;
};

std::shared_ptr<route_snapshot> build_snapshot(const object_store& store, const builder_options& options,
                                               uint64_t generation);

// A change of Ingresses only, for a partial rebuild.
struct partial_scope {
    std::vector<std::string> ingresses;  // "namespace/name" of the changed Ingresses
    std::set<std::string> hosts;         // the hosts they routed before the change (route_hosts)
};

// The snapshot `previous` with only the hosts `scope` touches rebuilt: those the changed
// Ingresses route before and after the change, and every host an Ingress routing one of them
// also routes. Those hosts come out exactly as build_snapshot would build them, the others are
// shared with `previous`, and the result equals a full build but for unused backends kept at
// the end of `backends` (at most max_appended_backends since the last full build). Null when
// the change reaches beyond its hosts (see builder::restrict_to) or cannot be merged: then a
// full build is needed. `previous` must come from the same store before the change, with the
// same options.
std::shared_ptr<route_snapshot> rebuild_hosts(const route_snapshot& previous, const object_store& store,
                                              const builder_options& options, uint64_t generation,
                                              const partial_scope& scope);
inline constexpr uint32_t max_appended_backends = 256;

// The hosts of an Ingress's rules, lower-case ("" for a rule without host; invalid ones left out).
std::vector<std::string> route_hosts(const k8s::ingress& ing);

}  // namespace sluice
