#include "proxy/upstream_pool.hpp"

#include <algorithm>

namespace sluice {

// The completion of an idle connection's peek: readable (closed, or bytes nobody asked for)
// drops it; cancelled means it was taken or closed, and there is nothing to do.
struct upstream_pool::idle_watch {
    upstream_pool* pool;
    uint64_t id;
    void operator()(const boost::system::error_code& ec, size_t = 0) const
    {
        if (ec != boost::asio::error::operation_aborted)
            pool->drop(id);
    }
};

namespace {

// Where the peeks of a worker's idle connections put the byte they see (and nobody reads).
thread_local char peeked;

}  // namespace

size_t endpoint_hash::operator()(const boost::asio::ip::tcp::endpoint& ep) const noexcept
{
    size_t h = ep.port();
    if (ep.address().is_v4()) {
        h ^= std::hash<uint32_t>{}(ep.address().to_v4().to_uint()) * 31;
    } else {
        auto bytes = ep.address().to_v6().to_bytes();
        for (auto b : bytes)
            h = h * 131 + b;
    }
    return h;
}

std::optional<pooled_connection> upstream_pool::take(const boost::asio::ip::tcp::endpoint& ep, clock::time_point now,
                                                     std::chrono::milliseconds idle_timeout, std::string_view tls_identity)
{
    auto it = idle_.find(ep);
    if (it == idle_.end())
        return std::nullopt;
    auto& list = it->second;
    for (size_t i = list.size(); i-- > 0;) {
        if (list[i].tls_identity != tls_identity)
            continue;
        pooled_connection conn = std::move(list[i]);
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
        if (now - conn.idle_since < idle_timeout) {
            boost::system::error_code ignored;
            conn.lowest().cancel(ignored);  // its wait completes as cancelled
            return conn;
        }
        // Dropping `conn` closes the socket.
    }
    return std::nullopt;
}

void upstream_pool::give_back(const boost::asio::ip::tcp::endpoint& ep, pooled_connection conn, uint32_t max_idle)
{
    auto& list = idle_[ep];
    if (list.size() >= max_idle)
        return;
    conn.idle_since = clock::now();
    conn.id = ++next_id_;
    // A plain connection is watched with a peek, not async_wait: Asio re-arms the descriptor with
    // epoll_ctl for every wait, while a read on a socket that its last read emptied (the reactor
    // knows, third_party/asio/README.md) just queues until the next readiness event. A TLS
    // connection's reads go through its own BIO, past the reactor, which would therefore try the
    // peek at once and fail; it is watched with a wait.
    if (conn.tls)
        conn.lowest().async_wait(boost::asio::ip::tcp::socket::wait_read, idle_watch{this, conn.id});
    else
        conn.lowest().async_receive(boost::asio::buffer(&peeked, 1), boost::asio::ip::tcp::socket::message_peek,
                                    idle_watch{this, conn.id});
    list.push_back(std::move(conn));
}

void upstream_pool::drop(uint64_t id)
{
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
        auto& list = it->second;
        auto found = std::find_if(list.begin(), list.end(), [id](const pooled_connection& c) { return c.id == id; });
        if (found == list.end())
            continue;
        list.erase(found);
        if (list.empty())
            idle_.erase(it);
        return;
    }
}

void upstream_pool::sweep(clock::time_point now, std::chrono::milliseconds idle_timeout)
{
    for (auto it = idle_.begin(); it != idle_.end();) {
        auto& list = it->second;
        std::erase_if(list, [&](const pooled_connection& c) { return now - c.idle_since >= idle_timeout; });
        if (list.empty())
            it = idle_.erase(it);
        else
            ++it;
    }
}

size_t upstream_pool::idle_connections() const
{
    size_t n = 0;
    for (const auto& [ep, list] : idle_)
        n += list.size();
    return n;
}

}  // namespace sluice
