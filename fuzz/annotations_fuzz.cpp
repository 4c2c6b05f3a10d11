// Every annotation parser and the ConfigMap's keys, through the model builder as a user's
// Ingress reaches them. The input is lines: "key: value" is an annotation (the ingress-nginx
// prefix is added to keys without a '/'), "cm key: value" a ConfigMap entry, "path P" and
// "host H" replace the Ingress's path and host; "\n" in a value stands for a line break.
// The snapshot must build whatever the values are, and then route a request.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "controller/snapshot_json.hpp"
#include "fuzz/fuzz_common.hpp"

namespace {

using namespace sluice;
using nlohmann::json;

std::string unescape(std::string_view v)
{
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size() && v[i + 1] == 'n') {
            out += '\n';
            ++i;
        } else {
            out += v[i];
        }
    }
    return out;
}

const object_store& base()
{
    static const object_store store = fuzz::store_of(fuzz::base_objects);
    return store;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size > 16 * 1024)
        return 0;
    std::string_view input(reinterpret_cast<const char*>(data), size);
    json annotations = json::object();
    json cm = json::object();
    std::string path = "/", host = "a.test", path_type = "Prefix";
    while (!input.empty()) {
        auto eol = input.find('\n');
        std::string_view line = input.substr(0, eol);
        input.remove_prefix(eol == std::string_view::npos ? input.size() : eol + 1);
        if (line.starts_with("path ")) {
            path = unescape(line.substr(5));
            continue;
        }
        if (line.starts_with("type ")) {
            path_type = std::string(line.substr(5));
            continue;
        }
        if (line.starts_with("host ")) {
            host = unescape(line.substr(5));
            continue;
        }
        bool is_cm = line.starts_with("cm ");
        if (is_cm)
            line.remove_prefix(3);
        auto colon = line.find(':');
        if (colon == std::string_view::npos)
            continue;
        std::string key(line.substr(0, colon));
        std::string_view value = line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ')
            value.remove_prefix(1);
        // nlohmann::json holds UTF-8; the API server only ever sends valid UTF-8 strings.
        std::string v = unescape(value);
        try {
            (void)json(v).dump();
            (void)json(key).dump();
        } catch (const json::exception&) {
            continue;
        }
        if (is_cm)
            cm[key] = v;
        else
            annotations[key.find('/') == std::string::npos ? "nginx.ingress.kubernetes.io/" + key : key] = v;
    }
    try {
        (void)json(path).dump();
        (void)json(host).dump();
        (void)json(path_type).dump();
    } catch (const json::exception&) {
        return 0;
    }
    json ingress = {
        {"apiVersion", "networking.k8s.io/v1"},
        {"kind", "Ingress"},
        {"metadata", {{"name", "fuzz"}, {"namespace", "default"}, {"annotations", annotations}}},
        {"spec",
         {{"ingressClassName", "nginx"},
          {"tls", json::array({{{"hosts", json::array({host})}, {"secretName", "missing"}}})},
          {"rules",
           json::array({{{"host", host},
                         {"http",
                          {{"paths", json::array({{{"path", path},
                                                   {"pathType", path_type},
                                                   {"backend", {{"service", {{"name", "web"}, {"port", {{"number", 80}}}}}}}}})}}}}})}}}};
    json configmap = {{"apiVersion", "v1"},
                      {"kind", "ConfigMap"},
                      {"metadata", {{"name", "ingress-nginx-controller"}, {"namespace", "ingress-nginx"}}},
                      {"data", cm}};
    object_store store = base();
    for (const json* o : {&ingress, &configmap}) {
        object_key key;
        std::string error;
        if (object_store::identify(*o, key, error))
            store.apply({key, *o, "fuzz.yaml:1"});
    }
    auto snap = fuzz::build(store);
    if (!snap)
        __builtin_trap();
    (void)snapshot_to_json(*snap).dump();
    route_match m = match_route(*snap, host, "/anything");
    if (!m.host || !m.loc)
        __builtin_trap();
    return 0;
}
