// Manifest loading: a file's text (YAML, or JSON when it starts with '{' or '[') parsed as the
// manifest source parses it, every object applied to a store already holding a working Ingress,
// and the snapshot built. Whatever the file holds, the working Ingress keeps its route unless
// the file itself names that Ingress (a bad file never takes down routes that were working).
#include <cstddef>
#include <cstdint>
#include <string>

#include "controller/snapshot_json.hpp"
#include "fuzz/fuzz_common.hpp"

namespace {

using namespace sluice;

const object_store& base()
{
    static const object_store store = fuzz::store_of(std::string(fuzz::base_objects) + R"(---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: keep, namespace: default}
spec:
  ingressClassName: nginx
  rules:
  - host: keep.test
    http:
      paths:
      - {path: /kept, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)");
    return store;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    std::string text(reinterpret_cast<const char*>(data), size);
    bool is_json = !text.empty() && (text.front() == '{' || text.front() == '[');
    object_store store = base();
    fuzz::apply_manifest(store, text, is_json);
    auto snap = fuzz::build(store);
    (void)snapshot_to_json(*snap).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    bool touches_keep = text.find("keep") != std::string::npos || text.find("web") != std::string::npos ||
                        text.find("IngressClass") != std::string::npos || text.find("ConfigMap") != std::string::npos;
    if (!touches_keep) {
        route_match m = match_route(*snap, "keep.test", "/kept/x");
        if (m.loc->path != "/kept" || m.loc->backend == no_backend)
            __builtin_trap();
    }
    return 0;
}
