#include "proxy/http_wire.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>

namespace sluice {
namespace {

namespace http = boost::beast::http;

std::string flatten(const wire_buffers& w)
{
    std::string out;
    for (const auto& b : w.view())
        out.append(static_cast<const char*>(b.data()), b.size());
    return out;
}

TEST(http_wire, request_head_is_start_line_fields_and_blank_line)
{
    request_head h;
    h.method(http::verb::post);
    h.target("/a?b=c");
    h.version(11);
    h.set(http::field::host, "example.com");
    h.insert("X-Custom", "one");
    h.insert("X-Custom", "two");
    std::string out;
    append_head(out, h);
    EXPECT_EQ(out, "POST /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-Custom: one\r\nX-Custom: two\r\n\r\n");
}

TEST(http_wire, unknown_methods_are_written_as_received)
{
    request_head h;
    h.method_string("PURGE");
    h.target("/");
    h.version(10);
    std::string out;
    append_head(out, h);
    EXPECT_EQ(out, "PURGE / HTTP/1.0\r\n\r\n");
}

TEST(http_wire, response_head_keeps_the_upstream_reason_or_uses_the_standard_one)
{
    response_head h;
    h.version(11);
    h.result(404);
    std::string out;
    append_head(out, h);
    EXPECT_EQ(out, "HTTP/1.1 404 Not Found\r\n\r\n");
    h.reason("Nope");
    h.result(599);
    out.clear();
    append_head(out, h);
    EXPECT_EQ(out, "HTTP/1.1 599 Nope\r\n\r\n");
}

TEST(http_wire, chunks_are_framed_and_the_last_one_ends_the_body)
{
    wire_buffers w;
    w.add("HEAD\r\n\r\n");
    w.add_chunk("hello world, this is 31 bytes..", 31, false);
    EXPECT_EQ(flatten(w), "HEAD\r\n\r\n1f\r\nhello world, this is 31 bytes..\r\n");
    w.clear();
    w.add_chunk("abc", 3, true);
    EXPECT_EQ(flatten(w), "3\r\nabc\r\n0\r\n\r\n");
    w.clear();
    w.add_chunk(nullptr, 0, true);
    EXPECT_EQ(flatten(w), "0\r\n\r\n");
    w.clear();
    w.add_chunk(nullptr, 0, false);
    EXPECT_TRUE(w.empty());
    w.add_body("raw", 3, true, false);
    EXPECT_EQ(flatten(w), "raw");
}

TEST(http_wire, partial_writes_consume_across_buffers)
{
    wire_buffers w;
    w.add("head");
    w.add_chunk("body", 4, true);  // "4\r\n" "body" "\r\n0\r\n\r\n"
    const std::string all = flatten(w);
    for (size_t step : {1u, 2u, 5u}) {
        wire_buffers v;
        v.add("head");
        v.add_chunk("body", 4, true);
        std::string seen;
        while (!v.empty()) {
            std::string rest = flatten(v);
            seen += rest.substr(0, step);
            v.consume(step);
        }
        EXPECT_EQ(seen, all) << "step " << step;
    }
}

}  // namespace
}  // namespace sluice
