#pragma once
// ConfigMap keys (ingress-nginx names and defaults) to global settings and location defaults.
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/route_snapshot.hpp"

namespace sluice {

// nginx size syntax: "1024", "8k", "1m", "1g" (either case). "0" is zero.
std::optional<uint64_t> parse_nginx_size(std::string_view s);
// Unitless seconds as ingress-nginx's timeout keys take them ("60"); nginx time units are also
// accepted ("60s", "1m", "500ms").
std::optional<std::chrono::milliseconds> parse_nginx_time(std::string_view s);

// Applies `data` over the defaults. Every key sluice does not apply, and every value it cannot
// parse, adds one diagnostic naming the ConfigMap and key; the default stays for that key.
void apply_configmap(const std::map<std::string, std::string>& data, const std::string& configmap_name,
                     global_settings& settings, location_policy& location_defaults,
                     std::vector<diagnostic>& diagnostics);

// "404,503": HTTP error statuses (400-599), sorted, without duplicates; nothing if any is invalid.
std::optional<std::vector<uint16_t>> parse_status_list(std::string_view s);

// Fills the settings computed from others (the HSTS header value).
void derive_settings(global_settings& settings);

}  // namespace sluice
