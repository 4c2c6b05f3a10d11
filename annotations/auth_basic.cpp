#include "annotations/auth_basic.hpp"

namespace sluice::annotations {
namespace {

bool is_secret_ref(std::string_view s)
{
    // "name" or "namespace/name": DNS-1123 characters.
    size_t slashes = 0;
    for (char c : s) {
        if (c == '/')
            ++slashes;
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return false;
    }
    return !s.empty() && slashes <= 1 && s.front() != '/' && s.back() != '/';
}

// ingress-nginx's CharsWithSpace: alphanumerics, -._~/: and space.
bool is_realm(std::string_view s)
{
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("-._~/: ").find(c) != std::string_view::npos))
            return false;
    return true;
}

}  // namespace

void parse_auth_basic(annotation_reader& reader, ingress_annotations& out)
{
    auto type = reader.raw("auth-type");
    auto secret = reader.string("auth-secret", is_secret_ref, "a Secret name or namespace/name");
    auto secret_type = reader.raw("auth-secret-type");
    auto realm = reader.string("auth-realm", is_realm, "letters, digits, spaces and -._~/:");
    if (!type) {
        if (secret.state != value_state::absent)
            reader.invalid("auth-secret", "set without auth-type; no authentication is applied (as ingress-nginx)");
        return;
    }
    auth_basic_config c;
    c.enabled = true;
    // Misconfigured authentication denies the location (503) rather than serving it unprotected.
    if (*type == "digest") {
        c.denied = "auth-type digest is not supported by sluice";
    } else if (*type != "basic") {
        c.denied = "auth-type must be basic or digest, not \"" + std::string(*type) + "\"";
    } else if (!secret.ok()) {
        c.denied = "auth-secret is missing or invalid";
    }
    if (c.denied.empty()) {
        c.secret = secret.value;
        if (secret_type && *secret_type == "auth-map")
            c.map = true;
        else if (secret_type && *secret_type != "auth-file")
            c.denied = "auth-secret-type must be auth-file or auth-map, not \"" + std::string(*secret_type) + "\"";
    }
    if (realm.ok())
        c.realm = realm.value;
    if (!c.denied.empty())
        reader.invalid("auth-type", c.denied + "; the location answers 503");
    out.auth_basic = std::move(c);
}

}  // namespace sluice::annotations
