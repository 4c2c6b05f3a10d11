// Request smuggling and malformed HTTP: a corpus of hostile requests sent as raw bytes through the
// real binary to a recording upstream. Each is rejected with the right status, or reaches the
// upstream as exactly one unambiguous request. Then hostile upstream responses: 502, and a pooled
// connection is never reused out of step.
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <mutex>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// An upstream that records every request it parses (method, target, framing fields, body) and
// answers 200 "ok" to each, keeping the connection.
class recording_upstream {
public:
    recording_upstream()
        : server_([this](tcp::socket& s) {
              beast::flat_buffer buf;
              for (;;) {
                  http::request_parser<http::string_body> p;
                  p.body_limit(boost::none);
                  boost::system::error_code ec;
                  http::read(s, buf, p, ec);
                  if (ec)
                      return;
                  auto& req = p.get();
                  std::string rec = std::string(req.method_string()) + " " + std::string(req.target());
                  if (req.count(http::field::content_length))
                      rec += " cl=" + std::string(req[http::field::content_length]);
                  if (req.count(http::field::transfer_encoding))
                      rec += " te=" + std::string(req[http::field::transfer_encoding]);
                  rec += " body=" + req.body();
                  {
                      std::lock_guard lock(mutex_);
                      requests_.push_back(rec);
                  }
                  std::string res = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                  asio::write(s, asio::buffer(res), ec);
                  if (ec)
                      return;
              }
          })
    {
    }
    uint16_t port() const { return server_.port(); }
    std::vector<std::string> take()
    {
        std::lock_guard lock(mutex_);
        return std::exchange(requests_, {});
    }

private:
    std::mutex mutex_;
    std::vector<std::string> requests_;
    raw_server server_;
};

struct exchange_result {
    std::vector<unsigned> statuses;  // of the responses read, in order
    bool closed = false;             // sluice closed the connection afterwards
};

// Sends `bytes`, then collects what comes back until the connection closes or nothing more
// arrives within `quiet` (a keep-alive connection stays open), and parses the responses.
exchange_result exchange(uint16_t port, const std::string& bytes, std::chrono::milliseconds quiet = std::chrono::milliseconds(400))
{
    asio::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{0, static_cast<suseconds_t>(quiet.count() * 1000)};
    setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    boost::system::error_code ec;
    asio::write(s, asio::buffer(bytes), ec);
    exchange_result out;
    std::string received;
    char chunk[65536];
    for (;;) {
        ssize_t n = ::recv(s.native_handle(), chunk, sizeof chunk, 0);
        if (n > 0) {
            received.append(chunk, static_cast<size_t>(n));
            continue;
        }
        out.closed = n == 0 || (n < 0 && errno == ECONNRESET);
        break;  // closed, or quiet for `quiet`
    }
    std::string_view rest = received;
    while (!rest.empty()) {
        http::response_parser<http::string_body> p;
        p.body_limit(boost::none);
        p.eager(true);
        size_t used = p.put(asio::buffer(rest.data(), rest.size()), ec);
        if (ec == http::error::need_more && out.closed) {
            p.put_eof(ec);  // a close-delimited body
            used = rest.size();
        }
        if (ec && ec != http::error::need_more)
            break;
        if (!p.is_done())
            break;
        out.statuses.push_back(p.get().result_int());
        rest.remove_prefix(used);
    }
    return out;
}

struct hostile_case {
    const char* name;
    std::string bytes;
    std::vector<unsigned> statuses;        // expected responses, in order
    std::vector<std::string> upstream;     // expected requests at the upstream (recorded form)
};

const std::string host = "Host: h.test\r\n";

std::vector<hostile_case> corpus()
{
    const std::string big(9000, 'a');
    const std::string huge_header = "X-Big: " + std::string(40000, 'b') + "\r\n";
    std::string many_headers;
    for (int i = 0; i < 3000; ++i)
        many_headers += "X-H" + std::to_string(i) + ": v\r\n";
    return {
        // Framing conflicts (CL.TE / TE.CL smuggling).
        {"cl_and_te", "POST / HTTP/1.1\r\n" + host + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400}, {}},
        {"te_and_cl", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", {400}, {}},
        {"two_content_lengths_differ", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", {400}, {}},
        {"two_content_lengths_same", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", {400}, {}},
        {"content_length_list", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3, 3\r\n\r\nabc", {400}, {}},
        {"content_length_negative", "POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", {400}, {}},
        {"content_length_plus", "POST / HTTP/1.1\r\n" + host + "Content-Length: +3\r\n\r\nabc", {400}, {}},
        {"content_length_hex", "POST / HTTP/1.1\r\n" + host + "Content-Length: 0x3\r\n\r\nabc", {400}, {}},
        {"content_length_space_inside", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1 2\r\n\r\nabc", {400}, {}},
        {"content_length_overflow", "POST / HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999999\r\n\r\n", {400}, {}},
        {"content_length_empty", "POST / HTTP/1.1\r\n" + host + "Content-Length: \r\n\r\n", {400}, {}},
        {"te_chunked_twice", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400}, {}},
        {"te_chunked_not_last", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", {501}, {}},
        {"te_unknown_coding", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", {501}, {}},
        {"te_identity", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: identity\r\n\r\n", {501}, {}},
        {"te_xchunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", {501}, {}},
        {"te_space_before_colon", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", {400}, {}},
        {"te_vertical_tab", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\x0b" "chunked\r\n\r\n0\r\n\r\n", {400}, {}},
        {"te_in_http10", "POST / HTTP/1.0\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400}, {}},
        {"te_obs_fold", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", {400}, {}},
        {"te_uppercase_is_fine", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: CHUNKED\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n", {200},
         {"POST / te=chunked body=abc"}},
        // Chunked bodies.
        {"chunk_size_not_hex", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", {400}, {}},
        {"chunk_size_overflow", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\nabc\r\n0\r\n\r\n", {400}, {}},
        {"chunk_size_negative", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n", {400}, {}},
        {"chunk_size_space_prefix", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n", {400}, {}},
        {"chunk_data_longer_than_size", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", {400}, {}},
        {"chunk_missing_crlf", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", {400}, {}},
        // No CRLF ends the chunk size: sluice waits for one (until client-body-timeout), the upstream
        // never sees a complete request.
        {"chunk_bare_lf", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n", {}, {}},
        {"chunk_extension_kept_out", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;name=value\r\nabc\r\n0\r\n\r\n",
         {200}, {"POST / te=chunked body=abc"}},
        {"chunk_extension_bad", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3;\"\r\nabc\r\n0\r\n\r\n", {400}, {}},
        {"chunked_then_smuggled_request", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n",
         {200, 200}, {"POST / te=chunked body=", "GET /smuggled body="}},
        {"content_length_then_pipelined", "POST /a HTTP/1.1\r\n" + host + "Content-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n",
         {200, 200}, {"POST /a cl=3 body=abc", "GET /b body="}},
        // Line endings and whitespace.
        {"bare_lf_request", "GET / HTTP/1.1\n" "Host: h.test\n\n", {400}, {}},
        {"bare_cr_in_header", "GET / HTTP/1.1\r\n" + host + "X-A: a\rb\r\n\r\n", {400}, {}},
        {"obs_fold_header", "GET / HTTP/1.1\r\n" + host + "X-A: a\r\n b\r\n\r\n", {400}, {}},
        {"space_before_colon", "GET / HTTP/1.1\r\n" + host + "X-A : b\r\n\r\n", {400}, {}},
        {"leading_space_first_header", "GET / HTTP/1.1\r\n Host: h.test\r\n\r\n", {400}, {}},
        {"nul_in_header_value", std::string("GET / HTTP/1.1\r\n") + host + "X-A: a" + std::string(1, '\0') + "b\r\n\r\n", {400}, {}},
        {"nul_in_header_name", std::string("GET / HTTP/1.1\r\n") + host + "X-" + std::string(1, '\0') + "A: b\r\n\r\n", {400}, {}},
        {"control_in_header_value", "GET / HTTP/1.1\r\n" + host + "X-A: a\x01" "b\r\n\r\n", {400}, {}},
        {"empty_header_name", "GET / HTTP/1.1\r\n" + host + ": b\r\n\r\n", {400}, {}},
        {"header_without_colon", "GET / HTTP/1.1\r\n" + host + "X-A\r\n\r\n", {400}, {}},
        {"header_name_with_space", "GET / HTTP/1.1\r\n" + host + "X A: b\r\n\r\n", {400}, {}},
        {"header_name_with_paren", "GET / HTTP/1.1\r\n" + host + "X(A): b\r\n\r\n", {400}, {}},
        // Request line.
        {"http09", "GET /\r\n\r\n", {400}, {}},
        {"http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", {505}, {}},
        {"http20_version", "GET / HTTP/2.0\r\n" + host + "\r\n", {505}, {}},
        {"http3_version", "GET / HTTP/3.0\r\n" + host + "\r\n", {505}, {}},
        {"bad_version_token", "GET / HTTX/1.1\r\n" + host + "\r\n", {400}, {}},
        {"lowercase_method", "get / HTTP/1.1\r\n" + host + "\r\n", {400}, {}},
        {"method_with_control", "G\x01T / HTTP/1.1\r\n" + host + "\r\n", {400}, {}},
        {"space_in_target", "GET /a b HTTP/1.1\r\n" + host + "\r\n", {400}, {}},
        {"two_spaces", "GET  / HTTP/1.1\r\n" + host + "\r\n", {400}, {}},
        {"tab_separator", "GET\t/ HTTP/1.1\r\n" + host + "\r\n", {400}, {}},
        {"control_in_target", "GET /a\x7f HTTP/1.1\r\n" + host + "\r\n", {400}, {}},
        {"target_not_origin_form", "GET a/b HTTP/1.1\r\n" + host + "\r\n", {400}, {}},
        {"connect_authority_form", "CONNECT h.test:443 HTTP/1.1\r\n" + host + "\r\n", {501}, {}},
        {"asterisk_form_options", "OPTIONS * HTTP/1.1\r\n" + host + "\r\n", {400}, {}},
        {"absolute_form_routes_by_authority", "GET http://h.test/abs?x=1 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n", {200},
         {"GET /abs?x=1 body="}},
        {"absolute_form_bad_scheme", "GET ftp://h.test/ HTTP/1.1\r\n" + host + "\r\n", {400}, {}},
        {"absolute_form_authority_is_a_list", "GET http://h.test,evil.test/ HTTP/1.1\r\n" + host + "\r\n", {400}, {}},
        {"absolute_form_authority_with_userinfo", "GET http://u@h.test/ HTTP/1.1\r\n" + host + "\r\n", {400}, {}},
        {"request_line_too_long", "GET /" + std::string(40000, 'x') + " HTTP/1.1\r\n" + host + "\r\n", {414}, {}},
        // Headers.
        {"no_host_11", "GET / HTTP/1.1\r\n\r\n", {400}, {}},
        {"two_hosts", "GET / HTTP/1.1\r\n" + host + "Host: other.test\r\n\r\n", {400}, {}},
        {"host_with_slash", "GET / HTTP/1.1\r\nHost: h.test/evil\r\n\r\n", {400}, {}},
        {"host_with_space", "GET / HTTP/1.1\r\nHost: h .test\r\n\r\n", {400}, {}},
        {"huge_header", "GET / HTTP/1.1\r\n" + host + huge_header + "\r\n", {431}, {}},
        {"too_many_headers", "GET / HTTP/1.1\r\n" + host + many_headers + "\r\n", {431}, {}},
        {"body_over_limit", "POST / HTTP/1.1\r\n" + host + "Content-Length: 2000000\r\n\r\n", {413}, {}},
        // Accepted shapes that must arrive as one clean request.
        {"http10_keep_alive", "GET /k HTTP/1.0\r\n" + host + "Connection: keep-alive\r\n\r\nGET /k2 HTTP/1.0\r\n" + host + "\r\n", {200, 200},
         {"GET /k body=", "GET /k2 body="}},
        {"http10_without_host", "GET /old HTTP/1.0\r\n\r\n", {404}, {}},
        {"pipelined_three", "GET /1 HTTP/1.1\r\n" + host + "\r\nGET /2 HTTP/1.1\r\n" + host + "\r\nGET /3 HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n",
         {200, 200, 200}, {"GET /1 body=", "GET /2 body=", "GET /3 body="}},
        {"hop_by_hop_named_in_connection", "GET /h HTTP/1.1\r\n" + host + "Connection: close, X-Secret\r\nX-Secret: 1\r\n\r\n", {200},
         {"GET /h body="}},
        {"expect_100_small_body", "POST /e HTTP/1.1\r\n" + host + "Expect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", {100, 200},
         {"POST /e cl=3 body=abc"}},
    };
}

class hostile_requests_test : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        up_ = new recording_upstream();
        s_ = new sluice_instance();
        s_->write("class.yaml", ingress_class_yaml());
        s_->write("svc.yaml", service_yaml("rec", {up_->port()}));
        s_->write("ing.yaml", ingress_yaml("h", "h.test", {{"/", "Prefix", "rec", 80}}));
        s_->start();
    }
    static void TearDownTestSuite()
    {
        delete s_;
        delete up_;
    }
    static inline recording_upstream* up_ = nullptr;
    static inline sluice_instance* s_ = nullptr;
};

TEST_F(hostile_requests_test, corpus)
{
    auto cases = corpus();
    ASSERT_GE(cases.size(), 60u);
    for (const auto& c : cases) {
        up_->take();
        auto r = exchange(s_->port(), c.bytes);
        // 100 Continue is an interim response the test reads like any other.
        EXPECT_EQ(r.statuses, c.statuses) << c.name;
        if (!c.statuses.empty() && c.statuses.back() >= 400) {
            EXPECT_TRUE(r.closed) << c.name << ": an error closes the connection";
        }
        // Give the upstream a moment to record what it got.
        std::vector<std::string> got;
        if (!c.upstream.empty())
            wait_until([&] {
                auto more = up_->take();
                got.insert(got.end(), more.begin(), more.end());
                return got.size() >= c.upstream.size();
            }, std::chrono::seconds(2));
        else
            got = up_->take();
        EXPECT_EQ(got, c.upstream) << c.name;
    }
    // sluice is still serving.
    EXPECT_EQ(http_get(s_->port(), "/alive", "h.test").status, 200u);
}

}  // namespace
}  // namespace sluice::test
