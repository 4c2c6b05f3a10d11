#include "annotations/tls.hpp"

namespace sluice::annotations {
namespace {

std::optional<bool> optional_bool(annotation_reader& reader, std::string_view name)
{
    auto v = reader.boolean(name);
    return v.ok() ? std::optional<bool>(v.value) : std::nullopt;
}

// proxy-ssl-verify and proxy-ssl-server-name take nginx's "on"/"off".
std::optional<bool> on_off(annotation_reader& reader, std::string_view name)
{
    auto raw = reader.raw(name);
    if (!raw)
        return std::nullopt;
    if (*raw == "on")
        return true;
    if (*raw == "off")
        return false;
    reader.invalid(name, "\"" + std::string(*raw) + "\" is neither on nor off; off is used");
    return std::nullopt;
}

bool is_secret_reference(std::string_view s)
{
    // "name" or "namespace/name", DNS-1123 characters.
    if (s.empty() || s.size() > 253 + 64)
        return false;
    int slashes = 0;
    for (char c : s) {
        if (c == '/')
            ++slashes;
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return false;
    }
    return slashes <= 1 && s.front() != '/' && s.back() != '/';
}

}  // namespace

void parse_ssl_redirect(annotation_reader& reader, ingress_annotations& out)
{
    out.ssl.ssl_redirect = optional_bool(reader, "ssl-redirect");
    out.ssl.force_ssl_redirect = optional_bool(reader, "force-ssl-redirect");
    out.ssl.preserve_trailing_slash = optional_bool(reader, "preserve-trailing-slash");
    out.ssl.use_port_in_redirects = optional_bool(reader, "use-port-in-redirects");
}

void parse_backend_tls(annotation_reader& reader, ingress_annotations& out)
{
    if (auto protocol = reader.raw("backend-protocol")) {
        std::string upper;
        for (char c : *protocol)
            upper.push_back((c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c);
        if (upper == "HTTPS")
            out.backend_tls.https = true;
        else if (upper == "GRPC" || upper == "GRPCS" || upper == "FCGI" || upper == "AUTO_HTTP")
            reader.invalid("backend-protocol", upper + " is not supported by sluice yet; HTTP is used");
        else if (upper != "HTTP")
            reader.invalid("backend-protocol", "\"" + std::string(*protocol) +
                                                   "\" is not one of HTTP, HTTPS, AUTO_HTTP, GRPC, GRPCS, FCGI; HTTP is used");
    }
    out.backend_tls.verify = on_off(reader, "proxy-ssl-verify").value_or(false);
    out.backend_tls.server_name = on_off(reader, "proxy-ssl-server-name").value_or(false);
    auto depth = reader.integer("proxy-ssl-verify-depth");
    if (depth.ok()) {
        if (depth.value < 0 || depth.value > 100)
            reader.invalid("proxy-ssl-verify-depth", std::to_string(depth.value) + " is out of range 0-100; 1 is used");
        else
            out.backend_tls.verify_depth = static_cast<uint32_t>(depth.value);
    }
    auto name = reader.string("proxy-ssl-name", is_host_with_port, "a host name");
    if (name.ok())
        out.backend_tls.name = name.value;
    auto secret = reader.string("proxy-ssl-secret", is_secret_reference, "a Secret name or namespace/name");
    if (secret.ok())
        out.backend_tls.secret = secret.value;
}

}  // namespace sluice::annotations
