#pragma once
// Per-worker pool of idle keep-alive connections to upstream endpoints. Keyed by endpoint
// address, not by backend, so a routing swap keeps the connections of endpoints that remain.
#include <chrono>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace sluice {

struct endpoint_hash {
    size_t operator()(const boost::asio::ip::tcp::endpoint& ep) const noexcept;
};

struct pooled_connection {
    boost::asio::ip::tcp::socket socket;
    uint32_t requests = 0;  // requests already served on this connection
    std::chrono::steady_clock::time_point idle_since;
};

class upstream_pool {
public:
    using clock = std::chrono::steady_clock;

    // An idle connection to `ep` that still looks open, or nothing.
    std::optional<pooled_connection> take(const boost::asio::ip::tcp::endpoint& ep, clock::time_point now,
                                          std::chrono::milliseconds idle_timeout);
    // Keeps `conn` for reuse unless the endpoint already has `max_idle` idle connections.
    void give_back(const boost::asio::ip::tcp::endpoint& ep, pooled_connection conn, uint32_t max_idle);
    // Closes connections idle for longer than `idle_timeout`.
    void sweep(clock::time_point now, std::chrono::milliseconds idle_timeout);
    size_t idle_connections() const;

private:
    std::unordered_map<boost::asio::ip::tcp::endpoint, std::vector<pooled_connection>, endpoint_hash> idle_;
};

}  // namespace sluice
