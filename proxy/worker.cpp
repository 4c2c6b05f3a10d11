#include "proxy/worker.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>

#include "controller/log.hpp"
#include "proxy/downstream_session.hpp"

namespace sluice {

namespace asio = boost::asio;

worker::worker(unsigned index, uint64_t seed, asio::thread_pool& slow_work)
    : index_(index), slow_work_(slow_work), random_(seed)
{
}

worker::~worker()
{
    // Everything bound to the io_context goes before it.
    pool_.clear();
    checks_in_flight_.clear();
    http_acceptor_.reset();
    https_acceptor_.reset();
    tick_timer_.reset();
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
}

size_t worker::pick_endpoint(const route_snapshot& snap, uint32_t backend_index, const std::vector<bool>& tried)
{
    const auto& eps = snap.backends[backend_index].endpoints;
    size_t n = eps.size();
    if (n == 0)
        return SIZE_MAX;
    uint32_t& cursor = &snap == snapshot_.get() ? cursors_[backend_index] : stale_cursor_;
    for (size_t step = 0; step < n; ++step) {
        size_t i = cursor++ % n;
        if (i >= tried.size() || !tried[i])
            return i;
    }
    return SIZE_MAX;
}

uint32_t worker::uniform(uint32_t n) { return std::uniform_int_distribution<uint32_t>(1, n)(random_); }

void worker::make_request_id(char out[32])
{
    static constexpr char hex[] = "0123456789abcdef";
    uint64_t a = random_();
    uint64_t b = random_();
    for (int i = 0; i < 16; ++i) {
        out[i] = hex[(a >> (i * 4)) & 0xf];
        out[16 + i] = hex[(b >> (i * 4)) & 0xf];
    }
}

body_buffer worker::take_buffer()
{
    if (spare_buffers_.empty())
        return std::make_unique<body_buffer::element_type>();
    body_buffer b = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
    return b;
}

void worker::return_buffer(body_buffer buf)
{
    // Keep a few for the next requests; the rest go back to the allocator.
    if (buf && spare_buffers_.size() < 64)
        spare_buffers_.push_back(std::move(buf));
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
                asio::co_spawn(*io_, tls ? serve_downstream_tls(*this, std::move(socket)) : serve_downstream(*this, std::move(socket)),
                               asio::detached);
            }
        },
        asio::detached);
}

void worker::stop_accepting()
{
    boost::system::error_code ignored;  // closing a listener cannot fail in a way we could act on
    if (http_acceptor_)
        http_acceptor_->close(ignored);
    if (https_acceptor_)
        https_acceptor_->close(ignored);
    tick_timer_->cancel();
}

void worker::begin_drain()
{
    draining_ = true;
    stop_accepting();
    deadlines_.cancel_idle();
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
        if (++ticks_ % 8 == 0 && snapshot_)
            pool_.sweep(now, snapshot_->settings.upstream_keepalive_timeout);
        schedule_tick();
    });
}

}  // namespace sluice
