#pragma once
// Shared by the fuzz targets: a store filled from manifest text exactly as the manifest source
// fills it, and a snapshot built from it.
#include <cstdint>
#include <memory>
#include <string>

#include "controller/model_builder.hpp"
#include "controller/object_store.hpp"
#include "controller/yaml_to_json.hpp"

namespace sluice::fuzz {

// Parses `text` (YAML, or JSON when `is_json`), and applies every document it names. A parse
// error leaves the store as it was, as a bad file does.
inline void apply_manifest(object_store& store, const std::string& text, bool is_json)
{
    std::vector<manifest_document> docs;
    try {
        docs = parse_manifest_text(text, is_json);
    } catch (const manifest_parse_error&) {
        return;
    }
    for (auto& doc : docs) {
        object_key key;
        std::string error;
        if (object_store::identify(doc.object, key, error))
            store.apply({key, doc.object, "fuzz.yaml:" + std::to_string(doc.line)});
    }
}

// A store holding what `text` names.
inline object_store store_of(const std::string& text)
{
    object_store store;
    apply_manifest(store, text, false);
    return store;
}

inline std::shared_ptr<route_snapshot> build(const object_store& store)
{
    builder_options options;
    options.configmap = "ingress-nginx/ingress-nginx-controller";
    return build_snapshot(store, options, 1);
}

// The objects every target's snapshot starts from: an IngressClass, a Service with endpoints.
inline const char* base_objects = R"(apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [127.0.0.1]
  conditions: {ready: true}
- addresses: [127.0.0.2]
  conditions: {ready: true}
)";

}  // namespace sluice::fuzz
