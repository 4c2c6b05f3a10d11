// Forwarding behaviour through the real binary: headers, bodies, errors, retries, keep-alive.
#include <array>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <sys/socket.h>

#include <boost/asio/buffers_iterator.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string sha256_hex(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    std::vector<char> buf(1 << 20);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(in.gcount()));
    }
    unsigned char md[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    std::string hex;
    char b[3];
    for (unsigned i = 0; i < len; ++i) {
        std::snprintf(b, sizeof b, "%02x", md[i]);
        hex += b;
    }
    return hex;
}

// Sends `bytes` and the end of the stream in one TCP segment: corked, the bytes wait in the send
// queue and the kernel tacks the FIN onto them, so the peer's one readiness event covers both.
void send_with_fin(tcp::socket& s, const std::string& bytes)
{
    int on = 1;
    ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_CORK, &on, sizeof on);
    asio::write(s, asio::buffer(bytes));
    s.shutdown(tcp::socket::shutdown_send);
}

class proxying : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        echo_ = new echo_backend("echo");
        s_ = new sluice_instance({"--configmap", "default/sluice"});
        s_->write("class.yaml", ingress_class_yaml());
        s_->write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sluice, namespace: default}\n"
                             "data:\n  proxy-body-size: 200m\n  proxy-read-timeout: \"1\"\n");
        s_->write("svc.yaml", service_yaml("echo", {echo_->port()}) + "---\n" + service_yaml("empty", {}, {echo_->port()}));
        s_->write("ing.yaml", ingress_yaml("web", "proxy.test", {{"/", "Prefix", "echo"}, {"/empty", "Prefix", "empty"},
                                                                {"/missing", "Prefix", "no-such-service"}}));
        s_->start();
    }
    static void TearDownTestSuite()
    {
        delete s_;
        delete echo_;
    }
    static sluice_instance* s_;
    static echo_backend* echo_;
};
sluice_instance* proxying::s_;
echo_backend* proxying::echo_;

TEST_F(proxying, sets_forwarding_headers_as_ingress_nginx)
{
    auto r = http_get(s_->port(), "/x", "proxy.test:8080",
                      {{"X-Forwarded-For", "10.9.9.9"}, {"Connection", "keep-alive, X-Secret"}, {"X-Secret", "s"},
                       {"Proxy", "http://evil"}, {"TE", "trailers"}});
    ASSERT_EQ(r.status, 200u);
    auto h = r.json()["headers"];
    EXPECT_EQ(h["host"][0], "proxy.test:8080");
    EXPECT_EQ(h["x-forwarded-host"][0], "proxy.test:8080");
    EXPECT_EQ(h["x-forwarded-for"][0], "127.0.0.1");  // use-forwarded-headers is off by default
    EXPECT_EQ(h["x-original-forwarded-for"][0], "10.9.9.9");
    EXPECT_EQ(h["x-real-ip"][0], "127.0.0.1");
    EXPECT_EQ(h["x-forwarded-proto"][0], "http");
    EXPECT_EQ(h["x-scheme"][0], "http");
    EXPECT_EQ(h["x-forwarded-port"][0], std::to_string(s_->port()));
    const std::string id = h["x-request-id"][0].get<std::string>();
    EXPECT_EQ(id.size(), 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;  // $request_id: 16 random bytes in hex
    EXPECT_FALSE(h.contains("x-secret"));
    EXPECT_FALSE(h.contains("proxy"));
    EXPECT_FALSE(h.contains("te"));
    EXPECT_FALSE(h.contains("connection"));
}

TEST_F(proxying, keeps_the_client_request_id)
{
    auto r = http_get(s_->port(), "/", "proxy.test", {{"X-Request-ID", "abc-123"}});
    EXPECT_EQ(r.json()["headers"]["x-request-id"][0], "abc-123");
    auto r2 = http_get(s_->port(), "/", "proxy.test");
    auto r3 = http_get(s_->port(), "/", "proxy.test");
    EXPECT_NE(r2.json()["headers"]["x-request-id"], r3.json()["headers"]["x-request-id"]);
}

TEST_F(proxying, head_gets_headers_without_body)
{
    http_connection c(s_->port());
    auto r = c.request("HEAD", "/h", "proxy.test");
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(r.body.empty());
    EXPECT_NE(r.headers["content-length"], "0");
    // The connection is still in sync after the bodiless response.
    auto r2 = c.request("GET", "/after-head", "proxy.test");
    EXPECT_EQ(r2.json()["path"], "/after-head");
}

// A response to HEAD, a 204 and a 304 end with their header even when the upstream's header
// says chunked: a last chunk written after them would be read as the start of the next response.
TEST_F(proxying, bodiless_responses_with_a_chunked_header_keep_the_connection_in_sync)
{
    raw_server upstream([](tcp::socket& sock) {
        asio::streambuf in;
        boost::system::error_code ec;
        for (;;) {
            size_t n = asio::read_until(sock, in, "\r\n\r\n", ec);
            if (ec)
                return;
            std::string head(asio::buffers_begin(in.data()), asio::buffers_begin(in.data()) + static_cast<std::ptrdiff_t>(n));
            in.consume(n);
            std::string answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
            if (head.starts_with("HEAD "))
                answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
            else if (head.starts_with("GET /304 "))
                answer = "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n";
            else if (head.starts_with("GET /204 "))
                answer = "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n";
            asio::write(sock, asio::buffer(answer), ec);
            if (ec)
                return;
        }
    });
    uint64_t g = s_->generation();
    s_->write("chunked-head.yaml", service_yaml("chunked-head", {upstream.port()}) + "---\n" +
                                       ingress_yaml("chunked-head", "chunked-head.test", {{"/", "Prefix", "chunked-head"}}));
    s_->wait_for_generation_after(g);

    http_connection c(s_->port());
    for (const char* target : {"/304", "/204", "/head"}) {
        auto r = c.request(target == std::string("/head") ? "HEAD" : "GET", target, "chunked-head.test");
        EXPECT_TRUE(r.body.empty()) << target;
        auto next = c.request("GET", "/after", "chunked-head.test");
        EXPECT_EQ(next.status, 200u) << "after " << target;
        EXPECT_EQ(next.body, "hello") << "after " << target;
    }
    s_->remove("chunked-head.yaml");
}

TEST_F(proxying, many_keepalive_requests_share_one_connection)
{
    double before = s_->metric("sluice_connections_accepted_total");
    http_connection c(s_->port());
    for (int i = 0; i < 300; ++i) {
        auto r = c.request("GET", "/k/" + std::to_string(i), "proxy.test");
        ASSERT_EQ(r.status, 200u);
        ASSERT_EQ(r.json()["path"], "/k/" + std::to_string(i));
        ASSERT_TRUE(r.keep_alive);
    }
    // One proxy connection for the 300 requests (scrapes use the status port).
    EXPECT_EQ(s_->metric("sluice_connections_accepted_total") - before, 1);
}

TEST_F(proxying, pipelined_requests_are_answered_in_order)
{
    http_connection c(s_->port());
    auto r1 = c.raw("GET /p1 HTTP/1.1\r\nHost: proxy.test\r\n\r\nGET /p2 HTTP/1.1\r\nHost: proxy.test\r\n\r\n");
    EXPECT_EQ(r1.json()["path"], "/p1");
    auto r2 = c.raw("");
    EXPECT_EQ(r2.json()["path"], "/p2");
}

TEST_F(proxying, http10_client_gets_its_answer)
{
    http_connection c(s_->port());
    auto r = c.raw("GET /ten HTTP/1.0\r\nHost: proxy.test\r\n\r\n");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.json()["path"], "/ten");
    EXPECT_FALSE(r.keep_alive);

    // HTTP/1.0 with keep-alive (ab -k, old load balancers' probes): the answer must say
    // "Connection: keep-alive" and carry a length, or the client waits for a close that never
    // comes; the next request uses the same connection. The request still goes upstream as 1.1.
    http_connection k(s_->port());
    for (int i = 0; i < 3; ++i) {
        auto a = k.raw("GET /ten-keep HTTP/1.0\r\nHost: proxy.test\r\nConnection: keep-alive\r\n\r\n");
        EXPECT_EQ(a.status, 200u);
        EXPECT_EQ(a.headers["connection"], "keep-alive");
        EXPECT_FALSE(a.headers["content-length"].empty());
        EXPECT_EQ(a.headers.count("transfer-encoding"), 0u);
        EXPECT_EQ(a.json()["proto"], "HTTP/1.1");
        ASSERT_TRUE(k.is_open());
    }
    // A local answer (404 here) keeps the connection the same way.
    auto missing = k.raw("GET /ten HTTP/1.0\r\nHost: nowhere.test\r\nConnection: keep-alive\r\n\r\n");
    EXPECT_EQ(missing.status, 404u);
    EXPECT_EQ(missing.headers["connection"], "keep-alive");
}

TEST_F(proxying, posts_fixed_length_and_chunked_bodies)
{
    http_connection c(s_->port());
    auto r = c.request("POST", "/post", "proxy.test", {{"Content-Type", "text/plain"}}, "hello world");
    EXPECT_EQ(r.json()["body_bytes"], 11);
    auto chunked = c.raw(
        "POST /chunked HTTP/1.1\r\nHost: proxy.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    EXPECT_EQ(chunked.status, 200u);
    EXPECT_EQ(chunked.json()["body_bytes"], 11);
    EXPECT_EQ(chunked.json()["headers"]["transfer-encoding"][0], "chunked");
}

TEST_F(proxying, answers_expect_100_continue_itself)
{
    // The 100 Continue comes first; the request body follows it; the final answer last.
    asio::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), s_->port()));
    asio::write(s, asio::buffer(std::string(
                       "POST /expect HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")));
    asio::streambuf buf;
    asio::read_until(s, buf, "\r\n\r\n");
    std::string interim(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
    EXPECT_EQ(interim.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u) << interim;
    buf.consume(buf.size());
    asio::write(s, asio::buffer(std::string("abcde")));
    asio::read_until(s, buf, "\"service\"");
    std::string final_answer(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
    EXPECT_NE(final_answer.find("HTTP/1.1 200 OK"), std::string::npos);
    EXPECT_EQ(final_answer.find("\"expect\":"), std::string::npos) << "Expect must not reach the upstream";
}

TEST_F(proxying, large_upload_streams_with_bounded_memory)
{
    // 100 MB through curl (Expect: 100-continue, then the body), checked by the echo backend's
    // SHA-256 and by sluice's peak memory.
    std::string file = (s_->dir() / "upload.bin").string() + ".data";
    {
        std::ofstream out(file, std::ios::binary);
        std::mt19937 rng(42);
        std::vector<uint32_t> block(1 << 18);
        for (int i = 0; i < 100; ++i) {
            for (auto& v : block)
                v = rng();
            out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(block.size() * 4));
        }
    }
    long rss_before = s_->proc().memory_kib("VmRSS");
    std::string url = "http://127.0.0.1:" + std::to_string(s_->port()) + "/upload";
    std::string out = run_command("curl -s -H 'Host: proxy.test' -T " + file + " " + url);
    auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["body_bytes"], 100 * 1024 * 1024);
    EXPECT_EQ(j["body_sha256"], sha256_hex(file));
    std::string chunked = run_command("curl -s -H 'Host: proxy.test' -H 'Transfer-Encoding: chunked' --data-binary @" + file +
                              " " + url);
    auto jc = nlohmann::json::parse(chunked);
    EXPECT_EQ(jc["body_bytes"], 100 * 1024 * 1024);
    EXPECT_EQ(jc["body_sha256"], sha256_hex(file));
    long rss_after = s_->proc().memory_kib("VmRSS");
    if (!sanitized_build) {  // a sanitizer's quarantine and shadow memory make RSS meaningless
        EXPECT_LT(rss_after - rss_before, 16 * 1024) << "sluice must not hold the body";
    }
    std::filesystem::remove(file);
}

TEST_F(proxying, large_chunked_and_close_delimited_responses_stream)
{
    // An upstream that sends 100 MB chunked, and one that ends its body by closing.
    const size_t total = 100u * 1024 * 1024;
    raw_server chunked([&](tcp::socket& s) {
        asio::streambuf req;
        asio::read_until(s, req, "\r\n\r\n");
        asio::write(s, asio::buffer(std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")));
        std::string chunk(64 * 1024, 'x');
        char size_line[32];
        std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
        for (size_t sent = 0; sent < total; sent += chunk.size()) {
            asio::write(s, std::array<asio::const_buffer, 3>{asio::buffer(size_line, strlen(size_line)),
                                                             asio::buffer(chunk), asio::buffer("\r\n", 2)});
        }
        asio::write(s, asio::buffer(std::string("0\r\n\r\n")));
        boost::system::error_code ec;
        asio::read(s, req, ec);  // until sluice closes or reuses
    });
    raw_server closing([&](tcp::socket& s) {
        asio::streambuf req;
        asio::read_until(s, req, "\r\n\r\n");
        asio::write(s, asio::buffer(std::string("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nno length, ends at close")));
    });
    uint64_t g = s_->generation();
    s_->write("raw.yaml", service_yaml("chunky", {chunked.port()}) + "---\n" + service_yaml("closing", {closing.port()}) +
                              "---\n" +
                              ingress_yaml("raw", "raw.test", {{"/chunky", "Prefix", "chunky"}, {"/closing", "Prefix", "closing"}}));
    s_->wait_for_generation_after(g);

    long rss_before = s_->proc().memory_kib("VmRSS");
    std::string url = "http://127.0.0.1:" + std::to_string(s_->port());
    std::string size = run_command("curl -s -o /dev/null -w '%{size_download}' -H 'Host: raw.test' " + url + "/chunky");
    EXPECT_EQ(size, std::to_string(total));
    long rss_after = s_->proc().memory_kib("VmRSS");
    if (!sanitized_build) {
        EXPECT_LT(rss_after - rss_before, 16 * 1024);
    }

    http_connection c(s_->port());
    auto r = c.request("GET", "/closing", "raw.test");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "no length, ends at close");
    EXPECT_EQ(r.headers["transfer-encoding"], "chunked");
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(c.request("GET", "/after", "proxy.test").status, 200u);
    s_->remove("raw.yaml");
    s_->wait_for_generation_after(s_->generation());
}

TEST_F(proxying, malformed_upstream_responses_are_502_and_never_desynchronise_a_pooled_connection)
{
    // One upstream whose answer depends on the path. Every connection stays open after its
    // answer and serves the next request on it, so a connection that sluice pooled out of step
    // would hand a later request the wrong bytes.
    const std::string huge(80 * 1024, 'h');
    raw_server upstream([&](tcp::socket& sock) {
        asio::streambuf in;
        boost::system::error_code ec;
        for (;;) {
            const size_t n = asio::read_until(sock, in, "\r\n\r\n", ec);
            if (ec)
                return;
            const std::string head(asio::buffers_begin(in.data()), asio::buffers_begin(in.data()) + static_cast<std::ptrdiff_t>(n));
            in.consume(n);
            const std::string path = head.substr(4, head.find(' ', 4) - 4);
            std::string answer;
            if (path == "/ok")
                answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            else if (path == "/trickle") {
                // A valid answer a byte at a time: the header and body arrive over many reads.
                for (char c : std::string("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Slow: yes\r\n\r\ntrickled")) {
                    asio::write(sock, asio::buffer(&c, 1), ec);
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
                continue;
            } else if (path == "/interim")
                answer = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
                         "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ninterim";
            else if (path == "/extra")  // more bytes than its Content-Length: a smuggled second response
                answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsmugg";
            else if (path == "/extra-later") {  // the same, the extra bytes once the connection is idle
                asio::write(sock, asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")), ec);
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                answer = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsmugg";
            }
            else if (path == "/two-lengths")
                answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\nokokoko";
            else if (path == "/bad-length")
                answer = "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok";
            else if (path == "/bad-chunk")
                answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n";
            else if (path == "/bad-status")
                answer = "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok";
            else if (path == "/nul") {
                static const char with_nul[] = "HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok";
                answer.assign(with_nul, sizeof with_nul - 1);
            }
            else if (path == "/huge-header")
                answer = "HTTP/1.1 200 OK\r\nX-Huge: " + huge + "\r\nContent-Length: 2\r\n\r\nok";
            else if (path == "/half-header") {
                asio::write(sock, asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Len")), ec);
                return;  // and close
            } else if (path == "/nothing")
                return;  // close without an answer
            asio::write(sock, asio::buffer(answer), ec);
            if (ec)
                return;
        }
    });
    uint64_t g = s_->generation();
    s_->write("hostile-up.yaml", service_yaml("hostile-up", {upstream.port()}) + "---\n" +
                                     ingress_yaml("hostile-up", "hostile-up.test", {{"/", "Prefix", "hostile-up"}}));
    s_->wait_for_generation_after(g);

    struct expectation {
        const char* path;
        unsigned status;
        const char* body;
    };
    for (const expectation& e : {expectation{"/trickle", 200, "trickled"}, expectation{"/interim", 200, "interim"},
                                 expectation{"/extra", 200, "ok"}, expectation{"/extra-later", 200, "ok"},
                                 expectation{"/two-lengths", 502, nullptr},
                                 expectation{"/bad-length", 502, nullptr}, expectation{"/bad-chunk", 502, nullptr},
                                 expectation{"/bad-status", 502, nullptr}, expectation{"/nul", 502, nullptr},
                                 expectation{"/huge-header", 502, nullptr}, expectation{"/half-header", 502, nullptr},
                                 expectation{"/nothing", 502, nullptr}}) {
        http_connection c(s_->port());
        auto r = c.request("GET", e.path, "hostile-up.test");
        EXPECT_EQ(r.status, e.status) << e.path;
        if (e.body)
            EXPECT_EQ(r.body, e.body) << e.path;
        std::this_thread::sleep_for(std::chrono::milliseconds(150));  // past any late extra bytes
        // The next requests, on the same client connection when it stays open and on a new one,
        // each see their own answer whatever upstream connection they get.
        http_connection fresh(s_->port());
        for (http_connection* next : {r.keep_alive ? &c : nullptr, &fresh}) {
            if (!next)
                continue;
            for (int i = 0; i < 3; ++i) {
                auto ok = next->request("GET", "/ok", "hostile-up.test");
                EXPECT_EQ(ok.status, 200u) << "after " << e.path;
                EXPECT_EQ(ok.body, "ok") << "after " << e.path;
            }
        }
    }
    s_->remove("hostile-up.yaml");
    s_->wait_for_generation_after(s_->generation());
}

TEST_F(proxying, a_read_that_empties_a_socket_makes_the_next_wait_for_readiness)
{
    // A read that took everything a socket held is not followed by a read that fails with
    // EAGAIN: the next request on a keep-alive client connection, and the next response on a
    // pooled upstream connection, are read once each, when they arrive. strace watches sluice's
    // socket reads while one connection sends requests with pauses between them.
    http_connection c(s_->port());
    ASSERT_EQ(c.request("GET", "/warm", "proxy.test").status, 200u);  // both connections exist now
    const int requests = 5;
    auto reads = trace_reads(s_->proc(), s_->dir() / "reads.strace", [&] {
        for (int i = 0; i < requests; ++i) {
            std::this_thread::sleep_for(50ms);  // every read finds the socket empty at first
            auto r = c.request("GET", "/n" + std::to_string(i), "proxy.test");
            ASSERT_EQ(r.status, 200u);
            EXPECT_EQ(r.json()["path"], "/n" + std::to_string(i));
        }
    });
    EXPECT_GE(reads.succeeded, 2 * requests) << "each request and each response is read";
    EXPECT_TRUE(reads.eagain.empty()) << reads.eagain.size() << " reads failed with EAGAIN, the first: "
                                      << reads.eagain.front();
}

TEST_F(proxying, the_end_of_a_stream_arriving_with_its_last_bytes_is_seen)
{
    // The read that takes the last bytes also learns that the stream ends, so nothing waits for a
    // readiness event that already came: an upstream's close-delimited body, sent with its FIN in
    // one segment after a pause, ends the response; a client's last request, sent with its FIN
    // in one segment, is answered and the connection closed.
    raw_server closing([&](tcp::socket& s) {
        asio::streambuf req;
        asio::read_until(s, req, "\r\n\r\n");
        asio::write(s, asio::buffer(std::string("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")));
        std::this_thread::sleep_for(100ms);  // sluice has read the head and waits for the body
        send_with_fin(s, "the body and the end, together");
    });
    uint64_t g = s_->generation();
    s_->write("fin.yaml", service_yaml("closing", {closing.port()}) + "---\n" +
                              ingress_yaml("fin", "fin.test", {{"/", "Prefix", "closing"}}));
    s_->wait_for_generation_after(g);

    asio::io_context io;
    tcp::socket client(io);
    client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), s_->port()));
    timeval tv{10, 0};  // a bound on each read, so that a missed end fails instead of hanging
    ::setsockopt(client.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    asio::write(client, asio::buffer(std::string("GET /first HTTP/1.1\r\nHost: fin.test\r\n\r\n")));
    beast::flat_buffer buffer;
    http::response<http::string_body> first;
    http::read(client, buffer, first);
    EXPECT_EQ(first.result_int(), 200u);
    EXPECT_EQ(first.body(), "the body and the end, together");
    EXPECT_TRUE(first.keep_alive());

    std::this_thread::sleep_for(100ms);  // sluice waits for the next request
    send_with_fin(client, "GET /get HTTP/1.1\r\nHost: proxy.test\r\n\r\n");
    http::response<http::string_body> second;
    http::read(client, buffer, second);
    EXPECT_EQ(second.result_int(), 200u);
    boost::system::error_code ec;
    char byte;
    EXPECT_EQ(client.read_some(asio::buffer(&byte, 1), ec), 0u);
    EXPECT_EQ(ec, asio::error::eof) << "sluice closes a connection its client has finished: " << ec.message();
    s_->remove("fin.yaml");
    s_->wait_for_generation_after(s_->generation());
}

TEST_F(proxying, body_over_proxy_body_size_is_413)
{
    uint64_t g = s_->generation();
    s_->write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sluice, namespace: default}\n"
                         "data:\n  proxy-body-size: 1k\n  proxy-read-timeout: \"1\"\n");
    s_->wait_for_generation_after(g);
    http_connection c(s_->port());
    auto r = c.request("POST", "/big", "proxy.test", {}, std::string(2000, 'x'));
    EXPECT_EQ(r.status, 413u);
    // Chunked bodies are counted as they pass.
    http_connection c2(s_->port());
    std::string chunk(1500, 'y');
    auto r2 = c2.raw("POST /big HTTP/1.1\r\nHost: proxy.test\r\nTransfer-Encoding: chunked\r\n\r\n5dc\r\n" + chunk +
                     "\r\n0\r\n\r\n");
    EXPECT_EQ(r2.status, 413u);
    g = s_->generation();
    s_->write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sluice, namespace: default}\n"
                         "data:\n  proxy-body-size: 200m\n  proxy-read-timeout: \"1\"\n");
    s_->wait_for_generation_after(g);
}

TEST_F(proxying, service_without_ready_endpoints_or_missing_is_503)
{
    EXPECT_EQ(http_get(s_->port(), "/empty", "proxy.test").status, 503u);
    EXPECT_EQ(http_get(s_->port(), "/missing", "proxy.test").status, 503u);
}

TEST_F(proxying, unreachable_endpoint_is_502_and_silent_upstream_is_504)
{
    raw_server silent([](tcp::socket& s) {
        boost::system::error_code ec;
        asio::streambuf b;
        asio::read(s, b, ec);  // never answers; returns when sluice gives up and closes
    });
    uint64_t g = s_->generation();
    s_->write("bad.yaml", service_yaml("dead", {closed_port()}) + "---\n" + service_yaml("silent", {silent.port()}) +
                              "---\n" + ingress_yaml("bad", "bad.test", {{"/dead", "Prefix", "dead"}, {"/silent", "Prefix", "silent"}}));
    s_->wait_for_generation_after(g);
    EXPECT_EQ(http_get(s_->port(), "/dead", "bad.test").status, 502u);
    auto start = std::chrono::steady_clock::now();
    // proxy-read-timeout is 1 s (ConfigMap); a POST is not retried, so one timeout.
    http_connection c(s_->port());
    EXPECT_EQ(c.request("POST", "/silent", "bad.test", {}, "x").status, 504u);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
    s_->remove("bad.yaml");
    s_->wait_for_generation_after(s_->generation());
}

TEST_F(proxying, connection_failure_moves_to_the_next_endpoint)
{
    uint64_t g = s_->generation();
    s_->write("retry.yaml", service_yaml("half-dead", {closed_port(), echo_->port(), closed_port()}) + "---\n" +
                                ingress_yaml("retry", "retry.test", {{"/", "Prefix", "half-dead"}}));
    s_->wait_for_generation_after(g);
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(http_get(s_->port(), "/get", "retry.test").status, 200u);
        // Nothing was sent on a refused connection, so a POST moves on too.
        http_connection c(s_->port());
        EXPECT_EQ(c.request("POST", "/post", "retry.test", {}, "body").status, 200u);
    }
    s_->remove("retry.yaml");
    s_->wait_for_generation_after(s_->generation());
}

TEST_F(proxying, upstream_closing_idle_keepalive_connection_is_retried_transparently)
{
    // An upstream that serves one request per connection but omits "Connection: close":
    // sluice pools the connection, finds it closed later, and retries on a fresh one.
    raw_server one_shot([](tcp::socket& s) {
        asio::streambuf req;
        asio::read_until(s, req, "\r\n\r\n");
        asio::write(s, asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")));
        s.shutdown(tcp::socket::shutdown_both);
        s.close();
    });
    uint64_t g = s_->generation();
    s_->write("oneshot.yaml", service_yaml("one-shot", {one_shot.port()}) + "---\n" +
                                  ingress_yaml("oneshot", "oneshot.test", {{"/", "Prefix", "one-shot"}}));
    s_->wait_for_generation_after(g);
    http_connection c(s_->port());
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(c.request("GET", "/x", "oneshot.test").body, "ok");
    s_->remove("oneshot.yaml");
    s_->wait_for_generation_after(s_->generation());
}

TEST_F(proxying, malformed_requests_get_400_and_huge_headers_431)
{
    http_connection c(s_->port());
    EXPECT_EQ(c.raw("GARBAGE\r\n\r\n").status, 400u);
    http_connection c2(s_->port());
    EXPECT_EQ(c2.raw("GET / HTTP/1.1\r\nHost: proxy.test\r\nX-Big: " + std::string(40000, 'a') + "\r\n\r\n").status, 431u);
    http_connection c3(s_->port());
    EXPECT_EQ(c3.raw("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status, 400u);
}

}  // namespace
}  // namespace sluice::test
