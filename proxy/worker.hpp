#pragma once
// One proxy worker: an io_context run by one thread, its own SO_REUSEPORT listener, and all the
// mutable state its requests touch (balancer cursors, upstream pool, buffers). Nothing here is
// shared with another worker, so the request path takes no lock.
#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <boost/asio/thread_pool.hpp>

#include "proxy/access_log.hpp"
#include "proxy/auth_cache.hpp"
#include "proxy/deadline.hpp"
#include "proxy/fixed_pool.hpp"
#include "proxy/request_metrics.hpp"
#include "proxy/route_snapshot.hpp"
#include "proxy/upstream_pool.hpp"
#include "tls/ssl_ptr.hpp"

namespace sluice {

// Counters written by one worker, read by the status server at scrape time.
struct worker_counters {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> connections_accepted{0};
    std::atomic<int64_t> connections_open{0};
    std::atomic<uint64_t> upstream_connects{0};
    std::atomic<uint64_t> upstream_reuses{0};
    std::atomic<uint64_t> snapshot_swaps{0};
    std::atomic<uint64_t> tls_handshakes{0};
    std::atomic<uint64_t> tls_handshake_errors{0};
    std::atomic<int64_t> tunnels_open{0};  // upgraded connections (WebSocket and others)
    std::atomic<int64_t> connections_parked{0};  // idle client connections parked (no session)
    std::atomic<int64_t> body_buffers_lent{0};   // 32 KiB body buffers in use by requests and tunnels
    std::atomic<uint64_t> connection_limit_reached{0};  // times accepting paused at max-worker-connections
};

// A password check under way on the slow-work pool. Requests with the same credentials wait for
// it instead of starting their own: a burst of connections with one bcrypt-14 login costs one
// hash, not one per connection.
struct credential_check {
    explicit credential_check(boost::asio::io_context& io) : done(io, boost::asio::steady_timer::time_point::max()) {}
    boost::asio::steady_timer done;  // cancelled when the result is in
    int result = 0;                  // a password_check
    bool finished = false;
};

// A client connection idle between requests, parked with its worker: the socket (and for TLS
// the SSL object, its buffers released) and what its next session needs, nothing else. Its
// session, coroutine frames and buffers are freed while it waits (an active keep-alive
// connection is not parked: see deadline_list).
struct parked_connection {
    boost::asio::ip::tcp::socket socket;
    // The keep-alive deadline it had; before its first request, the first header's deadline.
    std::chrono::steady_clock::time_point expires;
    std::string client_ip;
    std::string server_port;
    uint32_t served = 0;  // requests answered on it so far (keepalive-requests)
    ssl_ptr tls;          // null for plain HTTP
};

// A fixed-size buffer lent to a request while it streams a body.
using body_buffer = std::unique_ptr<std::array<char, 32 * 1024>>;

class worker;

// A body buffer on loan from a worker; it goes back to the worker's spares when dropped.
class lent_buffer {
public:
    lent_buffer() = default;
    lent_buffer(worker& w, body_buffer b) noexcept : w_(&w), b_(std::move(b)) {}
    lent_buffer(lent_buffer&& other) noexcept : w_(other.w_), b_(std::move(other.b_)) {}
    lent_buffer& operator=(lent_buffer&& other) noexcept;
    ~lent_buffer() { reset(); }
    void reset() noexcept;
    explicit operator bool() const noexcept { return b_ != nullptr; }
    char* data() noexcept { return b_->data(); }
    static constexpr size_t size() noexcept { return std::tuple_size_v<body_buffer::element_type>; }

private:
    worker* w_ = nullptr;
    body_buffer b_;
};

class worker {
public:
    // `slow_work` runs password hashes that would stall the worker (shared by all workers).
    worker(unsigned index, uint64_t seed, boost::asio::thread_pool& slow_work);

    ~worker();
    boost::asio::io_context& io() { return *io_; }
    unsigned index() const { return index_; }

    // Worker thread only.
    const std::shared_ptr<const route_snapshot>& snapshot() const { return snapshot_; }
    void set_snapshot(std::shared_ptr<const route_snapshot> snap);

    // An endpoint of backend `backend_index` of `snap` by `policy`, skipping endpoints in
    // `tried` (entry i set: endpoint i already tried) and, while others are left, endpoints that
    // passive health has taken out. `key`: the request's hash (hash and balanced affinity) or the
    // cookie's endpoint id (persistent affinity; 0 when the request has none). Returns SIZE_MAX
    // when every endpoint was tried. A request pinned to an older snapshot shares one
    // round-robin cursor.
    size_t pick_endpoint(const route_snapshot& snap, uint32_t backend_index, const balance_policy& policy, uint64_t key,
                         const std::vector<bool>& tried);
    // After a try: its time feeds the EWMA; a failure counts against the endpoint's health.
    void record_attempt(const boost::asio::ip::tcp::endpoint& ep, double seconds, bool failed,
                        const global_settings& settings);
    const endpoint_stats* stats_of(const boost::asio::ip::tcp::endpoint& ep) const;
    uint64_t random64() { return random_(); }

    // Uniform in [1, n]: the canary weight draw.
    uint32_t uniform(uint32_t n);

    // 32 hex characters, as nginx's $request_id.
    void make_request_id(char out[32]);

    upstream_pool& pool() { return pool_; }
    request_metrics& metrics() { return metrics_; }
    deadline_list& deadlines() { return deadlines_; }
    auth_cache& verified_credentials() { return auth_cache_; }
    using checks_map = std::unordered_map<auth_cache::digest, std::shared_ptr<credential_check>, auth_cache::digest_hash>;
    checks_map& checks_in_flight() { return checks_in_flight_; }
    boost::asio::thread_pool& slow_work() { return slow_work_; }
    worker_counters& counters() { return counters_; }
    const worker_counters& counters() const { return counters_; }

    // This worker's access-log buffer, or null when there is no access log.
    void set_access_log(access_log_writer* writer) { log_writer_ = writer; log_buffer_ = writer ? &writer->add_buffer() : nullptr; }
    // Queues a rendered line; a full buffer drops it (counted).
    void write_access_log(std::string_view line)
    {
        if (log_buffer_ && !log_buffer_->append(line))
            log_writer_->count_drop();
    }
    bool has_access_log() const { return log_buffer_ != nullptr; }
    std::string& log_scratch() { return log_scratch_; }

    lent_buffer take_buffer();

    // Starts accepting on the listeners (already bound and listening) and the pool sweeper.
    void start(boost::asio::ip::tcp::acceptor http, boost::asio::ip::tcp::acceptor https, uint16_t https_port);
    void stop_accepting();
    // Graceful drain: stop accepting, close connections idle between requests, and answer the
    // requests in flight with "Connection: close". Worker thread only.
    void begin_drain();
    bool draining() const { return draining_; }
    // Takes an idle connection until it is readable (then a new session serves it), its
    // deadline passes, or a drain begins (then it is closed).
    void park(parked_connection c);
    uint16_t https_port() const { return https_port_; }

private:
    void schedule_tick();
    void accept_on(boost::asio::ip::tcp::acceptor& acceptor, bool tls);
    // A downstream connection is gone; `failure` is what escaped its session, if anything.
    void connection_ended(std::exception_ptr failure = nullptr);
    // Connections with a session (not parked): the peak since memory was last released.
    void note_active() { active_peak_ = std::max(active_peak_, connections_ - static_cast<uint32_t>(parked_.size())); }
    using parked_list = std::list<parked_connection, pool_allocator<parked_connection>>;
    struct parked_wait;
    void unpark(parked_list::iterator it, const boost::system::error_code& ec);
    void close_parked(bool all, std::chrono::steady_clock::time_point now);

    unsigned index_;
    // Declared before io_: sessions destroyed with the io_context unlink their slots from it.
    deadline_list deadlines_;
    // Destroyed first, in ~worker: the coroutine frames it still holds give buffers and pooled
    // connections back to the members below, which must still be alive then.
    // One thread runs it and every socket and timer on it is used from that thread only (other
    // threads only post to it), so the reactor's per-descriptor locks are left out; posting and
    // timers stay locked.
    std::unique_ptr<boost::asio::io_context> io_ =
        std::make_unique<boost::asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
    std::shared_ptr<const route_snapshot> snapshot_;
    std::vector<uint32_t> cursors_;  // per backend of snapshot_
    uint32_t stale_cursor_ = 0;
    struct endpoint_hash {
        size_t operator()(const boost::asio::ip::tcp::endpoint& ep) const noexcept;
    };
    // Per endpoint of the current snapshot: EWMA and passive health.
    std::unordered_map<boost::asio::ip::tcp::endpoint, endpoint_stats, endpoint_hash> stats_;
    bool available(const boost::asio::ip::tcp::endpoint& ep, std::chrono::steady_clock::time_point now) const;
    std::chrono::steady_clock::time_point latest_down_until_{};  // passive health: no one is out after this
    double ewma_score(const backend& be, size_t index, std::chrono::steady_clock::time_point now);
    void forget_quiet_endpoints(std::chrono::steady_clock::time_point now);
    upstream_pool pool_;
    request_metrics metrics_;
    auth_cache auth_cache_;
    checks_map checks_in_flight_;
    boost::asio::thread_pool& slow_work_;
    worker_counters counters_;
    std::mt19937_64 random_;
    friend class lent_buffer;
    void return_buffer(body_buffer buf) noexcept;
    std::vector<body_buffer> spare_buffers_;
    access_log_writer* log_writer_ = nullptr;
    access_log_buffer* log_buffer_ = nullptr;
    std::string log_scratch_;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> http_acceptor_;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> https_acceptor_;
    std::optional<boost::asio::steady_timer> tick_timer_{std::in_place, *io_};
    // Client connections this worker serves, and the gate the accept loops wait on while that
    // is max-worker-connections (cancelled when one ends).
    uint32_t connections_ = 0;
    unsigned accept_waiters_ = 0;  // accept loops waiting on accept_gate_
    std::chrono::steady_clock::time_point last_limit_warning_{};
    std::chrono::steady_clock::time_point last_escape_warning_{};
    uint64_t escaped_failures_ = 0;
    std::optional<boost::asio::steady_timer> accept_gate_{std::in_place, *io_};
    // Parked connections and the memory of their waits come from pools of their own (see
    // fixed_pool), declared before the list that uses them.
    fixed_pool parked_nodes_{sizeof(parked_connection) + 2 * sizeof(void*)};
    fixed_pool parked_waits_{192};
    parked_list parked_{pool_allocator<parked_connection>(parked_nodes_)};
    uint32_t active_peak_ = 0;
    uint32_t last_active_ = 0;  // at the last tick
    unsigned ticks_ = 0;
    bool draining_ = false;
    uint16_t https_port_ = 0;
};

}  // namespace sluice
