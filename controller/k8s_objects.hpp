#pragma once
// Typed Kubernetes objects: the subset of each kind's fields that sluice reads. Decoded once from
// JSON (the API's wire form; manifest YAML is converted to it first), so that both sources feed
// the same decoder and produce identical objects.
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sluice::k8s {

// A field that failed to decode: `field` is the JSON path ("spec.rules[0].host").
struct decode_error : std::runtime_error {
    std::string field;
    decode_error(std::string f, const std::string& reason) : std::runtime_error(reason), field(std::move(f)) {}
};

struct object_meta {
    std::string name;
    std::string ns;  // "default" when absent
    std::string uid;
    std::string resource_version;
    std::string creation_timestamp;  // RFC 3339 as written; compared as text (same format sorts)
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> annotations;
};

struct int_or_string {
    std::variant<int32_t, std::string> value;
    bool is_int() const { return std::holds_alternative<int32_t>(value); }
    int32_t as_int() const { return std::get<int32_t>(value); }
    const std::string& as_string() const { return std::get<std::string>(value); }
};

struct service_backend_port {
    std::optional<int32_t> number;
    std::string name;
};

struct ingress_backend {
    // Exactly one of service / resource is set in a valid object.
    std::string service_name;
    service_backend_port service_port;
    bool has_service = false;
    bool has_resource = false;
};

enum class path_type { exact, prefix, implementation_specific };

struct http_ingress_path {
    std::string path;
    path_type type = path_type::implementation_specific;
    ingress_backend backend;
};

struct ingress_rule {
    std::string host;
    std::vector<http_ingress_path> paths;
};

struct ingress_tls {
    std::vector<std::string> hosts;
    std::string secret_name;
};

struct ingress {
    object_meta meta;
    std::optional<std::string> ingress_class_name;
    std::optional<ingress_backend> default_backend;
    std::vector<ingress_rule> rules;
    std::vector<ingress_tls> tls;
    // status.loadBalancer.ingress: each entry's ip, else hostname, in order.
    std::vector<std::string> status_addresses;
};

struct ingress_class {
    object_meta meta;
    std::string controller;
    bool is_default = false;  // annotation ingressclass.kubernetes.io/is-default-class
};

struct service_port {
    std::string name;
    std::string protocol = "TCP";
    int32_t port = 0;
    std::optional<int_or_string> target_port;
};

struct service {
    object_meta meta;
    std::string type = "ClusterIP";
    std::string cluster_ip;
    std::string external_name;
    std::vector<service_port> ports;
};

struct endpoint_port {
    std::string name;
    std::optional<int32_t> port;
    std::string protocol = "TCP";
};

struct slice_endpoint {
    std::vector<std::string> addresses;
    // The API documents nil as "unknown" to be interpreted as ready.
    std::optional<bool> ready;
    std::optional<bool> serving;
    std::optional<bool> terminating;
};

struct endpoint_slice {
    object_meta meta;
    std::string service_name;  // label kubernetes.io/service-name
    std::string address_type;
    std::vector<endpoint_port> ports;
    std::vector<slice_endpoint> endpoints;
};

struct endpoints_subset {
    std::vector<std::string> addresses;
    std::vector<std::string> not_ready_addresses;
    std::vector<endpoint_port> ports;
};

struct endpoints {
    object_meta meta;
    std::vector<endpoints_subset> subsets;
};

struct secret {
    object_meta meta;
    std::string type;
    std::map<std::string, std::string> data;  // base64 `data` decoded, merged with `stringData`
};

struct config_map {
    object_meta meta;
    std::map<std::string, std::string> data;
};

enum class kind { ingress, ingress_class, service, endpoint_slice, endpoints, secret, config_map };

std::optional<kind> kind_from_name(std::string_view api_kind);
std::string_view kind_name(kind k);
// IngressClass and other cluster-scoped kinds have no namespace.
bool is_namespaced(kind k);

using any_object = std::variant<ingress, ingress_class, service, endpoint_slice, endpoints, secret, config_map>;

// Decodes one object of kind `k`. Throws decode_error naming the field.
any_object decode(kind k, const nlohmann::json& object);

// Decoders per kind (used by decode(), and directly by tests).
ingress decode_ingress(const nlohmann::json& object);
service decode_service(const nlohmann::json& object);
endpoint_slice decode_endpoint_slice(const nlohmann::json& object);

bool base64_decode(std::string_view in, std::string& out);

}  // namespace sluice::k8s
