// Slow and abusive clients against the real binary: a header trickled a byte at a time
// (slowloris), a body that stalls, a client that never reads its response, more connections
// than max-worker-connections, and the memory thousands of idle or half-sent connections cost.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

// A plain client socket, so the test controls every byte and every pause.
class raw_client {
public:
    explicit raw_client(uint16_t port)
    {
        socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    }
    int fd() { return socket_.native_handle(); }
    bool send(std::string_view bytes)
    {
        boost::system::error_code ec;
        asio::write(socket_, asio::buffer(bytes.data(), bytes.size()), ec);
        return !ec;
    }
    // Reads until the peer closes or `timeout` passes; true when it closed.
    bool read_until_closed(std::chrono::milliseconds timeout, std::string* received = nullptr)
    {
        auto end = clock_type::now() + timeout;
        char buf[65536];
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - clock_type::now()).count();
            if (left <= 0)
                return false;
            pollfd p{fd(), POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left)) <= 0)
                continue;
            ssize_t n = ::recv(fd(), buf, sizeof buf, 0);
            if (n == 0 || (n < 0 && errno == ECONNRESET))
                return true;
            if (n > 0 && received)
                received->append(buf, static_cast<size_t>(n));
        }
    }
    // Whether anything (bytes or a close) arrives within `timeout`.
    bool readable_within(std::chrono::milliseconds timeout)
    {
        pollfd p{fd(), POLLIN, 0};
        return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
    }
    // Reads one response's status line and header (enough for these tests).
    unsigned read_status(std::chrono::milliseconds timeout = 5s)
    {
        std::string got;
        auto end = clock_type::now() + timeout;
        char buf[4096];
        while (got.find("\r\n\r\n") == std::string::npos && clock_type::now() < end) {
            pollfd p{fd(), POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0)
                continue;
            ssize_t n = ::recv(fd(), buf, sizeof buf, 0);
            if (n <= 0)
                break;
            got.append(buf, static_cast<size_t>(n));
        }
        if (got.size() < 12 || got.compare(0, 5, "HTTP/") != 0)
            return 0;
        return static_cast<unsigned>(std::stoi(got.substr(9, 3)));
    }

private:
    asio::io_context io_;
    tcp::socket socket_{io_};
};

class abusive_clients : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        echo_ = new echo_backend("echo");
        // One worker, so max-worker-connections is the whole process's limit.
        s_ = new sluice_instance({"--configmap", "default/sluice", "--workers", "1"});
        s_->write("class.yaml", ingress_class_yaml());
        s_->write("cm.yaml", configmap_yaml({{"client-header-timeout", "1s"},
                                             {"client-body-timeout", "1s"},
                                             {"proxy-send-timeout", "1s"},
                                             {"keep-alive", "3"},
                                             {"keep-alive-requests", "3"},
                                             {"max-worker-connections", "3000"}}));
        s_->write("svc.yaml", service_yaml("echo", {echo_->port()}));
        s_->write("ing.yaml", ingress_yaml("e", "e.test", {{"/", "Prefix", "echo"}}));
        s_->start();
    }
    static void TearDownTestSuite()
    {
        delete s_;
        delete echo_;
    }
    static inline echo_backend* echo_ = nullptr;
    static inline sluice_instance* s_ = nullptr;
};

TEST_F(abusive_clients, slowloris_header_is_cut_at_client_header_timeout)
{
    // One byte every 100 ms: each read is quick, but the header as a whole takes too long. The
    // timeout runs from the first byte, so the connection closes about 1 s in, without a response
    // (nginx closes without one too), and well before the trickle would have finished.
    raw_client c(s_->port());
    const std::string header = "GET / HTTP/1.1\r\nHost: e.test\r\nX-Padding: " + std::string(60, 'a') + "\r\n\r\n";
    auto start = clock_type::now();
    bool closed = false;
    std::string received;
    for (char ch : header) {
        if (!c.send(std::string_view(&ch, 1))) {
            closed = true;
            break;
        }
        if (c.readable_within(100ms)) {
            closed = c.read_until_closed(1s, &received);
            break;
        }
    }
    auto took = clock_type::now() - start;
    EXPECT_TRUE(closed) << "the trickled header was served";
    EXPECT_TRUE(received.empty()) << received;
    EXPECT_GE(took, 900ms);
    EXPECT_LT(took, 3s);
    EXPECT_EQ(http_get(s_->port(), "/", "e.test").status, 200u);
}

TEST_F(abusive_clients, stalled_body_gets_408_at_client_body_timeout)
{
    raw_client c(s_->port());
    ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: e.test\r\nContent-Length: 1000\r\n\r\n" + std::string(100, 'b')));
    auto start = clock_type::now();
    EXPECT_EQ(c.read_status(4s), 408u);
    auto took = clock_type::now() - start;
    EXPECT_GE(took, 900ms);
    EXPECT_LT(took, 3s);
    EXPECT_TRUE(c.read_until_closed(2s)) << "a 408 closes the connection";

    // A body that keeps arriving, however slowly, is not cut: 5 pieces, 400 ms apart (2 s in all,
    // twice the timeout), since client-body-timeout is between two reads, as in nginx.
    raw_client slow(s_->port());
    ASSERT_TRUE(slow.send("POST /upload HTTP/1.1\r\nHost: e.test\r\nContent-Length: 50\r\n\r\n"));
    for (int i = 0; i < 5; ++i) {
        std::this_thread::sleep_for(400ms);
        ASSERT_TRUE(slow.send(std::string(10, 'c')));
    }
    EXPECT_EQ(slow.read_status(), 200u);
}

TEST_F(abusive_clients, reader_that_stops_reading_is_closed_with_bounded_memory)
{
    // An upstream with a 256 MB answer; the client reads its header and then nothing. sluice
    // relays only what the socket buffers take, then gives up after proxy-send-timeout (1 s) of
    // not being able to write, and releases the upstream. Its memory never holds the body.
    std::atomic<bool> upstream_cut{false};
    raw_server big([&](tcp::socket& s) {
        asio::streambuf req;
        asio::read_until(s, req, "\r\n\r\n");
        const size_t total = 256u * 1024 * 1024;
        asio::write(s, asio::buffer("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(total) + "\r\n\r\n"));
        std::string chunk(64 * 1024, 'z');
        boost::system::error_code ec;
        for (size_t sent = 0; sent < total && !ec; sent += chunk.size())
            asio::write(s, asio::buffer(chunk), ec);
        upstream_cut = static_cast<bool>(ec);
    });
    uint64_t g = s_->generation();
    s_->write("big.yaml", service_yaml("big", {big.port()}) + "---\n" + ingress_yaml("big", "big.test", {{"/", "Prefix", "big"}}));
    s_->wait_for_generation_after(g);

    long rss_before = s_->proc().memory_kib("VmRSS");
    raw_client c(s_->port());
    int small = 64 * 1024;
    ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    ASSERT_TRUE(c.send("GET /big HTTP/1.1\r\nHost: big.test\r\n\r\n"));
    ASSERT_EQ(c.read_status(), 200u);
    auto start = clock_type::now();
    // Not reading: sluice's writes stall. The close shows as soon as we look again.
    std::this_thread::sleep_for(2500ms);
    long rss_stalled = s_->proc().memory_kib("VmRSS");
    std::string rest;
    bool closed = c.read_until_closed(5s, &rest);
    EXPECT_TRUE(closed);
    EXPECT_LT(rest.size(), 64u * 1024 * 1024) << "sluice relayed most of the body to a client that was not reading";
    EXPECT_LT(clock_type::now() - start, 8s);
    EXPECT_TRUE(wait_until([&] { return upstream_cut.load(); }, 5s)) << "the upstream connection was kept";
    if (!sanitized_build) {
        EXPECT_LT(rss_stalled - rss_before, 8 * 1024) << "KiB held for one stalled response";
    }
    EXPECT_EQ(http_get(s_->port(), "/", "e.test").status, 200u);
    s_->remove("big.yaml");
}

// Connections held open in three states, and sluice's resident memory per connection.
TEST_F(abusive_clients, memory_per_connection_is_bounded)
{
    constexpr int each = 500;
    // Warm up: the first requests size the worker's pools.
    for (int i = 0; i < 20; ++i)
        ASSERT_EQ(http_get(s_->port(), "/", "e.test").status, 200u);
    long before = s_->proc().memory_kib("VmRSS");
    std::vector<std::unique_ptr<raw_client>> idle, partial, fresh;
    for (int i = 0; i < each; ++i) {
        // Idle keep-alive after one request.
        idle.push_back(std::make_unique<raw_client>(s_->port()));
        ASSERT_TRUE(idle.back()->send("GET / HTTP/1.1\r\nHost: e.test\r\n\r\n"));
    }
    for (auto& c : idle)
        ASSERT_EQ(c->read_status(), 200u);
    for (int i = 0; i < each; ++i) {
        // Half a header (2 KB), then nothing.
        partial.push_back(std::make_unique<raw_client>(s_->port()));
        ASSERT_TRUE(partial.back()->send("GET / HTTP/1.1\r\nHost: e.test\r\nX-A: " + std::string(2000, 'p')));
        // Connected, nothing sent.
        fresh.push_back(std::make_unique<raw_client>(s_->port()));
    }
    ASSERT_TRUE(wait_until([&] { return s_->metric("sluice_connections_active") >= 3 * each; }, 10s))
        << s_->metric("sluice_connections_active");
    long after = s_->proc().memory_kib("VmRSS");
    double per_connection = static_cast<double>(after - before) * 1024 / (3 * each);
    std::printf("resident memory per connection (idle keep-alive, half header, fresh): %.0f bytes\n", per_connection);
    if (!sanitized_build) {
        // The bound: a connection holds its session and coroutine frames and its header buffer
        // (1 KiB while idle, up to 4 KiB more while a longer header arrives); no body buffer
        // while it waits. Measured about 6 KiB on average over the three kinds.
        EXPECT_LT(per_connection, 16 * 1024);
    }
    // The half headers time out (client-header-timeout 1 s) and free their memory.
    EXPECT_TRUE(wait_until([&] { return s_->metric("sluice_connections_active") <= 2 * each; }, 5s));
}

// A keep-alive connection idle for about a second is parked: its worker keeps the socket and
// frees the session, its coroutine frames and buffers. It is served again as before, its
// requests are counted across parking (keep-alive-requests), and it stays an open connection.
TEST_F(abusive_clients, idle_keepalive_connections_are_parked_and_served_again)
{
    constexpr int n = 20;
    ASSERT_TRUE(wait_until([&] { return s_->metric("sluice_connections_active") == 0; }, 10s));
    std::vector<std::unique_ptr<http_connection>> conns;
    for (int i = 0; i < n; ++i) {
        conns.push_back(std::make_unique<http_connection>(s_->port()));
        response r = conns.back()->request("GET", "/first", "e.test");
        ASSERT_EQ(r.status, 200u);
        EXPECT_TRUE(r.keep_alive);
    }
    ASSERT_TRUE(wait_until([&] { return s_->metric("sluice_connections_parked") == n; }, 5s))
        << s_->metric("sluice_connections_parked");
    EXPECT_EQ(s_->metric("sluice_connections_active"), n);
    for (auto& c : conns) {
        response r = c->request("GET", "/second", "e.test");
        ASSERT_EQ(r.status, 200u);
        EXPECT_EQ(r.json()["path"], "/second");
        EXPECT_TRUE(r.keep_alive);
    }
    EXPECT_LT(s_->metric("sluice_connections_parked"), n);
    // Parked again, then the third request: the last that keep-alive-requests (3) allows.
    ASSERT_TRUE(wait_until([&] { return s_->metric("sluice_connections_parked") == n; }, 5s));
    for (auto& c : conns) {
        response r = c->request("GET", "/third", "e.test");
        ASSERT_EQ(r.status, 200u);
        EXPECT_EQ(r.json()["path"], "/third");
        EXPECT_FALSE(r.keep_alive);
    }
    EXPECT_TRUE(wait_until([&] { return s_->metric("sluice_connections_active") == 0; }, 5s));
    EXPECT_EQ(s_->metric("sluice_connections_parked"), 0);
}

// A parked connection still closes at its keep-alive timeout (3 s here), counted from its last
// response.
TEST_F(abusive_clients, parked_connections_close_at_their_timeouts)
{
    raw_client kept(s_->port());
    ASSERT_TRUE(kept.send("GET / HTTP/1.1\r\nHost: e.test\r\n\r\n"));
    ASSERT_EQ(kept.read_status(), 200u);
    const auto answered = clock_type::now();
    ASSERT_TRUE(wait_until([&] { return s_->metric("sluice_connections_parked") >= 1; }, 3s));
    EXPECT_TRUE(kept.read_until_closed(6s)) << "a parked keep-alive connection outlived keep-alive (3 s)";
    const auto lived = clock_type::now() - answered;
    EXPECT_GT(lived, 2500ms);
    EXPECT_LT(lived, 4500ms);
    EXPECT_TRUE(wait_until([&] { return s_->metric("sluice_connections_parked") == 0; }, 2s));
}

// A TLS keep-alive connection is parked too (the worker keeps the socket and the SSL object),
// is served again when it speaks, and at its keep-alive timeout closes with a close_notify.
TEST_F(abusive_clients, parked_tls_connections_are_served_again_and_close_with_close_notify)
{
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    asio::ssl::stream<tcp::socket> tls(io, ctx);  // sluice's default certificate, not verified
    tls.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), s_->https_port()));
    tls.handshake(asio::ssl::stream_base::client);
    boost::beast::flat_buffer in;
    auto request = [&](const std::string& path) {
        boost::beast::http::request<boost::beast::http::empty_body> req{boost::beast::http::verb::get, path, 11};
        req.set(boost::beast::http::field::host, "e.test");
        boost::beast::http::write(tls, req);
        boost::beast::http::response<boost::beast::http::string_body> res;
        boost::beast::http::read(tls, in, res);
        return to_response(std::move(res));
    };
    const double parked_before = s_->metric("sluice_connections_parked");
    EXPECT_EQ(request("/one").json()["path"], "/one");
    ASSERT_TRUE(wait_until([&] { return s_->metric("sluice_connections_parked") == parked_before + 1; }, 3s));
    response again = request("/two");
    EXPECT_EQ(again.status, 200u) << again.body;
    EXPECT_EQ(again.json()["path"], "/two") << again.body;
    const auto answered = clock_type::now();
    ASSERT_TRUE(wait_until([&] { return s_->metric("sluice_connections_parked") == parked_before + 1; }, 3s));
    char byte;
    boost::system::error_code ec;
    tls.read_some(asio::buffer(&byte, 1), ec);
    const auto lived = clock_type::now() - answered;
    EXPECT_EQ(ec, asio::error::eof) << "closed without a close_notify: " << ec.message();
    EXPECT_GT(lived, 2500ms);
    EXPECT_LT(lived, 4500ms);
}

// A connection parked before its first request keeps the header deadline it had from accept:
// waking it with a trickled header does not start client-header-timeout again.
TEST(abusive_client, connection_parked_before_its_first_request_keeps_its_header_deadline)
{
    echo_backend echo("echo");
    sluice_instance s({"--configmap", "default/sluice", "--workers", "1"});
    s.write("class.yaml", ingress_class_yaml());
    s.write("cm.yaml", configmap_yaml({{"client-header-timeout", "3s"}}));
    s.write("svc.yaml", service_yaml("echo", {echo.port()}));
    s.write("ing.yaml", ingress_yaml("e", "e.test", {{"/", "Prefix", "echo"}}));
    s.start();
    const auto connected = clock_type::now();
    raw_client silent(s.port());
    ASSERT_TRUE(wait_until([&] { return s.metric("sluice_connections_parked") == 1; }, 2500ms));
    ASSERT_TRUE(silent.send("GET / HTTP/1.1\r\n"));
    std::string received;
    EXPECT_TRUE(silent.read_until_closed(6s, &received));
    const auto lived = clock_type::now() - connected;
    EXPECT_TRUE(received.empty()) << received;
    EXPECT_GT(lived, 2500ms);
    EXPECT_LT(lived, 3800ms) << "the header timeout started again when the parked connection woke";
}

TEST_F(abusive_clients, max_worker_connections_pauses_accepting_until_one_closes)
{
    uint64_t g = s_->generation();
    s_->write("cm.yaml", configmap_yaml({{"client-header-timeout", "1s"},
                                         {"client-body-timeout", "1s"},
                                         {"proxy-send-timeout", "1s"},
                                         {"max-worker-connections", "4"}}));
    s_->wait_for_generation_after(g);
    // Earlier tests' connections are gone.
    ASSERT_TRUE(wait_until([&] { return s_->metric("sluice_connections_active") == 0; }, 5s));
    double paused_before = s_->metric("sluice_worker_connection_limit_reached_total");
    std::vector<std::unique_ptr<raw_client>> held;
    for (int i = 0; i < 4; ++i) {
        held.push_back(std::make_unique<raw_client>(s_->port()));
        ASSERT_TRUE(held.back()->send("GET / HTTP/1.1\r\nHost: e.test\r\n\r\n"));
        ASSERT_EQ(held.back()->read_status(), 200u);
    }
    // The fifth connects (the kernel's backlog takes it) but is not served while four are open.
    raw_client fifth(s_->port());
    ASSERT_TRUE(fifth.send("GET / HTTP/1.1\r\nHost: e.test\r\n\r\n"));
    EXPECT_FALSE(fifth.readable_within(700ms)) << "a fifth connection was served over the limit of four";
    EXPECT_GT(s_->metric("sluice_worker_connection_limit_reached_total"), paused_before);
    EXPECT_NE(s_->proc().log().find("max-worker-connections (4) reached"), std::string::npos);
    // One closes: the fifth is accepted and answered.
    held.pop_back();
    EXPECT_EQ(fifth.read_status(), 200u);
    // Raising the limit lets waiting connections in without any closing.
    raw_client sixth(s_->port());
    ASSERT_TRUE(sixth.send("GET / HTTP/1.1\r\nHost: e.test\r\n\r\n"));
    EXPECT_FALSE(sixth.readable_within(500ms));
    g = s_->generation();
    s_->write("cm.yaml", configmap_yaml({{"client-header-timeout", "1s"},
                                         {"client-body-timeout", "1s"},
                                         {"proxy-send-timeout", "1s"},
                                         {"max-worker-connections", "3000"}}));
    s_->wait_for_generation_after(g);
    EXPECT_EQ(sixth.read_status(), 200u);
}

}  // namespace
}  // namespace sluice::test
