#include "proxy/request_metrics.hpp"

#include <cstdio>
#include <map>

namespace sluice {

void request_series::merge(const request_series& o)
{
    count += o.count;
    duration_sum += o.duration_sum;
    for (size_t i = 0; i < duration_counts.size(); ++i)
        duration_counts[i] += o.duration_counts[i];
    size_sum += o.size_sum;
    for (size_t i = 0; i < size_counts.size(); ++i)
        size_counts[i] += o.size_counts[i];
    upstream_count += o.upstream_count;
    upstream_sum += o.upstream_sum;
    for (size_t i = 0; i < upstream_counts.size(); ++i)
        upstream_counts[i] += o.upstream_counts[i];
}

std::string prometheus_escape(std::string_view value)
{
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\' || c == '"')
            out.push_back('\\');
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out.push_back(c);
    }
    return out;
}

void request_metrics::record(const location& loc, std::string_view method, unsigned status, std::string_view canary,
                             std::chrono::duration<double> duration, uint64_t response_bytes, double upstream_seconds)
{
    // The method and canary views point into the snapshot or static storage: their addresses
    // identify them within one snapshot, and forget_locations() runs at every swap.
    fast_key key{&loc, method.data(), canary.data(), status};
    request_series* series;
    if (auto it = fast_.find(key); it != fast_.end()) {
        series = it->second;
    } else {
        std::string labels = loc.metric_labels;
        labels += ",method=\"" + prometheus_escape(method) + "\",status=\"" + std::to_string(status) +
                  "\",canary=\"" + prometheus_escape(canary) + "\"";
        series = &series_[labels];
        fast_.emplace(key, series);
    }
    double seconds = duration.count();
    ++series->count;
    series->duration_sum += seconds;
    for (size_t i = 0; i < duration_buckets.size(); ++i)
        if (seconds <= duration_buckets[i])
            ++series->duration_counts[i];
    series->size_sum += static_cast<double>(response_bytes);
    for (size_t i = 0; i < size_buckets.size(); ++i)
        if (static_cast<double>(response_bytes) <= size_buckets[i])
            ++series->size_counts[i];
    if (upstream_seconds >= 0) {
        ++series->upstream_count;
        series->upstream_sum += upstream_seconds;
        for (size_t i = 0; i < duration_buckets.size(); ++i)
            if (upstream_seconds <= duration_buckets[i])
                ++series->upstream_counts[i];
    }
}

std::string render_request_metrics(const series_map& merged, const std::string& controller_labels)
{
    std::map<std::string, const request_series*> sorted;
    for (const auto& [labels, s] : merged)
        sorted.emplace(labels, &s);
    std::string out;
    auto number = [](double v) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", v);
        return std::string(buf);
    };
    out += "# HELP nginx_ingress_controller_requests The total number of client requests\n"
           "# TYPE nginx_ingress_controller_requests counter\n";
    for (const auto& [labels, s] : sorted)
        out += "nginx_ingress_controller_requests{" + controller_labels + labels + "} " + std::to_string(s->count) + "\n";
    auto histogram = [&](const char* name, const char* help, auto buckets, auto counts_of, auto sum_of,
                         auto count_of) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " histogram\n";
        for (const auto& [labels, s] : sorted) {
            if (count_of(*s) == 0)
                continue;
            const auto& counts = counts_of(*s);
            for (size_t i = 0; i < buckets.size(); ++i)
                out += std::string(name) + "_bucket{" + controller_labels + labels + ",le=\"" + number(buckets[i]) +
                       "\"} " + std::to_string(counts[i]) + "\n";
            out += std::string(name) + "_bucket{" + controller_labels + labels + ",le=\"+Inf\"} " +
                   std::to_string(count_of(*s)) + "\n";
            out += std::string(name) + "_sum{" + controller_labels + labels + "} " + number(sum_of(*s)) + "\n";
            out += std::string(name) + "_count{" + controller_labels + labels + "} " + std::to_string(count_of(*s)) + "\n";
        }
    };
    histogram("nginx_ingress_controller_request_duration_seconds",
              "The request processing time in seconds (from the request header to the end of the response)",
              duration_buckets, [](const request_series& s) -> const auto& { return s.duration_counts; },
              [](const request_series& s) { return s.duration_sum; }, [](const request_series& s) { return s.count; });
    histogram("nginx_ingress_controller_response_size", "The response length (including headers) in bytes",
              size_buckets, [](const request_series& s) -> const auto& { return s.size_counts; },
              [](const request_series& s) { return s.size_sum; }, [](const request_series& s) { return s.count; });
    histogram("nginx_ingress_controller_response_duration_seconds",
              "The time spent on receiving the response from the upstream server in seconds (all tries)",
              duration_buckets, [](const request_series& s) -> const auto& { return s.upstream_counts; },
              [](const request_series& s) { return s.upstream_sum; },
              [](const request_series& s) { return s.upstream_count; });
    return out;
}

}  // namespace sluice
