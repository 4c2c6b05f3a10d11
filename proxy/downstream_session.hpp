#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace sluice {
class worker;
// Serves one client connection until it closes: keep-alive requests, each pinned to the
// snapshot that was current when its header arrived, routed and forwarded.
boost::asio::awaitable<void> serve_downstream(worker& w, boost::asio::ip::tcp::socket socket);
// The same over TLS: the handshake first, its certificate chosen by SNI from the current snapshot.
boost::asio::awaitable<void> serve_downstream_tls(worker& w, boost::asio::ip::tcp::socket socket);
}  // namespace sluice
