#include "annotations/access.hpp"

#include "proxy/client_address.hpp"
#include "proxy/text.hpp"

namespace sluice::annotations {
namespace {

// cors-allow-methods: ^([A-Za-z]+,?\s?)+$ ; cors-allow-headers: ^([A-Za-z0-9\-\_]+,?\s?)+$ ;
// cors-expose-headers also allows '*'.
bool is_method_list(std::string_view s) { return only_chars(s, ", "); }
bool is_header_list(std::string_view s) { return only_chars(s, "-_, "); }
bool is_expose_list(std::string_view s) { return only_chars(s, "-_, *"); }

// An origin as cors-allow-origin takes it: scheme://host[:port], where the host may start with
// one "*." label wildcard.
bool is_origin(std::string_view o)
{
    std::string_view rest;
    if (o.starts_with("http://"))
        rest = o.substr(7);
    else if (o.starts_with("https://"))
        rest = o.substr(8);
    else
        return false;
    if (rest.starts_with("*."))
        rest.remove_prefix(2);
    auto colon = rest.find(':');
    if (!only_chars(rest.substr(0, colon), "-."))
        return false;
    if (colon != std::string_view::npos) {
        std::string_view port = rest.substr(colon + 1);
        if (port.empty() || port.size() > 5)
            return false;
        for (char c : port)
            if (c < '0' || c > '9')
                return false;
    }
    return true;
}

}  // namespace

std::optional<std::vector<std::string>> parse_cidr_list(std::string_view list, std::string& error)
{
    std::vector<std::string> out;
    for (auto item : split_list(list)) {
        if (!ip_network::parse(item)) {
            error = "\"" + std::string(item) + "\" is not an IP address or CIDR";
            return std::nullopt;
        }
        out.emplace_back(item);
    }
    return out;
}

void parse_access(annotation_reader& reader, ingress_annotations& out)
{
    access_config& a = out.access;
    auto cidrs = [&](const char* name, const char* alias, std::optional<std::vector<std::string>>& into) {
        const char* used = name;
        auto v = reader.raw(name);
        if (auto old = reader.raw(alias); !v && old) {
            v = old;
            used = alias;
        }
        if (!v)
            return;
        std::string error;
        if (auto list = parse_cidr_list(*v, error)) {
            into = std::move(*list);
        } else {
            // Fail closed, as ingress-nginx's LocationDenied: never open a location a typo was
            // meant to restrict.
            reader.invalid(used, error + "; the location answers 503 until it is fixed");
            a.error = reader.full_name(used) + ": " + error;
        }
    };
    cidrs("allowlist-source-range", "whitelist-source-range", a.allow);
    cidrs("denylist-source-range", "denylist-source-range", a.deny);
    auto count = [&](const char* name, uint32_t& into) {
        auto v = reader.integer(name);
        if (!v.ok())
            return;
        if (v.value < 0 || v.value > 1'000'000'000)
            reader.invalid(name, std::to_string(v.value) + " is out of range; ignored");
        else
            into = static_cast<uint32_t>(v.value);
    };
    count("limit-connections", a.connections);
    count("limit-rps", a.rps);
    count("limit-rpm", a.rpm);
    uint32_t multiplier = a.burst_multiplier;
    count("limit-burst-multiplier", multiplier);
    if (multiplier > 0)
        a.burst_multiplier = multiplier;
    std::optional<std::vector<std::string>> exempt;
    cidrs("limit-allowlist", "limit-whitelist", exempt);
    if (exempt)
        a.limit_exempt = std::move(*exempt);
}

void parse_cors(annotation_reader& reader, ingress_annotations& out)
{
    cors_config& c = out.cors;
    if (auto on = reader.boolean("enable-cors"); on.ok())
        c.enabled = on.value;
    if (auto v = reader.raw("cors-allow-origin")) {
        std::vector<std::string> origins;
        bool ok = true;
        for (auto item : split_list(*v)) {
            if (item == "*" || is_origin(item)) {
                origins.emplace_back(item);
            } else {
                reader.invalid("cors-allow-origin", "\"" + std::string(item) +
                                                        "\" is not an origin (scheme://host[:port], or *); ignored");
                ok = false;
            }
        }
        // Valid entries are kept, as ingress-nginx does; with none left the default "*" stays.
        if (!origins.empty())
            c.origins = std::move(origins);
        (void)ok;
    }
    if (auto v = reader.string("cors-allow-methods", is_method_list, "a comma-separated list of methods"); v.ok())
        c.methods = v.value;
    if (auto v = reader.string("cors-allow-headers", is_header_list, "a comma-separated list of header names"); v.ok())
        c.headers = v.value;
    if (auto v = reader.string("cors-expose-headers", is_expose_list, "a comma-separated list of header names or *"); v.ok())
        c.expose_headers = v.value;
    if (auto v = reader.boolean("cors-allow-credentials"); v.ok())
        c.credentials = v.value;
    if (auto v = reader.integer("cors-max-age"); v.ok()) {
        if (v.value < 0)
            reader.invalid("cors-max-age", "a negative max age; ignored");
        else
            c.max_age = static_cast<uint64_t>(v.value);
    }
}

}  // namespace sluice::annotations
