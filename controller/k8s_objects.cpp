#include "controller/k8s_objects.hpp"

#include <nlohmann/json.hpp>

namespace sluice::k8s {
namespace {

using json = nlohmann::json;

// A cursor into the object that remembers its JSON path for error messages.
class field {
public:
    field(const json& value, std::string path) : value_(value), path_(std::move(path)) {}

    const json& value() const { return value_; }
    const std::string& path() const { return path_; }
    bool is_null() const { return value_.is_null(); }

    [[noreturn]] void fail(const std::string& reason) const { throw decode_error(path_, reason); }

    std::optional<field> member(const char* name) const
    {
        if (value_.is_null())
            return std::nullopt;
        if (!value_.is_object())
            fail("must be an object");
        auto it = value_.find(name);
        if (it == value_.end() || it->is_null())
            return std::nullopt;
        return field(*it, path_.empty() ? std::string(name) : path_ + "." + name);
    }

    template <class F>
    void for_each_item(F&& f) const
    {
        if (value_.is_null())
            return;
        if (!value_.is_array())
            fail("must be a list");
        for (size_t i = 0; i < value_.size(); ++i)
            f(field(value_[i], path_ + "[" + std::to_string(i) + "]"));
    }

    // Scalars written without quotes in YAML arrive as numbers or booleans; a string field
    // takes them as text, as kubectl's YAML-to-JSON conversion would not, but users expect.
    std::string as_string() const
    {
        if (value_.is_string())
            return value_.get<std::string>();
        if (value_.is_boolean())
            return value_.get<bool>() ? "true" : "false";
        if (value_.is_number_integer())
            return std::to_string(value_.get<int64_t>());
        if (value_.is_number())
            return value_.dump();
        fail("must be a string");
    }

    int32_t as_int32() const
    {
        if (!value_.is_number_integer())
            fail("must be an integer");
        int64_t v = value_.get<int64_t>();
        if (v < INT32_MIN || v > INT32_MAX)
            fail("is out of range");
        return static_cast<int32_t>(v);
    }

    bool as_bool() const
    {
        if (!value_.is_boolean())
            fail("must be true or false");
        return value_.get<bool>();
    }

    std::map<std::string, std::string> as_string_map() const
    {
        std::map<std::string, std::string> out;
        if (value_.is_null())
            return out;
        if (!value_.is_object())
            fail("must be a map of strings");
        for (auto it = value_.begin(); it != value_.end(); ++it)
            out[it.key()] = field(it.value(), path_ + "." + it.key()).as_string();
        return out;
    }

private:
    const json& value_;
    std::string path_;
};

std::string opt_string(const field& f, const char* name)
{
    auto m = f.member(name);
    return m ? m->as_string() : std::string();
}

object_meta decode_meta(const field& root, bool namespaced)
{
    object_meta meta;
    auto md = root.member("metadata");
    if (!md)
        root.fail("metadata is required");
    meta.name = opt_string(*md, "name");
    if (meta.name.empty())
        md->fail("name is required");
    if (namespaced) {
        meta.ns = opt_string(*md, "namespace");
        if (meta.ns.empty())
            meta.ns = "default";
    }
    meta.uid = opt_string(*md, "uid");
    meta.resource_version = opt_string(*md, "resourceVersion");
    meta.creation_timestamp = opt_string(*md, "creationTimestamp");
    if (auto l = md->member("labels"))
        meta.labels = l->as_string_map();
    if (auto a = md->member("annotations"))
        meta.annotations = a->as_string_map();
    return meta;
}

int_or_string decode_int_or_string(const field& f)
{
    if (f.value().is_number_integer())
        return int_or_string{f.as_int32()};
    if (f.value().is_string()) {
        const std::string& s = f.value().get_ref<const std::string&>();
        if (s.empty())
            f.fail("must not be empty");
        return int_or_string{s};
    }
    f.fail("must be a port number or a port name");
}

ingress_backend decode_ingress_backend(const field& f)
{
    ingress_backend b;
    if (auto svc = f.member("service")) {
        b.has_service = true;
        b.service_name = opt_string(*svc, "name");
        if (b.service_name.empty())
            svc->fail("name is required");
        auto port = svc->member("port");
        if (!port)
            svc->fail("port is required");
        auto number = port->member("number");
        auto name = port->member("name");
        if (number && name)
            port->fail("set number or name, not both");
        if (number) {
            int32_t n = number->as_int32();
            if (n < 1 || n > 65535)
                number->fail("must be between 1 and 65535");
            b.service_port.number = n;
        } else if (name) {
            b.service_port.name = name->as_string();
        } else {
            port->fail("number or name is required");
        }
    }
    if (f.member("resource"))
        b.has_resource = true;
    if (b.has_service && b.has_resource)
        f.fail("set service or resource, not both");
    if (!b.has_service && !b.has_resource)
        f.fail("service is required");
    return b;
}

path_type decode_path_type(const field& f)
{
    std::string s = f.as_string();
    if (s == "Exact")
        return path_type::exact;
    if (s == "Prefix")
        return path_type::prefix;
    if (s == "ImplementationSpecific")
        return path_type::implementation_specific;
    f.fail("must be Exact, Prefix or ImplementationSpecific, not \"" + s + "\"");
}

ingress_class decode_ingress_class(const json& object)
{
    field root(object, "");
    ingress_class c;
    c.meta = decode_meta(root, false);
    if (auto spec = root.member("spec"))
        c.controller = opt_string(*spec, "controller");
    auto it = c.meta.annotations.find("ingressclass.kubernetes.io/is-default-class");
    c.is_default = it != c.meta.annotations.end() && it->second == "true";
    return c;
}

endpoint_port decode_endpoint_port(const field& f)
{
    endpoint_port p;
    p.name = opt_string(f, "name");
    if (auto port = f.member("port"))
        p.port = port->as_int32();
    if (auto proto = f.member("protocol"))
        p.protocol = proto->as_string();
    return p;
}

endpoints decode_endpoints(const json& object)
{
    field root(object, "");
    endpoints e;
    e.meta = decode_meta(root, true);
    if (auto subsets = root.member("subsets")) {
        subsets->for_each_item([&](const field& s) {
            endpoints_subset sub;
            if (auto a = s.member("addresses"))
                a->for_each_item([&](const field& addr) { sub.addresses.push_back(opt_string(addr, "ip")); });
            if (auto a = s.member("notReadyAddresses"))
                a->for_each_item([&](const field& addr) { sub.not_ready_addresses.push_back(opt_string(addr, "ip")); });
            if (auto p = s.member("ports"))
                p->for_each_item([&](const field& port) { sub.ports.push_back(decode_endpoint_port(port)); });
            e.subsets.push_back(std::move(sub));
        });
    }
    return e;
}

secret decode_secret(const json& object)
{
    field root(object, "");
    secret s;
    s.meta = decode_meta(root, true);
    s.type = opt_string(root, "type");
    if (auto data = root.member("data")) {
        for (auto& [key, encoded] : data->as_string_map()) {
            std::string decoded;
            if (!base64_decode(encoded, decoded))
                throw decode_error(data->path() + "." + key, "is not valid base64");
            s.data[key] = std::move(decoded);
        }
    }
    // The API server merges stringData over data; so do we.
    if (auto sd = root.member("stringData"))
        for (auto& [key, value] : sd->as_string_map())
            s.data[key] = value;
    return s;
}

config_map decode_config_map(const json& object)
{
    field root(object, "");
    config_map c;
    c.meta = decode_meta(root, true);
    if (auto data = root.member("data"))
        c.data = data->as_string_map();
    return c;
}

}  // namespace

ingress decode_ingress(const json& object)
{
    field root(object, "");
    ingress ing;
    ing.meta = decode_meta(root, true);
    // The status is what sluice itself writes; it is read leniently and never refuses an object.
    if (auto status = object.find("status"); status != object.end() && status->is_object()) {
        const json& lb = status->value("loadBalancer", json::object());
        if (lb.is_object() && lb.contains("ingress") && lb["ingress"].is_array())
            for (const auto& e : lb["ingress"])
                if (e.is_object())
                    ing.status_addresses.push_back(e.contains("ip") ? e.value("ip", "") : e.value("hostname", ""));
    }
    auto spec = root.member("spec");
    if (!spec)
        return ing;
    if (auto cls = spec->member("ingressClassName"))
        ing.ingress_class_name = cls->as_string();
    if (auto db = spec->member("defaultBackend"))
        ing.default_backend = decode_ingress_backend(*db);
    if (auto rules = spec->member("rules")) {
        rules->for_each_item([&](const field& r) {
            ingress_rule rule;
            rule.host = opt_string(r, "host");
            if (auto http = r.member("http")) {
                auto paths = http->member("paths");
                if (!paths)
                    http->fail("paths is required");
                paths->for_each_item([&](const field& p) {
                    http_ingress_path path;
                    path.path = opt_string(p, "path");
                    auto type = p.member("pathType");
                    if (!type)
                        p.fail("pathType is required");
                    path.type = decode_path_type(*type);
                    auto backend = p.member("backend");
                    if (!backend)
                        p.fail("backend is required");
                    path.backend = decode_ingress_backend(*backend);
                    rule.paths.push_back(std::move(path));
                });
            }
            ing.rules.push_back(std::move(rule));
        });
    }
    if (auto tls = spec->member("tls")) {
        tls->for_each_item([&](const field& t) {
            ingress_tls entry;
            if (auto hosts = t.member("hosts"))
                hosts->for_each_item([&](const field& h) { entry.hosts.push_back(h.as_string()); });
            entry.secret_name = opt_string(t, "secretName");
            ing.tls.push_back(std::move(entry));
        });
    }
    return ing;
}

service decode_service(const json& object)
{
    field root(object, "");
    service svc;
    svc.meta = decode_meta(root, true);
    auto spec = root.member("spec");
    if (!spec)
        return svc;
    if (auto t = spec->member("type"))
        svc.type = t->as_string();
    svc.cluster_ip = opt_string(*spec, "clusterIP");
    svc.external_name = opt_string(*spec, "externalName");
    if (auto ports = spec->member("ports")) {
        ports->for_each_item([&](const field& p) {
            service_port sp;
            sp.name = opt_string(p, "name");
            if (auto proto = p.member("protocol"))
                sp.protocol = proto->as_string();
            auto port = p.member("port");
            if (!port)
                p.fail("port is required");
            sp.port = port->as_int32();
            if (sp.port < 1 || sp.port > 65535)
                port->fail("must be between 1 and 65535");
            if (auto tp = p.member("targetPort"))
                sp.target_port = decode_int_or_string(*tp);
            svc.ports.push_back(std::move(sp));
        });
    }
    return svc;
}

endpoint_slice decode_endpoint_slice(const json& object)
{
    field root(object, "");
    endpoint_slice es;
    es.meta = decode_meta(root, true);
    auto it = es.meta.labels.find("kubernetes.io/service-name");
    if (it != es.meta.labels.end())
        es.service_name = it->second;
    es.address_type = opt_string(root, "addressType");
    if (auto ports = root.member("ports"))
        ports->for_each_item([&](const field& p) { es.ports.push_back(decode_endpoint_port(p)); });
    if (auto eps = root.member("endpoints")) {
        eps->for_each_item([&](const field& e) {
            slice_endpoint ep;
            if (auto a = e.member("addresses"))
                a->for_each_item([&](const field& addr) { ep.addresses.push_back(addr.as_string()); });
            if (auto cond = e.member("conditions")) {
                if (auto r = cond->member("ready"))
                    ep.ready = r->as_bool();
                if (auto s = cond->member("serving"))
                    ep.serving = s->as_bool();
                if (auto t = cond->member("terminating"))
                    ep.terminating = t->as_bool();
            }
            es.endpoints.push_back(std::move(ep));
        });
    }
    return es;
}

std::optional<kind> kind_from_name(std::string_view k)
{
    if (k == "Ingress")
        return kind::ingress;
    if (k == "IngressClass")
        return kind::ingress_class;
    if (k == "Service")
        return kind::service;
    if (k == "EndpointSlice")
        return kind::endpoint_slice;
    if (k == "Endpoints")
        return kind::endpoints;
    if (k == "Secret")
        return kind::secret;
    if (k == "ConfigMap")
        return kind::config_map;
    return std::nullopt;
}

std::string_view kind_name(kind k)
{
    switch (k) {
    case kind::ingress: return "Ingress";
    case kind::ingress_class: return "IngressClass";
    case kind::service: return "Service";
    case kind::endpoint_slice: return "EndpointSlice";
    case kind::endpoints: return "Endpoints";
    case kind::secret: return "Secret";
    case kind::config_map: return "ConfigMap";
    }
    return "?";
}

bool is_namespaced(kind k) { return k != kind::ingress_class; }

any_object decode(kind k, const json& object)
{
    switch (k) {
    case kind::ingress: return decode_ingress(object);
    case kind::ingress_class: return decode_ingress_class(object);
    case kind::service: return decode_service(object);
    case kind::endpoint_slice: return decode_endpoint_slice(object);
    case kind::endpoints: return decode_endpoints(object);
    case kind::secret: return decode_secret(object);
    case kind::config_map: return decode_config_map(object);
    }
    throw decode_error("kind", "unsupported kind");
}

bool base64_decode(std::string_view in, std::string& out)
{
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    out.clear();
    out.reserve(in.size() / 4 * 3);
    uint32_t acc = 0;
    int bits = 0;
    size_t padding = 0;
    for (char c : in) {
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
            continue;
        if (c == '=') {
            ++padding;
            continue;
        }
        if (padding)
            return false;  // data after padding
        int v = value(c);
        if (v < 0)
            return false;
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    return bits < 6 && padding <= 2;
}

}  // namespace sluice::k8s
