#pragma once
// Who may use a location: source address lists (allowlist-source-range, denylist-source-range)
// and per-client limits (limit-connections, limit-rps, limit-rpm), as nginx's access,
// limit_conn and limit_req modules that ingress-nginx configures.
//
// The limits are shared by all workers of the process: a client's connections are spread over
// the workers by SO_REUSEPORT, so per-worker counters would multiply every limit by the worker
// count. This matches ingress-nginx, whose zones live in shared memory of one replica.
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "proxy/client_address.hpp"

namespace sluice {

struct access_rules {
    std::vector<ip_network> allow;  // non-empty: only these sources (then "deny all")
    std::vector<ip_network> deny;   // checked first
    std::string misconfigured;      // non-empty: a list did not parse; the location answers 503
    uint32_t connections = 0;       // limit-connections: requests in progress per client
    uint32_t rps = 0;               // limit-rps
    uint32_t rpm = 0;               // limit-rpm
    uint32_t burst_multiplier = 5;  // burst = rate × multiplier, nodelay (ingress-nginx)
    std::vector<ip_network> limit_exempt;  // limit-allowlist
    uint64_t zone = 0;              // the Ingress's zones: its locations share their counters
    bool has_limits() const { return connections || rps || rpm; }
};

// nginx's access phase for these rules: a matching deny entry refuses, then a non-empty allow
// list must match.
bool source_allowed(const access_rules& rules, const boost::asio::ip::address& client);
bool in_networks(const std::vector<ip_network>& nets, const boost::asio::ip::address& client);

class rate_limits {
public:
    using clock = std::chrono::steady_clock;
    explicit rate_limits(size_t max_entries = 1 << 20);
    // The process's instance, shared by the workers.
    static rate_limits& shared();

    // nginx limit_req with burst and nodelay: whether one more request from `client` fits
    // `per_period` requests per `period` (a second or a minute) with `burst` extra.
    bool take_request(uint64_t zone, const boost::asio::ip::address& client, uint32_t per_period,
                      std::chrono::seconds period, uint32_t burst, clock::time_point now);
    // nginx limit_conn: counts a request in progress, refused over `limit`. A true result must be
    // matched by release_connection.
    bool acquire_connection(uint64_t zone, const boost::asio::ip::address& client, uint32_t limit);
    void release_connection(uint64_t zone, const boost::asio::ip::address& client);
    size_t entries() const;

private:
    struct key {
        uint64_t zone;
        std::array<unsigned char, 16> address;
        bool operator==(const key&) const = default;
    };
    struct key_hash {
        size_t operator()(const key& k) const noexcept;
    };
    struct state {
        int64_t excess = 0;  // milli-requests over the rate (nginx's lr->excess)
        clock::time_point last{};
        uint32_t in_progress = 0;
    };
    struct shard {
        mutable std::mutex mutex;
        std::unordered_map<key, state, key_hash> table;
        uint32_t since_sweep = 0;
    };
    static key make_key(uint64_t zone, const boost::asio::ip::address& client);
    shard& shard_for(const key& k);
    void sweep(shard& s, clock::time_point now);

    static constexpr size_t shard_count = 64;
    size_t max_per_shard_;
    std::array<shard, shard_count> shards_;
};

// Holds one limit-connections slot for the life of a request.
class connection_slot {
public:
    connection_slot() = default;
    connection_slot(const connection_slot&) = delete;
    connection_slot& operator=(const connection_slot&) = delete;
    ~connection_slot() { release(); }
    bool acquire(rate_limits& limits, uint64_t zone, const boost::asio::ip::address& client, uint32_t limit);
    void release();

private:
    rate_limits* limits_ = nullptr;
    uint64_t zone_ = 0;
    boost::asio::ip::address client_;
};

}  // namespace sluice
