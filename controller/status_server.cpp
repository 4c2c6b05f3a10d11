#include "controller/status_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace sluice {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> serve(tcp::socket socket, std::shared_ptr<status_handlers> handlers)
{
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        http::request<http::empty_body> req;
        stream.expires_after(std::chrono::seconds(30));
        auto [ec, n] = co_await http::async_read(stream, buffer, req, nothrow);
        if (ec)
            break;
        http::response<http::string_body> res{http::status::ok, req.version()};
        std::string_view target = req.target();
        target = target.substr(0, target.find('?'));
        if (target == "/healthz") {
            res.body() = "ok\n";
            res.set(http::field::content_type, "text/plain");
        } else if (target == "/readyz") {
            bool ready = handlers->ready();
            res.result(ready ? http::status::ok : http::status::service_unavailable);
            res.body() = ready ? "ok\n" : "not ready\n";
            res.set(http::field::content_type, "text/plain");
        } else if (target == "/metrics") {
            res.body() = handlers->metrics();
            res.set(http::field::content_type, "text/plain; version=0.0.4");
        } else if (target == "/debug/config") {
            res.body() = handlers->debug_config();
            res.set(http::field::content_type, "application/json");
        } else {
            res.result(http::status::not_found);
            res.body() = "not found\n";
        }
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        auto [wec, wn] = co_await http::async_write(stream, res, nothrow);
        if (wec || !res.keep_alive())
            break;
    }
    beast::error_code ignored;  // closing a finished status connection
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace

status_server::status_server(asio::io_context& io, const std::string& address, uint16_t port, status_handlers handlers)
    : acceptor_(io), handlers_(std::make_shared<status_handlers>(std::move(handlers)))
{
    tcp::endpoint ep(asio::ip::make_address(address), port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(
        io,
        [this]() -> asio::awaitable<void> {
            for (;;) {
                auto [ec, socket] = co_await acceptor_.async_accept(nothrow);
                if (ec) {
                    if (!acceptor_.is_open())
                        co_return;
                    continue;
                }
                asio::co_spawn(acceptor_.get_executor(), serve(std::move(socket), handlers_), asio::detached);
            }
        },
        asio::detached);
}

}  // namespace sluice
