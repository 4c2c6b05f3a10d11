#include <gtest/gtest.h>

#include "proxy/forward_headers.hpp"

namespace sluice {
namespace {

namespace http = boost::beast::http;

TEST(forward_headers, upstream_request_as_ingress_nginx_sets_it)
{
    http::request_header<> req;
    req.method(http::verb::get);
    req.target("/x");
    req.version(10);
    req.set(http::field::host, "client.example.com:8080");
    req.set("X-Forwarded-For", "1.2.3.4, 5.6.7.8");
    req.set(http::field::connection, "keep-alive, X-Hop");
    req.set("X-Hop", "1");
    req.set(http::field::keep_alive, "timeout=5");
    req.set(http::field::upgrade, "websocket");
    req.set(http::field::te, "trailers");
    req.set("Proxy", "http://evil");
    req.set(http::field::expect, "100-continue");
    req.set("X-Real-IP", "spoofed");
    req.set("X-Keep", "yes");
    prepare_upstream_request(req, forward_context{"10.0.0.1", "client.example.com:8080", "80", "http", "rid"});
    EXPECT_EQ(req.version(), 11u);
    EXPECT_EQ(req[http::field::host], "client.example.com:8080");
    EXPECT_EQ(req["X-Forwarded-For"], "10.0.0.1");
    EXPECT_EQ(req["X-Original-Forwarded-For"], "1.2.3.4, 5.6.7.8");
    EXPECT_EQ(req["X-Real-IP"], "10.0.0.1");
    EXPECT_EQ(req["X-Forwarded-Host"], "client.example.com:8080");
    EXPECT_EQ(req["X-Forwarded-Port"], "80");
    EXPECT_EQ(req["X-Forwarded-Proto"], "http");
    EXPECT_EQ(req["X-Scheme"], "http");
    EXPECT_EQ(req["X-Request-ID"], "rid");
    EXPECT_EQ(req["X-Keep"], "yes");
    for (const char* gone : {"Connection", "X-Hop", "Keep-Alive", "Upgrade", "TE", "Proxy", "Expect"})
        EXPECT_EQ(req.count(gone), 0u) << gone;
}

TEST(forward_headers, no_original_forwarded_for_without_client_xff)
{
    http::request_header<> req;
    req.set("X-Original-Forwarded-For", "client-supplied");
    prepare_upstream_request(req, forward_context{"10.0.0.1", "h", "80", "http", "rid"});
    EXPECT_EQ(req.count("X-Original-Forwarded-For"), 0u);
}

TEST(forward_headers, connection_cannot_strip_host)
{
    http::request_header<> req;
    req.set(http::field::connection, "Host");
    prepare_upstream_request(req, forward_context{"10.0.0.1", "h.example", "80", "http", "rid"});
    EXPECT_EQ(req[http::field::host], "h.example");
}

TEST(forward_headers, downstream_response_drops_hop_by_hop_and_x_accel)
{
    http::response_header<> res;
    res.set(http::field::connection, "close, X-Internal");
    res.set("X-Internal", "1");
    res.set("X-Accel-Redirect", "/internal");
    res.set(http::field::transfer_encoding, "chunked");
    res.set(http::field::content_type, "text/plain");
    prepare_downstream_response(res);
    EXPECT_EQ(res.count(http::field::connection), 0u);
    EXPECT_EQ(res.count("X-Internal"), 0u);
    EXPECT_EQ(res.count("X-Accel-Redirect"), 0u);
    EXPECT_EQ(res.count(http::field::transfer_encoding), 0u);
    EXPECT_EQ(res[http::field::content_type], "text/plain");
}

TEST(forward_headers, idempotent_methods)
{
    EXPECT_TRUE(is_idempotent(http::verb::get));
    EXPECT_TRUE(is_idempotent(http::verb::put));
    EXPECT_TRUE(is_idempotent(http::verb::delete_));
    EXPECT_FALSE(is_idempotent(http::verb::post));
    EXPECT_FALSE(is_idempotent(http::verb::patch));
}

}  // namespace
}  // namespace sluice
