#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace sluice {
class worker;
struct parked_connection;
// Serves one client connection until it closes: keep-alive requests, each pinned to the
// snapshot that was current when its header arrived, routed and forwarded.
boost::asio::awaitable<void> serve_downstream(worker& w, boost::asio::ip::tcp::socket socket);
// A parked plain connection that became readable: served as serve_downstream serves one.
boost::asio::awaitable<void> resume_downstream(worker& w, parked_connection c);
// The same over TLS: the handshake first, its certificate chosen by SNI from the current snapshot.
boost::asio::awaitable<void> serve_downstream_tls(worker& w, boost::asio::ip::tcp::socket socket);
}  // namespace sluice
