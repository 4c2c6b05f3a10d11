#pragma once
// The model builder: a pure function from the store's objects to a routing snapshot and its
// diagnostics. No I/O, no clock: the same objects always give the same snapshot.
#include <memory>
#include <string>

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

}  // namespace sluice
