#pragma once
// The access log: ingress-nginx's log-format-upstream (nginx variables, compiled once when the
// ConfigMap changes), rendered on the worker into a per-worker buffer that a writer thread
// drains. A worker never waits for the disk or a pipe: when the writer falls behind by more than
// a buffer's bound, lines are dropped and counted.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "proxy/header_fields.hpp"

namespace sluice {

// ingress-nginx's default log-format-upstream.
extern const char* const default_log_format;

enum class log_escape : uint8_t { standard, json, none };  // nginx's escape=default / json / none

// What the log knows about one finished request.
struct access_record {
    std::chrono::system_clock::time_point time;  // when the request ended
    double request_time = 0;                     // seconds, from its first byte
    std::string_view remote_addr;
    std::string_view remote_user;
    std::string_view method;
    std::string_view target;    // as received
    unsigned version = 11;
    std::string_view scheme;
    std::string_view host;      // $host: lower-case, no port
    std::string_view server_port;
    unsigned status = 0;
    uint64_t body_bytes_sent = 0;
    uint64_t bytes_sent = 0;
    uint64_t request_length = 0;
    std::string_view request_id;
    std::string_view upstream_name;              // $proxy_upstream_name
    std::string_view alternative_upstream_name;  // the canary's, when the location has one
    std::string_view upstream_addr;              // comma-separated over tries, as nginx
    std::string_view upstream_status;
    std::string_view upstream_response_time;
    std::string_view upstream_response_length;
    std::string_view ingress_namespace, ingress_name, service_name, service_port, location_path;
    const header_fields* request_fields = nullptr;  // $http_<name>
};

class log_format {
public:
    // nginx syntax: text with $name or ${name}. Unknown variables are an error naming them.
    static std::optional<log_format> parse(std::string_view text, std::string& error);
    void render(const access_record& r, log_escape escape, std::string& out) const;
    // ingress-nginx's default format, compiled once.
    static const log_format& standard();

private:
    struct part {
        int variable = -1;       // index into the variable table, -1 for literal text
        std::string text;        // literal text, or the header name of $http_<name>
    };
    std::vector<part> parts_;
};

// One worker's pending lines.
class access_log_buffer {
public:
    // Appends a line (with its newline); false (and dropped) when the buffer is over its bound.
    bool append(std::string_view line);
    void take(std::string& out);

private:
    std::mutex mutex_;  // against the writer's take(); a worker never waits on I/O holding it
    std::string pending_;
};

class access_log_writer {
public:
    // `path`: "-" for standard output, else a file opened for appending.
    explicit access_log_writer(const std::string& path);
    ~access_log_writer();
    access_log_writer(const access_log_writer&) = delete;
    access_log_writer& operator=(const access_log_writer&) = delete;

    // A buffer for one worker, drained by the writer thread every 100 ms.
    access_log_buffer& add_buffer();
    uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
    void count_drop() { dropped_.fetch_add(1, std::memory_order_relaxed); }
    void flush();  // drains every buffer now (used at exit)

private:
    void run();

    int fd_ = 1;
    bool own_fd_ = false;
    std::vector<std::unique_ptr<access_log_buffer>> buffers_;
    std::atomic<uint64_t> dropped_{0};
    std::mutex flush_mutex_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace sluice
