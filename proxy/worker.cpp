#include "proxy/worker.hpp"

#include <array>
#include <cstring>

#include <malloc.h>

#include <openssl/err.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>

#include "controller/log.hpp"
#include "proxy/downstream_session.hpp"

// jemalloc's control interface, when the binary links it (sluice does; tests and fuzzers do not).
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen) __attribute__((weak));

namespace sluice {

namespace asio = boost::asio;

namespace {

// Gives the memory a burst of requests used back to the system: this thread's allocator cache,
// then every free page of its arena. jemalloc would return dirty pages only as its decay timer
// runs, and only while the arena is still allocating, so an idle worker would stay at its
// busiest moment's size; glibc's malloc keeps free pages inside its heaps until trimmed.
void release_free_memory()
{
    if (!mallctl) {
        malloc_trim(0);
        return;
    }
    mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
    unsigned arena = 0;
    size_t size = sizeof arena;
    if (mallctl("thread.arena", &arena, &size, nullptr, 0) == 0) {
        const std::string purge = "arena." + std::to_string(arena) + ".purge";
        mallctl(purge.c_str(), nullptr, nullptr, nullptr, 0);
    }
}

}  // namespace

worker::worker(unsigned index, uint64_t seed, asio::thread_pool& slow_work)
    : index_(index), slow_work_(slow_work), random_(seed)
{
    spare_buffers_.reserve(64);  // returning a buffer never allocates
}

worker::~worker()
{
    // Everything bound to the io_context goes before it.
    pool_.clear();
    checks_in_flight_.clear();
    http_acceptor_.reset();
    https_acceptor_.reset();
    tick_timer_.reset();
    accept_gate_.reset();
    parked_.clear();  // their waits are abandoned with the io_context, never run
    io_.reset();  // destroys the frames of sessions still open, while the worker is whole
}

void worker::set_snapshot(std::shared_ptr<const route_snapshot> snap)
{
    // Carry each backend's round-robin position over to the new snapshot by its stable key.
    std::vector<uint32_t> cursors(snap->backends.size(), 0);
    if (snapshot_) {
        string_map<uint32_t> old;
        for (size_t i = 0; i < snapshot_->backends.size() && i < cursors_.size(); ++i)
            old.emplace(snapshot_->backends[i].key, cursors_[i]);
        for (size_t i = 0; i < snap->backends.size(); ++i)
            if (auto it = old.find(snap->backends[i].key); it != old.end())
                cursors[i] = it->second;
    }
    cursors_ = std::move(cursors);
    metrics_.forget_locations();
    snapshot_ = std::move(snap);
    counters_.snapshot_swaps.fetch_add(1, std::memory_order_relaxed);
    if (accept_waiters_ != 0)
        accept_gate_->cancel();  // a changed max-worker-connections applies to waiting accept loops
}

size_t worker::endpoint_hash::operator()(const asio::ip::tcp::endpoint& ep) const noexcept
{
    size_t h = ep.port();
    if (ep.address().is_v4())
        return h ^ (static_cast<size_t>(ep.address().to_v4().to_uint()) << 16);
    auto b = ep.address().to_v6().to_bytes();
    for (unsigned char c : b)
        h = h * 131 + c;
    return h;
}

bool worker::available(const asio::ip::tcp::endpoint& ep, std::chrono::steady_clock::time_point now) const
{
    auto it = stats_.find(ep);
    return it == stats_.end() || it->second.down_until <= now;
}

const endpoint_stats* worker::stats_of(const asio::ip::tcp::endpoint& ep) const
{
    auto it = stats_.find(ep);
    return it == stats_.end() ? nullptr : &it->second;
}

// ingress-nginx's ewma.lua score. An endpoint never measured starts at the average of the
// measured ones, so that a new pod is not flooded.
double worker::ewma_score(const backend& be, size_t index, std::chrono::steady_clock::time_point now)
{
    auto it = stats_.find(be.endpoints[index]);
    if (it == stats_.end() || it->second.touched == std::chrono::steady_clock::time_point{}) {
        double sum = 0;
        size_t known = 0;
        for (const auto& ep : be.endpoints) {
            auto k = stats_.find(ep);
            if (k != stats_.end() && k->second.touched != std::chrono::steady_clock::time_point{}) {
                sum += decayed_ewma(k->second, now);
                ++known;
            }
        }
        endpoint_stats& st = stats_[be.endpoints[index]];
        st.ewma = known ? sum / static_cast<double>(known) : 0;
        st.touched = now;
        return st.ewma;
    }
    return decayed_ewma(it->second, now);
}

size_t worker::pick_endpoint(const route_snapshot& snap, uint32_t backend_index, const balance_policy& policy,
                             uint64_t key, const std::vector<bool>& tried)
{
    const backend& be = snap.backends[backend_index];
    const auto& eps = be.endpoints;
    const size_t n = eps.size();
    if (n == 0)
        return SIZE_MAX;
    const auto now = std::chrono::steady_clock::now();
    auto untried = [&](size_t i) { return i >= tried.size() || !tried[i]; };
    // Endpoints passive health has taken out are skipped while any other is left untried. While
    // no endpoint is out (the usual case) no record is looked up.
    const bool someone_out = now < latest_down_until_;
    bool any_available = !someone_out;
    for (size_t i = 0; i < n && !any_available; ++i)
        any_available = untried(i) && available(eps[i], now);
    auto usable = [&](size_t i) { return untried(i) && (!someone_out || !any_available || available(eps[i], now)); };

    const backend_rings* rings = be.rings.get();
    switch (policy.kind) {
    case balance_kind::hash:
        if (const hash_ring* subsets = rings && policy.subset_size ? rings->subsets_of(policy.subset_size) : nullptr) {
            // chashsubset: the key picks a subset, then a random member of it; when none of its
            // members is usable, the next subsets along the ring.
            auto pick_in = [&](uint32_t subset) {
                size_t count = 0, chosen = SIZE_MAX;
                for (size_t i = subset; i < n; i += subsets->members())
                    if (usable(i) && random_() % ++count == 0)  // reservoir sampling: uniform, no allocation
                        chosen = i;
                return chosen;
            };
            if (size_t i = pick_in(subsets->find(key)); i != SIZE_MAX)
                return i;
            for (uint32_t subset : subsets->walk(key))
                if (size_t i = pick_in(subset); i != SIZE_MAX)
                    return i;
            return SIZE_MAX;
        }
        [[fallthrough]];
    case balance_kind::sticky:
        if (rings && rings->endpoints) {
            if (policy.kind == balance_kind::sticky && policy.cookie && policy.cookie->persistent) {
                for (size_t i = 0; i < n; ++i)
                    if (rings->endpoint_ids[i] == key && usable(i))
                        return i;
                break;  // no such endpoint (any more): a new one by round robin
            }
            size_t first = rings->endpoints->find(key);
            if (usable(first))
                return first;
            for (uint32_t i : rings->endpoints->walk(key))
                if (usable(i))
                    return i;
            return SIZE_MAX;
        }
        break;
    case balance_kind::ewma: {
        // Power of two choices: two distinct random candidates, the lower score wins. Random
        // draws find them at once unless most endpoints are tried or down; then a full scan.
        if (n > 2) {
            size_t a = SIZE_MAX, b = SIZE_MAX;
            for (int draw = 0; draw < 8 && b == SIZE_MAX; ++draw) {
                size_t i = random_() % n;
                if (!usable(i) || i == a)
                    continue;
                (a == SIZE_MAX ? a : b) = i;
            }
            if (b != SIZE_MAX)
                return ewma_score(be, a, now) <= ewma_score(be, b, now) ? a : b;
        }
        std::vector<size_t> candidates;
        for (size_t i = 0; i < n; ++i)
            if (usable(i))
                candidates.push_back(i);
        if (candidates.empty())
            return SIZE_MAX;
        if (candidates.size() == 1)
            return candidates[0];
        size_t a = random_() % candidates.size();
        size_t b = random_() % (candidates.size() - 1);
        if (b >= a)
            ++b;
        return ewma_score(be, candidates[a], now) <= ewma_score(be, candidates[b], now) ? candidates[a] : candidates[b];
    }
    case balance_kind::round_robin: break;
    }
    uint32_t& cursor = &snap == snapshot_.get() ? cursors_[backend_index] : stale_cursor_;
    for (size_t step = 0; step < n; ++step) {
        size_t i = cursor++ % n;
        if (usable(i))
            return i;
    }
    return SIZE_MAX;
}

void worker::forget_quiet_endpoints(std::chrono::steady_clock::time_point now)
{
    // Endpoints that saw no request for five minutes (removed pods, mostly) are forgotten; an
    // EWMA that old has decayed to nothing anyway.
    for (auto it = stats_.begin(); it != stats_.end();) {
        if (now - it->second.touched > std::chrono::minutes(5) && it->second.down_until <= now)
            it = stats_.erase(it);
        else
            ++it;
    }
}

void worker::record_attempt(const asio::ip::tcp::endpoint& ep, double seconds, bool failed, const global_settings& settings)
{
    const auto now = std::chrono::steady_clock::now();
    endpoint_stats& st = stats_[ep];
    record_latency(st, seconds, now);
    if (!failed) {
        st.fails = 0;
        return;
    }
    if (settings.max_fails == 0)
        return;
    if (st.fails == 0 || now - st.first_fail > settings.fail_timeout) {
        st.fails = 0;
        st.first_fail = now;
    }
    if (++st.fails >= settings.max_fails) {
        st.down_until = now + settings.fail_timeout;
        latest_down_until_ = std::max(latest_down_until_, st.down_until);
        st.fails = 0;
        log_line(log_level::warning, "upstream " + endpoint_name(ep) + " failed " + std::to_string(settings.max_fails) +
                                         " time(s); left out for " +
                                         std::to_string(settings.fail_timeout.count()) + " ms");
    }
}

uint32_t worker::uniform(uint32_t n) { return std::uniform_int_distribution<uint32_t>(1, n)(random_); }

namespace {

// "00" to "ff": a byte's two hex digits at once.
constexpr auto hex_pairs = [] {
    std::array<char, 512> t{};
    constexpr char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < 256; ++i) {
        t[2 * i] = digits[i >> 4];
        t[2 * i + 1] = digits[i & 0xf];
    }
    return t;
}();

}  // namespace

void worker::make_request_id(char out[32])
{
    for (int half = 0; half < 2; ++half) {
        uint64_t r = random_();
        for (int i = 0; i < 8; ++i, r >>= 8)
            std::memcpy(out + 16 * half + 2 * i, &hex_pairs[2 * (r & 0xff)], 2);
    }
}

lent_buffer worker::take_buffer()
{
    counters_.body_buffers_lent.fetch_add(1, std::memory_order_relaxed);
    if (spare_buffers_.empty())
        return {*this, std::make_unique_for_overwrite<body_buffer::element_type>()};  // not zeroed: untouched pages stay unmapped
    body_buffer b = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
    return {*this, std::move(b)};
}

void worker::return_buffer(body_buffer buf) noexcept
{
    counters_.body_buffers_lent.fetch_sub(1, std::memory_order_relaxed);
    // Keep a few for the next requests; the rest go back to the allocator.
    if (spare_buffers_.size() < 64)
        spare_buffers_.push_back(std::move(buf));
}

lent_buffer& lent_buffer::operator=(lent_buffer&& other) noexcept
{
    if (this != &other) {
        reset();
        w_ = other.w_;
        b_ = std::move(other.b_);
    }
    return *this;
}

void lent_buffer::reset() noexcept
{
    if (b_)
        w_->return_buffer(std::move(b_));
}

void worker::start(asio::ip::tcp::acceptor http, asio::ip::tcp::acceptor https, uint16_t https_port)
{
    https_port_ = https_port;
    http_acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(std::move(http));
    https_acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(std::move(https));
    accept_on(*http_acceptor_, false);
    accept_on(*https_acceptor_, true);
    schedule_tick();
}

void worker::accept_on(asio::ip::tcp::acceptor& acceptor, bool tls)
{
    asio::co_spawn(
        *io_,
        [this, &acceptor, tls]() -> asio::awaitable<void> {
            for (;;) {
                const uint32_t limit = snapshot_->settings.max_worker_connections;
                if (limit != 0 && connections_ >= limit) {
                    counters_.connection_limit_reached.fetch_add(1, std::memory_order_relaxed);
                    auto now = std::chrono::steady_clock::now();
                    if (now - last_limit_warning_ >= std::chrono::seconds(10)) {
                        last_limit_warning_ = now;
                        log_warning("worker " + std::to_string(index_) + ": max-worker-connections (" + std::to_string(limit) +
                                    ") reached; accepting again when a connection closes");
                    }
                    accept_gate_->expires_at(asio::steady_timer::time_point::max());
                    ++accept_waiters_;
                    co_await accept_gate_->async_wait(asio::as_tuple(asio::use_awaitable));
                    --accept_waiters_;
                    if (!acceptor.is_open())
                        co_return;
                    continue;
                }
                auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
                if (ec) {
                    if (ec == asio::error::operation_aborted || !acceptor.is_open())
                        co_return;
                    // EMFILE and friends: back off briefly rather than spin.
                    log_warning("accept failed: " + ec.message());
                    asio::steady_timer t(*io_, std::chrono::milliseconds(50));
                    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
                    continue;
                }
                counters_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
                ++connections_;
                note_active();
                try {
                    asio::co_spawn(*io_, tls ? serve_downstream_tls(*this, std::move(socket)) : serve_downstream(*this, std::move(socket)),
                                   [this](std::exception_ptr e) { connection_ended(e); });
                } catch (const std::exception&) {
                    // No memory for the session: this connection closes, the loop goes on accepting.
                    connection_ended(std::current_exception());
                }
            }
        },
        asio::detached);
}

void worker::connection_ended(std::exception_ptr failure)
{
    if (failure) {
        // A session's failures are answered and logged where they happen; one that escapes is a
        // fault worth seeing, at most once every ten seconds with a count.
        ++escaped_failures_;
        auto now = std::chrono::steady_clock::now();
        if (now - last_escape_warning_ >= std::chrono::seconds(10)) {
            last_escape_warning_ = now;
            std::string what = "unknown exception";
            try {
                std::rethrow_exception(failure);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            log_error("worker " + std::to_string(index_) + ": a connection ended on an exception: " + what + " (" +
                      std::to_string(escaped_failures_) + " so far)");
        }
    }
    --connections_;
    if (accept_waiters_ != 0)
        accept_gate_->cancel();  // wakes the accept loops waiting at the limit
}

// The completion of a parked connection's wait; Asio allocates the operation from parked_waits_.
struct worker::parked_wait {
    worker* w;
    parked_list::iterator it;
    using allocator_type = pool_allocator<std::byte>;
    allocator_type get_allocator() const noexcept { return allocator_type(w->parked_waits_); }
    void operator()(const boost::system::error_code& ec) const { w->unpark(it, ec); }
};

namespace {

// Closes a parked connection without waiting for anything: a TLS one sends its close_notify if
// the socket takes it at once.
void close_idle(parked_connection& c)
{
    if (c.tls) {
        SSL_shutdown(c.tls.get());
        ERR_clear_error();
    }
    boost::system::error_code ignored;
    c.socket.close(ignored);
}

}  // namespace

void worker::park(parked_connection c)
{
    if (draining_) {
        counters_.connections_open.fetch_sub(1, std::memory_order_relaxed);
        close_idle(c);
        return;
    }
    ++connections_;  // the session that parked it counts its own end
    auto it = parked_.insert(parked_.end(), std::move(c));
    counters_.connections_parked.store(static_cast<int64_t>(parked_.size()), std::memory_order_relaxed);
    it->socket.async_wait(asio::ip::tcp::socket::wait_read, parked_wait{this, it});
}

void worker::unpark(parked_list::iterator it, const boost::system::error_code& ec)
{
    parked_connection c = std::move(*it);
    parked_.erase(it);
    counters_.connections_parked.store(static_cast<int64_t>(parked_.size()), std::memory_order_relaxed);
    if (ec || draining_) {
        // Timed out, drained or failed: closed as an idle connection is.
        close_idle(c);
        counters_.connections_open.fetch_sub(1, std::memory_order_relaxed);
        connection_ended();
        return;
    }
    note_active();
    try {
        asio::co_spawn(*io_, resume_downstream(*this, std::move(c)), [this](std::exception_ptr e) { connection_ended(e); });
    } catch (const std::exception&) {
        counters_.connections_open.fetch_sub(1, std::memory_order_relaxed);
        connection_ended(std::current_exception());
    }
}

// Cancels the waits of parked connections past their deadline (or of all of them); their
// handlers close them.
void worker::close_parked(bool all, std::chrono::steady_clock::time_point now)
{
    for (auto& c : parked_)
        if (all || c.expires <= now) {
            boost::system::error_code ignored;
            c.socket.cancel(ignored);
        }
}

void worker::stop_accepting()
{
    boost::system::error_code ignored;  // closing a listener cannot fail in a way we could act on
    if (http_acceptor_)
        http_acceptor_->close(ignored);
    if (https_acceptor_)
        https_acceptor_->close(ignored);
    accept_gate_->cancel();
    tick_timer_->cancel();
}

void worker::begin_drain()
{
    draining_ = true;
    stop_accepting();
    deadlines_.cancel_idle();
    close_parked(true, {});
    // The tick goes on: requests in flight keep their deadlines.
    schedule_tick();
}

void worker::schedule_tick()
{
    // Deadlines are enforced to within one tick; idle upstream connections are swept every 8.
    tick_timer_->expires_after(std::chrono::milliseconds(250));
    tick_timer_->async_wait([this](const boost::system::error_code& ec) {
        if (ec)
            return;
        auto now = deadline_list::clock::now();
        deadlines_.sweep(now);
        close_parked(false, now);
        // When a burst has ended (at most half as many connections with a session as at its
        // peak, at least 256 fewer, and no longer falling), its memory goes back to the system.
        const uint32_t active = connections_ - static_cast<uint32_t>(parked_.size());
        const bool settled = last_active_ <= active + 64;
        last_active_ = active;
        if (settled && active_peak_ >= active + 256 && active <= active_peak_ / 2) {
            // The spare body buffers the burst left (32 KiB each, up to 64) go too.
            spare_buffers_.resize(std::min<size_t>(spare_buffers_.size(), 4));
            release_free_memory();
            if (log_enabled(log_level::debug))
                log_line(log_level::debug, "worker " + std::to_string(index_) + ": " + std::to_string(active_peak_ - active) +
                                               " fewer connections in a request; free memory released");
            active_peak_ = active;
        }
        if (++ticks_ % 8 == 0 && snapshot_)
            pool_.sweep(now, snapshot_->settings.upstream_keepalive_timeout);
        if (ticks_ % 240 == 0)
            forget_quiet_endpoints(now);
        schedule_tick();
    });
}

}  // namespace sluice
