#pragma once
// The current objects from a source, keyed kind/namespace/name, each decoded once when it
// changes. An object that fails to decode keeps its last valid version and gets a diagnostic.
#include <compare>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "annotations/ingress_annotations.hpp"
#include "controller/k8s_objects.hpp"
#include "proxy/route_snapshot.hpp"
#include "tls/certificate.hpp"

namespace sluice {

struct object_key {
    k8s::kind kind;
    std::string ns;  // empty for cluster-scoped kinds
    std::string name;
    auto operator<=>(const object_key&) const = default;
    std::string str() const;  // "Ingress default/web"
};

// One add/update (object set) or delete (object empty) from a source.
struct object_change {
    object_key key;
    std::optional<nlohmann::json> object;
    std::string origin;  // "file.yaml:12" or "api"; names the object's source in diagnostics
};

struct stored_object {
    k8s::any_object object;
    std::string origin;
    // Ingress only: its annotations, parsed when the object changed.
    std::shared_ptr<const annotations::ingress_annotations> annotations;
    // Secret with tls.crt: its certificate and key, parsed when the object changed, or why they
    // are unusable.
    std::shared_ptr<const tls::certificate> certificate;
    std::string certificate_error;
};

class object_store {
public:
    explicit object_store(std::string annotations_prefix = "nginx.ingress.kubernetes.io")
        : annotations_prefix_(std::move(annotations_prefix))
    {
    }

    // Returns the key of the object the change names. Throws nothing: a bad object becomes a
    // diagnostic and the previous version stays.
    void apply(const object_change& change);

    // Reads the identity (kind, namespace, name) of a raw object; false with `error` set when the
    // object does not say what it is.
    static bool identify(const nlohmann::json& object, object_key& key, std::string& error);

    const std::map<object_key, stored_object>& objects() const { return objects_; }
    const std::map<object_key, diagnostic>& diagnostics() const { return diagnostics_; }

    const stored_object* find_stored(k8s::kind kind, const std::string& ns, const std::string& name) const
    {
        auto it = objects_.find(object_key{kind, ns, name});
        return it == objects_.end() ? nullptr : &it->second;
    }

    template <class T>
    const T* find(k8s::kind kind, const std::string& ns, const std::string& name) const
    {
        auto it = objects_.find(object_key{kind, ns, name});
        return it == objects_.end() ? nullptr : std::get_if<T>(&it->second.object);
    }

private:
    std::string annotations_prefix_;
    std::map<object_key, stored_object> objects_;
    std::map<object_key, diagnostic> diagnostics_;
};

}  // namespace sluice
