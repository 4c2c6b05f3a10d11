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
    auto backend = reader.string("default-backend", is_service_name, "a Service name");
    if (backend.ok())
        out.proxy.default_backend = backend.value;
}

}  // namespace sluice::annotations
