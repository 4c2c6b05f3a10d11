#pragma once
// Per-worker pool of idle keep-alive connections to upstream endpoints. Keyed by endpoint
// address, not by backend, so a routing swap keeps the connections of endpoints that remain.
//
// An idle upstream connection has nothing to say: one that becomes readable was closed by the
// upstream, or carries unsolicited bytes that the next request would read as its response
// (another client's answer, or a smuggled one). Each idle connection waits for readability, as
// nginx's keepalive close handler does, and is closed the moment it becomes readable. For a plain
// connection the wait (a peek) costs no system call, and taking the connection cancels it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "tls/tls_socket.hpp"

namespace sluice {

struct endpoint_hash {
    size_t operator()(const boost::asio::ip::tcp::endpoint& ep) const noexcept;
};

// An idle connection: plain (socket) or TLS (tls, with the profile and server name it was
// opened with: a request reuses it only when it would have opened the same).
struct pooled_connection {
    std::unique_ptr<boost::asio::ip::tcp::socket> socket;
    std::unique_ptr<tls_socket> tls;
    std::string tls_identity;  // empty for plain connections
    uint32_t requests = 0;     // requests already served on this connection
    std::chrono::steady_clock::time_point idle_since;
    uint64_t id = 0;  // while pooled: names it to its wait for readability
    boost::asio::ip::tcp::socket& lowest() { return tls ? tls->next_layer() : *socket; }
};

class upstream_pool {
public:
    using clock = std::chrono::steady_clock;

    // An idle connection to `ep` opened with `tls_identity` (empty: plain) and idle for less than
    // `idle_timeout`, or nothing.
    std::optional<pooled_connection> take(const boost::asio::ip::tcp::endpoint& ep, clock::time_point now,
                                          std::chrono::milliseconds idle_timeout, std::string_view tls_identity = {});
    // Keeps `conn` for reuse unless the endpoint already has `max_idle` idle connections.
    void give_back(const boost::asio::ip::tcp::endpoint& ep, pooled_connection conn, uint32_t max_idle);
    // Closes connections idle for longer than `idle_timeout`.
    void sweep(clock::time_point now, std::chrono::milliseconds idle_timeout);
    size_t idle_connections() const;
    void clear() { idle_.clear(); }

private:
    struct idle_watch;
    // Closes the pooled connection `id` (readable while idle), if it is still in the pool.
    void drop(uint64_t id);

    std::unordered_map<boost::asio::ip::tcp::endpoint, std::vector<pooled_connection>, endpoint_hash> idle_;
    uint64_t next_id_ = 0;
};

}  // namespace sluice
