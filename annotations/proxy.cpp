#include "annotations/proxy.hpp"

#include "controller/global_settings.hpp"

namespace sluice::annotations {
namespace {

bool is_service_name(std::string_view s)
{
    if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-')
        return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    return true;
}

// "name" or "namespace/name" of Kubernetes objects (DNS labels).
bool is_reference(std::string_view s)
{
    auto slash = s.find('/');
    if (slash == std::string_view::npos)
        return is_service_name(s);
    return is_service_name(s.substr(0, slash)) && is_service_name(s.substr(slash + 1));
}

}  // namespace

void parse_proxy(annotation_reader& reader, ingress_annotations& out)
{
    auto seconds = [&](const char* name, std::optional<std::chrono::milliseconds>& into) {
        auto v = reader.integer(name);
        if (!v.ok())
            return;
        if (v.value <= 0 || v.value > 86400 * 7) {
            reader.invalid(name, std::to_string(v.value) + " is not a timeout in seconds (1-604800); ignored");
            return;
        }
        into = std::chrono::seconds(v.value);
    };
    seconds("proxy-connect-timeout", out.proxy.connect_timeout);
    seconds("proxy-send-timeout", out.proxy.send_timeout);
    seconds("proxy-read-timeout", out.proxy.read_timeout);
    if (auto size = reader.size("proxy-body-size"); size.ok())
        out.proxy.body_size = size.value;
    if (auto size = reader.size("client-body-buffer-size"); size.ok())
        out.proxy.client_body_buffer_size = size.value;
    if (auto tries = reader.integer("proxy-next-upstream-tries"); tries.ok()) {
        if (tries.value < 0 || tries.value > 1000)
            reader.invalid("proxy-next-upstream-tries", std::to_string(tries.value) + " is out of range (0-1000); ignored");
        else
            out.proxy.next_upstream_tries = static_cast<uint32_t>(tries.value);
    }
    if (auto log = reader.boolean("enable-access-log"); log.ok())
        out.proxy.access_log = log.value;
    if (auto codes = reader.raw("custom-http-errors")) {
        if (auto list = parse_status_list(*codes))
            out.proxy.custom_errors = std::move(*list);
        else
            reader.invalid("custom-http-errors", "\"" + std::string(*codes) +
                                                     "\" is not a comma-separated list of statuses 400-599; ignored");
    }
    auto configmap = reader.string("custom-headers", is_reference, "a ConfigMap name or namespace/name");
    if (configmap.ok())
        out.proxy.custom_headers = configmap.value;
    auto on_off = [&](const char* name, std::optional<bool>& into) {
        if (auto v = reader.raw(name)) {
            if (*v == "on" || *v == "off")
                into = *v == "on";
            else
                reader.invalid(name, "\"" + std::string(*v) + "\" is not on or off; ignored");
        }
    };
    on_off("proxy-buffering", out.proxy.buffering);
    on_off("proxy-request-buffering", out.proxy.request_buffering);
    auto backend = reader.string("default-backend", is_service_name, "a Service name");
    if (backend.ok())
        out.proxy.default_backend = backend.value;
}

}  // namespace sluice::annotations
