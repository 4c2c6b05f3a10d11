#include "controller/global_settings.hpp"

#include <charconv>
#include <algorithm>
#include <functional>

#include "proxy/access_control.hpp"
#include "proxy/access_log.hpp"
#include "proxy/text.hpp"
#include "tls/settings.hpp"

namespace sluice {
namespace {

std::string_view trim(std::string_view s) { return trim_ows(s); }

std::optional<uint64_t> parse_uint(std::string_view s)
{
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty())
        return std::nullopt;
    return v;
}

std::optional<bool> parse_bool(std::string_view s)
{
    if (s == "true" || s == "True" || s == "TRUE")
        return true;
    if (s == "false" || s == "False" || s == "FALSE")
        return false;
    return std::nullopt;
}

}  // namespace

std::optional<uint64_t> parse_nginx_size(std::string_view s)
{
    s = trim(s);
    if (s.empty())
        return std::nullopt;
    uint64_t mult = 1;
    switch (s.back()) {
    case 'k': case 'K': mult = 1024; break;
    case 'm': case 'M': mult = 1024 * 1024; break;
    case 'g': case 'G': mult = 1024ull * 1024 * 1024; break;
    default: break;
    }
    if (mult != 1)
        s.remove_suffix(1);
    auto v = parse_uint(s);
    if (!v || *v > UINT64_MAX / mult)
        return std::nullopt;
    return *v * mult;
}

std::optional<std::chrono::milliseconds> parse_nginx_time(std::string_view s)
{
    s = trim(s);
    if (s.empty())
        return std::nullopt;
    uint64_t mult = 1000;
    if (s.size() > 2 && s.substr(s.size() - 2) == "ms") {
        mult = 1;
        s.remove_suffix(2);
    } else {
        switch (s.back()) {
        case 's': mult = 1000; s.remove_suffix(1); break;
        case 'm': mult = 60'000; s.remove_suffix(1); break;
        case 'h': mult = 3'600'000; s.remove_suffix(1); break;
        default: break;
        }
    }
    auto v = parse_uint(s);
    if (!v || *v > (uint64_t{1} << 40) / mult)
        return std::nullopt;
    return std::chrono::milliseconds(*v * mult);
}

std::optional<std::vector<uint16_t>> parse_status_list(std::string_view s)
{
    std::vector<uint16_t> out;
    for (auto item : split_list(s)) {
        auto n = parse_uint(item);
        if (!n || *n < 400 || *n > 599)
            return std::nullopt;
        out.push_back(static_cast<uint16_t>(*n));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

void apply_configmap(const std::map<std::string, std::string>& data, const std::string& configmap_name,
                     global_settings& settings, location_policy& loc, std::vector<diagnostic>& diagnostics)
{
    using setter = std::function<bool(std::string_view)>;
    auto time_into = [](std::chrono::milliseconds& out) {
        return setter([&out](std::string_view v) {
            auto t = parse_nginx_time(v);
            if (t)
                out = *t;
            return t.has_value();
        });
    };
    auto count_into = [](uint32_t& out) {
        return setter([&out](std::string_view v) {
            auto n = parse_uint(trim(v));
            if (!n || *n > UINT32_MAX)
                return false;
            out = static_cast<uint32_t>(*n);
            return true;
        });
    };
    auto bool_into = [](bool& out) {
        return setter([&out](std::string_view v) {
            auto b = parse_bool(trim(v));
            if (b)
                out = *b;
            return b.has_value();
        });
    };
    auto status_into = [](unsigned& out) {
        return setter([&out](std::string_view v) {
            auto n = parse_uint(trim(v));
            if (!n || *n < 200 || *n > 599)
                return false;
            out = static_cast<unsigned>(*n);
            return true;
        });
    };
    // "namespace/name" of another ConfigMap (a bare name is in this ConfigMap's namespace).
    auto reference_into = [&](std::string& out) {
        return setter([&out, &configmap_name](std::string_view v) {
            v = trim(v);
            if (v.empty() || v.find_first_of(" \t") != std::string_view::npos || v.find('/') != v.rfind('/'))
                return false;
            out = v.find('/') == std::string_view::npos
                      ? configmap_name.substr(0, configmap_name.find('/')) + "/" + std::string(v)
                      : std::string(v);
            return true;
        });
    };
    // whitelist-source-range and denylist-source-range: the defaults of every location.
    auto set_networks = [&](std::string_view v, bool allow) {
        auto nets = ip_network::parse_list(v);
        if (!nets)
            return false;
        auto rules = std::make_shared<access_rules>(loc.access ? *loc.access : access_rules{});
        (allow ? rules->allow : rules->deny) = std::move(*nets);
        loc.access = rules;
        return true;
    };
    // Values that have more to say than "invalid" report their own diagnostic.
    auto report = [&](std::string_view key, const std::string& why) {
        diagnostics.push_back({"ConfigMap " + configmap_name, "data." + std::string(key), why + "; default kept"});
    };
    const std::map<std::string_view, setter> keys = {
        {"proxy-connect-timeout", time_into(loc.connect_timeout)},
        {"proxy-read-timeout", time_into(loc.read_timeout)},
        {"proxy-send-timeout", time_into(loc.send_timeout)},
        {"proxy-body-size",
         [&](std::string_view v) {
             auto n = parse_nginx_size(v);
             if (n)
                 loc.max_body_size = *n;
             return n.has_value();
         }},
        {"proxy-next-upstream-tries", count_into(loc.next_upstream_tries)},
        {"client-header-timeout", time_into(settings.client_header_timeout)},
        {"client-body-timeout", time_into(settings.client_body_timeout)},
        {"keep-alive", time_into(settings.keepalive_timeout)},
        {"keep-alive-requests", count_into(settings.keepalive_requests)},
        {"max-worker-connections", count_into(settings.max_worker_connections)},
        {"upstream-keepalive-connections", count_into(settings.upstream_keepalive_connections)},
        {"upstream-keepalive-timeout", time_into(settings.upstream_keepalive_timeout)},
        {"upstream-keepalive-requests", count_into(settings.upstream_keepalive_requests)},
        {"large-client-header-buffers",
         [&](std::string_view v) {
             // "<number> <size>": the total header budget is number × size.
             v = trim(v);
             auto space = v.find(' ');
             if (space == std::string_view::npos)
                 return false;
             auto n = parse_uint(v.substr(0, space));
             auto size = parse_nginx_size(v.substr(space + 1));
             if (!n || !size || *n == 0 || *size == 0 || *n * *size > 16 * 1024 * 1024)
                 return false;
             settings.header_limit = static_cast<uint32_t>(*n * *size);
             settings.request_line_limit = static_cast<uint32_t>(*size);
             return true;
         }},
        {"allow-cross-namespace-resources", bool_into(settings.allow_cross_namespace_resources)},
        {"worker-shutdown-timeout", time_into(settings.worker_shutdown_timeout)},
        {"generate-request-id", bool_into(settings.generate_request_id)},
        {"ssl-protocols",
         [&](std::string_view v) {
             std::string error;
             tls::server_settings parsed = settings.tls;
             if (tls::parse_protocols(v, parsed, error))
                 settings.tls = parsed;
             else
                 report("ssl-protocols", "\"" + std::string(v) + "\": " + error);
             return true;
         }},
        {"ssl-ciphers",
         [&](std::string_view v) {
             std::string error, ciphers(trim(v));
             if (tls::valid_cipher_list(ciphers, error))
                 settings.tls.ciphers = ciphers;
             else
                 report("ssl-ciphers", error);
             return true;
         }},
        {"ssl-prefer-server-ciphers", bool_into(settings.tls.prefer_server_ciphers)},
        {"ssl-session-tickets", bool_into(settings.tls.session_tickets)},
        {"ssl-session-timeout",
         [&](std::string_view v) {
             auto t = parse_nginx_time(v);
             if (t)
                 settings.tls.session_timeout = std::chrono::duration_cast<std::chrono::seconds>(*t);
             return t.has_value();
         }},
        {"ssl-redirect", bool_into(loc.ssl_redirect)},
        {"force-ssl-redirect", bool_into(loc.force_ssl_redirect)},
        {"http-redirect-code",
         [&](std::string_view v) {
             auto n = parse_uint(trim(v));
             if (!n || (*n != 301 && *n != 302 && *n != 307 && *n != 308))
                 return false;
             settings.http_redirect_code = static_cast<unsigned>(*n);
             return true;
         }},
        {"use-forwarded-headers", bool_into(settings.forwarding.use_forwarded_headers)},
        {"enable-real-ip", bool_into(settings.forwarding.enable_real_ip)},
        {"compute-full-forwarded-for", bool_into(settings.forwarding.compute_full_forwarded_for)},
        {"forwarded-for-header",
         [&](std::string_view v) {
             v = trim(v);
             if (v.empty() || v.find_first_of(" \t:,;\"") != std::string_view::npos)
                 return false;
             settings.forwarding.forwarded_for_header = std::string(v);
             return true;
         }},
        {"proxy-real-ip-cidr",
         [&](std::string_view v) {
             auto nets = ip_network::parse_list(v);
             if (!nets || nets->empty())
                 return false;
             settings.forwarding.trusted = std::move(*nets);
             return true;
         }},
        {"worker-processes",
         [&](std::string_view v) {
             v = trim(v);
             if (v == "auto") {
                 settings.worker_processes = 0;
                 return true;
             }
             auto n = parse_uint(v);
             if (!n || *n == 0 || *n > 1024)
                 return false;
             settings.worker_processes = static_cast<unsigned>(*n);
             return true;
         }},
        {"proxy-buffer-size",
         [&](std::string_view v) {
             auto n = parse_nginx_size(v);
             if (!n || *n == 0 || *n > 16 * 1024 * 1024)
                 return false;
             settings.upstream_header_limit = std::max<uint32_t>(64 * 1024, static_cast<uint32_t>(*n));
             return true;
         }},
        {"disable-access-log",
         [&](std::string_view v) {
             auto b = parse_bool(trim(v));
             if (b)
                 settings.access_log = !*b;
             return b.has_value();
         }},
        {"log-format-upstream",
         [&](std::string_view v) {
             std::string error;
             if (auto f = log_format::parse(trim(v), error))
                 settings.access_log_format = std::make_shared<log_format>(std::move(*f));
             else
                 report("log-format-upstream", error);
             return true;
         }},
        {"log-format-escape-json",
         [&](std::string_view v) {
             auto b = parse_bool(trim(v));
             if (b && *b)
                 settings.access_log_escape = log_escape::json;
             return b.has_value();
         }},
        {"log-format-escape-none",
         [&](std::string_view v) {
             auto b = parse_bool(trim(v));
             if (b && *b && settings.access_log_escape != log_escape::json)
                 settings.access_log_escape = log_escape::none;
             return b.has_value();
         }},
        {"custom-http-errors",
         [&](std::string_view v) {
             auto codes = parse_status_list(v);
             if (!codes)
                 return false;
             loc.custom_errors = std::move(*codes);
             return true;
         }},
        {"whitelist-source-range", [&](std::string_view v) { return set_networks(v, true); }},
        {"denylist-source-range", [&](std::string_view v) { return set_networks(v, false); }},
        {"limit-req-status-code", status_into(settings.limit_req_status)},
        {"limit-conn-status-code", status_into(settings.limit_conn_status)},
        {"proxy-set-headers", reference_into(settings.proxy_set_headers)},
        {"add-headers", reference_into(settings.add_headers)},
        {"global-allowed-response-headers",
         [&](std::string_view v) {
             settings.allowed_response_headers.clear();
             for (auto name : split_list(v))
                 settings.allowed_response_headers.emplace_back(name);
             return true;
         }},
        {"load-balance",
         [&](std::string_view v) {
             v = trim(v);
             if (v == "round_robin")
                 loc.balance.kind = balance_kind::round_robin;
             else if (v == "ewma")
                 loc.balance.kind = balance_kind::ewma;
             else
                 return false;
             return true;
         }},
        {"proxy-next-upstream",
         [&](std::string_view v) {
             auto mask = parse_next_upstream(trim(v));
             if (mask)
                 loc.next_upstream = *mask;
             return mask.has_value();
         }},
        {"proxy-next-upstream-timeout", time_into(loc.next_upstream_timeout)},
        {"retry-non-idempotent",
         [&](std::string_view v) {
             auto b = parse_bool(trim(v));
             if (b && *b)
                 loc.next_upstream |= retry_on_non_idempotent;
             return b.has_value();
         }},
        {"upstream-max-fails", count_into(settings.max_fails)},
        {"upstream-fail-timeout", time_into(settings.fail_timeout)},
        {"hsts", bool_into(settings.hsts)},
        {"hsts-include-subdomains", bool_into(settings.hsts_include_subdomains)},
        {"hsts-preload", bool_into(settings.hsts_preload)},
        {"hsts-max-age",
         [&](std::string_view v) {
             auto n = parse_uint(trim(v));
             if (n)
                 settings.hsts_max_age = *n;
             return n.has_value();
         }},
    };
    for (const auto& [key, value] : data) {
        auto it = keys.find(key);
        if (it == keys.end()) {
            diagnostics.push_back({"ConfigMap " + configmap_name, "data." + key, "not supported by sluice; ignored"});
            continue;
        }
        if (!it->second(value))
            diagnostics.push_back(
                {"ConfigMap " + configmap_name, "data." + key, "invalid value \"" + value + "\"; default kept"});
    }
}

void derive_settings(global_settings& settings)
{
    settings.hsts_header.clear();
    if (!settings.hsts)
        return;
    settings.hsts_header = "max-age=" + std::to_string(settings.hsts_max_age);
    if (settings.hsts_include_subdomains)
        settings.hsts_header += "; includeSubDomains";
    if (settings.hsts_preload)
        settings.hsts_header += "; preload";
}

}  // namespace sluice
