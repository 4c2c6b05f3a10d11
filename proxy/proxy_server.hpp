#pragma once
// The data plane: N workers, each a thread with its own io_context and SO_REUSEPORT listener.
// A new snapshot is handed to every worker by posting to its io_context; no lock on the
// request path, and a request in flight keeps the snapshot it started with.
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy/request_metrics.hpp"
#include "proxy/route_snapshot.hpp"
#include "proxy/worker.hpp"

namespace sluice {

struct listen_options {
    std::string bind_address = "0.0.0.0";
    uint16_t http_port = 80;   // 0: pick a free port (tests)
    uint16_t https_port = 443; // 0: pick a free port (tests)
    unsigned workers = 1;
    access_log_writer* access_log = nullptr;  // outlives the server; null: no access log
};

struct proxy_totals {
    uint64_t requests = 0;
    uint64_t connections_accepted = 0;
    int64_t connections_open = 0;
    uint64_t upstream_connects = 0;
    uint64_t upstream_reuses = 0;
    uint64_t tls_handshakes = 0;
    uint64_t tls_handshake_errors = 0;
    int64_t tunnels_open = 0;
    int64_t connections_parked = 0;
    int64_t body_buffers_lent = 0;
    uint64_t connection_limit_reached = 0;
};

class proxy_server {
public:
    // Binds the listeners (throws on failure: start-up errors are fatal).
    proxy_server(const listen_options& options, std::shared_ptr<const route_snapshot> initial);
    ~proxy_server();

    uint16_t http_port() const { return http_port_; }
    uint16_t https_port() const { return https_port_; }
    const std::string& bind_address() const { return bind_address_; }
    void start();
    void publish(std::shared_ptr<const route_snapshot> snap);
    void stop();
    // Starts a graceful drain on every worker; idle connections close at once, requests in flight
    // finish. Safe from any thread.
    void begin_drain();
    proxy_totals totals() const;
    // Every worker's request series, merged. Collected on each worker's own thread; waits at
    // most `timeout` for a busy worker (its series are then left out of this scrape).
    series_map collect_request_metrics(std::chrono::milliseconds timeout);

private:
    // Declared first, destroyed last: workers' pending hash checks complete before it goes.
    boost::asio::thread_pool slow_work_{2};
    std::vector<std::unique_ptr<worker>> workers_;
    std::vector<std::thread> threads_;
    uint16_t http_port_ = 0;
    uint16_t https_port_ = 0;
    std::string bind_address_;
};

}  // namespace sluice
