#include "controller/object_store.hpp"

#include "annotations/registry.hpp"
#include "controller/log.hpp"

namespace sluice {

std::string object_key::str() const
{
    std::string s(k8s::kind_name(kind));
    s += ' ';
    if (!ns.empty()) {
        s += ns;
        s += '/';
    }
    s += name;
    return s;
}

bool object_store::identify(const nlohmann::json& object, object_key& key, std::string& error)
{
    if (!object.is_object()) {
        error = "a manifest must be a map";
        return false;
    }
    auto kind_it = object.find("kind");
    if (kind_it == object.end() || !kind_it->is_string()) {
        error = "kind is missing";
        return false;
    }
    auto kind = k8s::kind_from_name(kind_it->get<std::string>());
    if (!kind) {
        error = "kind " + kind_it->get<std::string>() + " is not one sluice reads";
        return false;
    }
    key.kind = *kind;
    key.ns.clear();
    key.name.clear();
    auto md = object.find("metadata");
    if (md != object.end() && md->is_object()) {
        if (auto n = md->find("name"); n != md->end() && n->is_string())
            key.name = n->get<std::string>();
        if (auto ns = md->find("namespace"); ns != md->end() && ns->is_string())
            key.ns = ns->get<std::string>();
    }
    if (key.name.empty()) {
        error = std::string(k8s::kind_name(*kind)) + ": metadata.name is missing";
        return false;
    }
    if (k8s::is_namespaced(*kind)) {
        if (key.ns.empty())
            key.ns = "default";
    } else {
        key.ns.clear();
    }
    return true;
}

void object_store::apply(const object_change& change)
{
    if (!change.object) {
        objects_.erase(change.key);
        diagnostics_.erase(change.key);
        return;
    }
    try {
        k8s::any_object decoded = k8s::decode(change.key.kind, *change.object);
        std::shared_ptr<const annotations::ingress_annotations> parsed;
        if (const auto* ing = std::get_if<k8s::ingress>(&decoded))
            parsed = std::make_shared<annotations::ingress_annotations>(
                annotations::parse_ingress_annotations(ing->meta.annotations, annotations_prefix_));
        stored_object stored{std::move(decoded), change.origin, std::move(parsed), nullptr, {}};
        if (const auto* sec = std::get_if<k8s::secret>(&stored.object); sec && sec->data.contains("tls.crt")) {
            auto key = sec->data.find("tls.key");
            if (key == sec->data.end())
                stored.certificate_error = "has tls.crt but no tls.key";
            else
                stored.certificate = tls::certificate::from_pem(sec->data.at("tls.crt"), key->second, stored.certificate_error);
        }
        objects_.insert_or_assign(change.key, std::move(stored));
        diagnostics_.erase(change.key);
    } catch (const k8s::decode_error& e) {
        bool kept = objects_.contains(change.key);
        diagnostic d{change.key.str() + " (" + change.origin + ")", e.field,
                     std::string(e.what()) + (kept ? "; keeping the last valid version" : "; object ignored")};
        log_warning(d.str());
        diagnostics_.insert_or_assign(change.key, std::move(d));
    }
}

}  // namespace sluice
