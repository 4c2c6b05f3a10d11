#pragma once
// The model builder: a pure function from the store's objects to a routing snapshot and its
// diagnostics. No I/O, no clock: the same objects always give the same snapshot.
#include <memory>
#include <string>

#include "controller/object_store.hpp"
#include "proxy/route_snapshot.hpp"

namespace sluice {

struct builder_options {
    std::string ingress_class = "nginx";
    std::string controller_class = "k8s.io/ingress-nginx";
    bool watch_ingress_without_class = false;
    std::string watch_namespace;  // empty: all namespaces
    std::string configmap;        // "namespace/name", empty: defaults only
    std::string annotations_prefix = "nginx.ingress.kubernetes.io";
};

std::shared_ptr<route_snapshot> build_snapshot(const object_store& store, const builder_options& options,
                                               uint64_t generation);

}  // namespace sluice
