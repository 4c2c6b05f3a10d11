// WebSocket and other Upgrade tunnels through the real binary: Beast's WebSocket client against
// sluice-echo, raw upgrades against a scripted upstream, idle timeouts and routing swaps.
#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;


// A blocking WebSocket client on its own io_context.
class ws_client {
public:
    ws_client(uint16_t port, const std::string& host, const std::string& target) : ws_(io_)
    {
        beast::get_lowest_layer(ws_).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        ws_.handshake(response_, host, target);
    }
    std::string exchange(const std::string& text)
    {
        ws_.text(true);
        ws_.write(asio::buffer(text));
        beast::flat_buffer b;
        ws_.read(b);
        return beast::buffers_to_string(b.data());
    }
    // Whether the connection was closed by the other side within `timeout`.
    bool closed_within(std::chrono::milliseconds timeout)
    {
        int fd = beast::get_lowest_layer(ws_).native_handle();
        timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char c;
        ssize_t n = ::recv(fd, &c, 1, 0);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }
    void close() { ws_.close(websocket::close_code::normal); }
    const websocket::response_type& response() const { return response_; }

private:
    asio::io_context io_;
    websocket::stream<tcp::socket> ws_;
    websocket::response_type response_;
};

class websockets : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        a_ = new echo_backend("ws-a");
        b_ = new echo_backend("ws-b");
        s_ = new sluice_instance();
        s_->write("class.yaml", ingress_class_yaml());
        s_->write("svc.yaml", service_yaml("ws-a", {a_->port()}) + "---\n" + service_yaml("ws-b", {b_->port()}));
        s_->write("ing.yaml", ingress_yaml("ws", "ws.test", {{"/", "Prefix", "ws-a"}}) + "---\n" +
                                  ingress_yaml("idle", "idle.test", {{"/", "Prefix", "ws-a"}},
                                               annotations_yaml({{"proxy-read-timeout", "1"}})));
        s_->start();
    }
    static void TearDownTestSuite()
    {
        delete s_;
        delete a_;
        delete b_;
    }
    static sluice_instance* s_;
    static echo_backend* a_;
    static echo_backend* b_;
};
sluice_instance* websockets::s_;
echo_backend* websockets::a_;
echo_backend* websockets::b_;

TEST_F(websockets, messages_go_both_ways_with_the_forwarding_headers)
{
    ws_client c(s_->port(), "ws.test", "/chat?room=1");
    EXPECT_EQ(c.response().result_int(), 101u);
    EXPECT_TRUE(beast::iequals(c.response()[beast::http::field::upgrade], "websocket"));
    EXPECT_EQ(c.exchange("hello"), "hello");
    std::string big(200 * 1024, 'z');
    EXPECT_EQ(c.exchange(big), big);
    auto who = nlohmann::json::parse(c.exchange("whoami"));
    EXPECT_EQ(who["service"], "ws-a");
    EXPECT_EQ(who["path"], "/chat?room=1");
    EXPECT_EQ(who["headers"]["upgrade"][0], "websocket");
    EXPECT_EQ(who["headers"]["connection"][0], "upgrade");
    EXPECT_EQ(who["headers"]["x-forwarded-for"][0], "127.0.0.1");
    EXPECT_FALSE(who["headers"]["sec-websocket-key"][0].get<std::string>().empty());
    EXPECT_TRUE(wait_until([&] { return s_->metric("sluice_upgraded_connections_active") == 1; }));
    // Between messages the open tunnel holds no body buffer.
    EXPECT_TRUE(wait_until([&] { return s_->metric("sluice_body_buffers_in_use") == 0; }))
        << s_->metric("sluice_body_buffers_in_use");
    c.close();
    EXPECT_TRUE(wait_until([&] { return s_->metric("sluice_upgraded_connections_active") == 0; }));
}

TEST_F(websockets, an_open_tunnel_survives_routing_swaps)
{
    ws_client before(s_->port(), "ws.test", "/");
    ASSERT_EQ(before.exchange("one"), "one");
    // The route moves to another Service, then disappears: the open tunnel keeps its upstream.
    uint64_t g = s_->generation();
    s_->write("ing.yaml", ingress_yaml("ws", "ws.test", {{"/", "Prefix", "ws-b"}}) + "---\n" +
                              ingress_yaml("idle", "idle.test", {{"/", "Prefix", "ws-a"}},
                                           annotations_yaml({{"proxy-read-timeout", "1"}})));
    g = s_->wait_for_generation_after(g);
    EXPECT_EQ(nlohmann::json::parse(before.exchange("whoami"))["service"], "ws-a");
    ws_client after(s_->port(), "ws.test", "/");
    EXPECT_EQ(nlohmann::json::parse(after.exchange("whoami"))["service"], "ws-b");
    for (int i = 0; i < 20; ++i) {
        s_->write("extra.yaml", ingress_yaml("extra", "extra" + std::to_string(i) + ".test", {{"/", "Prefix", "ws-b"}}));
        g = s_->wait_for_generation_after(g);
    }
    EXPECT_EQ(before.exchange("still here"), "still here");
    EXPECT_EQ(nlohmann::json::parse(before.exchange("whoami"))["service"], "ws-a");
    s_->remove("extra.yaml");
    s_->write("ing.yaml", ingress_yaml("ws", "ws.test", {{"/", "Prefix", "ws-a"}}) + "---\n" +
                              ingress_yaml("idle", "idle.test", {{"/", "Prefix", "ws-a"}},
                                           annotations_yaml({{"proxy-read-timeout", "1"}})));
    s_->wait_for_generation_after(g);
}

TEST_F(websockets, an_idle_tunnel_closes_after_proxy_read_timeout_and_a_busy_one_stays)
{
    ws_client c(s_->port(), "idle.test", "/");
    // Traffic every 400 ms for 2.4 s: longer than the 1 s timeout in total, never idle for 1 s.
    for (int i = 0; i < 6; ++i) {
        EXPECT_EQ(c.exchange("tick"), "tick");
        std::this_thread::sleep_for(400ms);
    }
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.closed_within(5s));
    auto idle = std::chrono::steady_clock::now() - start;
    EXPECT_GE(idle, 600ms);
    EXPECT_LT(idle, 3s);
}

TEST_F(websockets, any_upgrade_is_tunnelled_with_early_bytes_and_half_close)
{
    // An upstream speaking a made-up protocol: 101, a greeting in the same packet, then it
    // upper-cases what it reads until the client is done, and says goodbye.
    raw_server upstream([](tcp::socket& s) {
        asio::streambuf req;
        asio::read_until(s, req, "\r\n\r\n");
        std::string head(asio::buffers_begin(req.data()), asio::buffers_end(req.data()));
        bool asked = head.find("Upgrade: shout/1") != std::string::npos && head.find("Connection: upgrade") != std::string::npos;
        req.consume(head.find("\r\n\r\n") + 4);
        asio::write(s, asio::buffer(std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: shout/1\r\nConnection: Upgrade\r\n"
                                                "X-Upstream: yes\r\n\r\n") +
                                    (asked ? "hello\n" : "not asked\n")));
        std::string got(asio::buffers_begin(req.data()), asio::buffers_end(req.data()));
        got += upper_case_echo(s);
        boost::system::error_code ec;
        asio::write(s, asio::buffer("bye " + std::to_string(got.size()) + "\n"), ec);
        s.shutdown(tcp::socket::shutdown_send, ec);
    });
    uint64_t g = s_->generation();
    s_->write("raw.yaml", service_yaml("shout", {upstream.port()}) + "---\n" +
                              ingress_yaml("shout", "shout.test", {{"/", "Prefix", "shout"}}));
    s_->wait_for_generation_after(g);

    asio::io_context io;
    tcp::socket c(io);
    c.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), s_->port()));
    asio::write(c, asio::buffer(std::string("GET /talk HTTP/1.1\r\nHost: shout.test\r\nUpgrade: shout/1\r\n"
                                            "Connection: Upgrade\r\n\r\n")));
    asio::streambuf in;
    asio::read_until(c, in, "hello\n");
    std::string head(asio::buffers_begin(in.data()), asio::buffers_end(in.data()));
    EXPECT_TRUE(head.starts_with("HTTP/1.1 101 "));
    EXPECT_NE(head.find("X-Upstream: yes"), std::string::npos);
    EXPECT_NE(head.find("Upgrade: shout/1"), std::string::npos);
    in.consume(in.size());
    asio::write(c, asio::buffer(std::string("abc")));
    asio::read_until(c, in, "ABC");
    in.consume(in.size());
    c.shutdown(tcp::socket::shutdown_send);  // the client is done; the upstream still has a word
    boost::system::error_code ec;
    asio::read(c, in, ec);  // to the end: sluice closes once both sides are done
    EXPECT_EQ(ec, asio::error::eof);
    EXPECT_EQ(std::string(asio::buffers_begin(in.data()), asio::buffers_end(in.data())), "bye 3\n");
    s_->remove("raw.yaml");
    s_->wait_for_generation_after(s_->generation());
}

TEST_F(websockets, a_101_nobody_asked_for_is_a_bad_gateway)
{
    raw_server upstream([](tcp::socket& s) {
        asio::streambuf req;
        asio::read_until(s, req, "\r\n\r\n");
        asio::write(s, asio::buffer(std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")));
        boost::system::error_code ec;
        asio::read(s, req, ec);
    });
    uint64_t g = s_->generation();
    s_->write("raw.yaml", service_yaml("sly", {upstream.port()}) + "---\n" + ingress_yaml("sly", "sly.test", {{"/", "Prefix", "sly"}}));
    s_->wait_for_generation_after(g);
    EXPECT_EQ(http_get(s_->port(), "/", "sly.test").status, 502u);
    s_->remove("raw.yaml");
    s_->wait_for_generation_after(s_->generation());
}

}  // namespace
}  // namespace sluice::test
