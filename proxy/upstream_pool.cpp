#include "proxy/upstream_pool.hpp"

#include <sys/socket.h>

namespace sluice {
namespace {

// An idle upstream connection has nothing to read; readable means closed (EOF) or a protocol
// violation (unsolicited bytes). Either way it must not carry a request.
bool looks_open(boost::asio::ip::tcp::socket& socket)
{
    char byte;
    ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

constexpr auto recheck_after = std::chrono::milliseconds(200);

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
        // A connection idle for a moment is checked for a close that already arrived; one used
        // a moment ago is taken as is (saving a syscall per request under load): if the upstream
        // closed it in between, the request is retried on a fresh connection when that is safe.
        auto idle = now - conn.idle_since;
        if (idle < idle_timeout && (idle < recheck_after || looks_open(conn.lowest())))
            return conn;
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
    list.push_back(std::move(conn));
}

void upstream_pool::sweep(clock::time_point now, std::chrono::milliseconds idle_timeout)
{
    for (auto it = idle_.begin(); it != idle_.end();) {
        auto& list = it->second;
        std::erase_if(list, [&](pooled_connection& c) { return now - c.idle_since >= idle_timeout || !looks_open(c.lowest()); });
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
