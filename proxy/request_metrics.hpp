#pragma once
// Per-worker request metrics with ingress-nginx's names and labels, so existing dashboards and
// alerts keep working. Written by one worker thread only; read by posting a collection to the
// worker, so the request path takes no lock.
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "proxy/route_snapshot.hpp"

namespace sluice {

// Prometheus's default buckets, as ingress-nginx's request_duration_seconds uses.
inline constexpr std::array<double, 11> duration_buckets{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
// ingress-nginx's response_size buckets (prometheus.ExponentialBuckets(10, 10, 7)).
inline constexpr std::array<double, 7> size_buckets{10, 100, 1e3, 1e4, 1e5, 1e6, 1e7};

struct request_series {
    uint64_t count = 0;
    double duration_sum = 0;
    std::array<uint64_t, duration_buckets.size()> duration_counts{};
    double size_sum = 0;
    std::array<uint64_t, size_buckets.size()> size_counts{};
    // Requests an upstream answered, and the time spent on the upstream (all tries).
    uint64_t upstream_count = 0;
    double upstream_sum = 0;
    std::array<uint64_t, duration_buckets.size()> upstream_counts{};
    void merge(const request_series& other);
};

// Series keyed by their full label set (without the controller_* labels).
using series_map = std::unordered_map<std::string, request_series>;

class request_metrics {
public:
    // One finished request. `labels` are the location's (host, ingress, namespace, path, service);
    // `canary` names the canary backend that served it, if one did.
    // `method` must be static text (an HTTP method name) and `canary` snapshot-owned or static:
    // their addresses key the fast index.
    // `upstream_seconds`: time spent on upstreams, negative when none was asked.
    void record(const location& loc, std::string_view method, unsigned status, std::string_view canary,
                std::chrono::duration<double> duration, uint64_t response_bytes, double upstream_seconds = -1);
    // A new snapshot: location addresses change, so the fast index is rebuilt lazily.
    void forget_locations() { fast_.clear(); }
    const series_map& series() const { return series_; }

private:
    struct fast_key {
        const location* loc;
        const void* method;
        const void* canary;
        unsigned status;
        bool operator==(const fast_key&) const = default;
    };
    struct fast_hash {
        size_t operator()(const fast_key& k) const noexcept
        {
            return std::hash<const void*>{}(k.loc) ^ (std::hash<const void*>{}(k.method) << 1) ^
                   (std::hash<const void*>{}(k.canary) << 2) ^ (k.status * 0x9e3779b97f4a7c15ull);
        }
    };
    series_map series_;
    std::unordered_map<fast_key, request_series*, fast_hash> fast_;
};

// Prometheus text for the merged series of all workers.
std::string render_request_metrics(const series_map& merged, const std::string& controller_labels);

// A label value escaped for the Prometheus text format.
std::string prometheus_escape(std::string_view value);

}  // namespace sluice
