#include <gtest/gtest.h>

#include "proxy/forward_headers.hpp"

namespace sluice {
namespace {

namespace http = boost::beast::http;

TEST(forward_headers, upstream_request_as_ingress_nginx_sets_it)
{
    request_head req;
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

TEST(forward_headers, proxy_fields_come_first_in_ingress_nginx_order_and_replace_the_clients_in_any_case)
{
    request_head req;
    req.method(http::verb::post);
    req.target("/x");
    req.version(11);
    req.insert("accept", "*/*");
    req.insert("x-forwarded-proto", "spoofed");
    req.insert("HOST", "a.example");
    req.insert("x-request-id", "client-id");
    req.insert(http::field::transfer_encoding, "chunked");
    req.insert(http::field::content_length, "5");
    req.insert("X-Original-Forwarded-For", "client-supplied");
    req.insert("x-trace", "t");
    req.insert("X-Forwarded-For", "1.2.3.4");
    forward_context ctx{"10.0.0.1", "a.example", "443", "https", "rid"};
    ctx.chunked_body = true;
    prepare_upstream_request(req, ctx);
    std::vector<std::pair<std::string, std::string>> got;
    for (const auto& f : req)
        got.emplace_back(f.name_string(), f.value());
    EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{{"Host", "a.example"},
                                                                     {"X-Request-ID", "rid"},
                                                                     {"X-Real-IP", "10.0.0.1"},
                                                                     {"X-Forwarded-For", "10.0.0.1"},
                                                                     {"X-Forwarded-Host", "a.example"},
                                                                     {"X-Forwarded-Port", "443"},
                                                                     {"X-Forwarded-Proto", "https"},
                                                                     {"X-Scheme", "https"},
                                                                     {"X-Original-Forwarded-For", "1.2.3.4"},
                                                                     {"Transfer-Encoding", "chunked"},
                                                                     {"accept", "*/*"},
                                                                     {"x-trace", "t"}}));
    EXPECT_EQ(req.count(http::field::content_length), 0u);
}

TEST(forward_headers, no_original_forwarded_for_without_client_xff)
{
    request_head req;
    req.set("X-Original-Forwarded-For", "client-supplied");
    prepare_upstream_request(req, forward_context{"10.0.0.1", "h", "80", "http", "rid"});
    EXPECT_EQ(req.count("X-Original-Forwarded-For"), 0u);
}

TEST(forward_headers, connection_cannot_strip_host)
{
    request_head req;
    req.set(http::field::connection, "Host");
    prepare_upstream_request(req, forward_context{"10.0.0.1", "h.example", "80", "http", "rid"});
    EXPECT_EQ(req[http::field::host], "h.example");
}

TEST(forward_headers, downstream_response_drops_hop_by_hop_and_x_accel)
{
    response_head res;
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

namespace sluice {
namespace {

TEST(client_address, networks)
{
    auto net = ip_network::parse("10.1.0.0/16");
    ASSERT_TRUE(net);
    EXPECT_TRUE(net->contains(boost::asio::ip::make_address("10.1.200.3")));
    EXPECT_FALSE(net->contains(boost::asio::ip::make_address("10.2.0.1")));
    EXPECT_TRUE(net->contains(boost::asio::ip::make_address("::ffff:10.1.0.9"))) << "v4-mapped";
    auto odd = ip_network::parse("192.168.1.128/25");
    ASSERT_TRUE(odd);
    EXPECT_TRUE(odd->contains(boost::asio::ip::make_address("192.168.1.200")));
    EXPECT_FALSE(odd->contains(boost::asio::ip::make_address("192.168.1.127")));
    auto v6 = ip_network::parse("fd00::/8");
    ASSERT_TRUE(v6);
    EXPECT_TRUE(v6->contains(boost::asio::ip::make_address("fd12::1")));
    EXPECT_FALSE(v6->contains(boost::asio::ip::make_address("10.0.0.1")));
    EXPECT_TRUE(ip_network::parse("1.2.3.4"));
    EXPECT_FALSE(ip_network::parse("1.2.3.4/33"));
    EXPECT_FALSE(ip_network::parse("nope/8"));
    EXPECT_FALSE(ip_network::parse("1.2.3.4/"));
}

TEST(client_address, forwarded_headers_are_ignored_by_default)
{
    request_head req;
    req.set("X-Forwarded-For", "1.1.1.1");
    req.set("X-Forwarded-Proto", "https");
    forwarding_policy policy;
    client_view v;
    resolve_client(policy, req, "10.0.0.9", "http", "80", "h.test", v);
    EXPECT_EQ(v.remote_addr, "10.0.0.9");
    EXPECT_EQ(v.scheme, "http");
    EXPECT_EQ(v.best_host, "h.test");
    EXPECT_EQ(v.forwarded_for, "");
}

TEST(client_address, use_forwarded_headers_as_nginx_realip_recursive)
{
    forwarding_policy policy;
    policy.use_forwarded_headers = true;
    policy.trusted = {*ip_network::parse("10.0.0.0/8")};
    request_head req;
    req.set("X-Forwarded-For", "203.0.113.7, 198.51.100.2, 10.0.0.5");
    req.set("X-Forwarded-Proto", "https");
    req.set("X-Forwarded-Port", "443");
    req.set("X-Forwarded-Host", "public.example");
    client_view v;
    resolve_client(policy, req, "10.0.0.9", "http", "80", "h.test", v);
    EXPECT_EQ(v.remote_addr, "198.51.100.2") << "the rightmost untrusted address";
    EXPECT_EQ(v.scheme, "https");
    EXPECT_EQ(v.port, "443");
    EXPECT_EQ(v.best_host, "public.example");

    client_view untrusted;
    resolve_client(policy, req, "192.0.2.1", "http", "80", "h.test", untrusted);
    EXPECT_EQ(untrusted.remote_addr, "192.0.2.1") << "an untrusted peer's header is ignored";

    req.set("X-Forwarded-For", "10.1.1.1, 10.2.2.2");
    client_view all_trusted;
    resolve_client(policy, req, "10.0.0.9", "http", "80", "h.test", all_trusted);
    EXPECT_EQ(all_trusted.remote_addr, "10.1.1.1") << "all trusted: the leftmost";

    req.set("X-Forwarded-For", "203.0.113.7, garbage");
    client_view bad;
    resolve_client(policy, req, "10.0.0.9", "http", "80", "h.test", bad);
    EXPECT_EQ(bad.remote_addr, "10.0.0.9");
}

TEST(client_address, compute_full_forwarded_for_appends_the_peer)
{
    forwarding_policy policy;
    policy.compute_full_forwarded_for = true;
    request_head req;
    client_view none;
    resolve_client(policy, req, "10.0.0.9", "http", "80", "h", none);
    EXPECT_EQ(none.forwarded_for, "10.0.0.9");
    req.set("X-Forwarded-For", "1.1.1.1");
    client_view some;
    resolve_client(policy, req, "10.0.0.9", "http", "80", "h", some);
    EXPECT_EQ(some.forwarded_for, "1.1.1.1, 10.0.0.9");
    prepare_upstream_request(req, forward_context{some.remote_addr, "h", "80", "http", "rid", {}, some.forwarded_for});
    EXPECT_EQ(req["X-Forwarded-For"], "1.1.1.1, 10.0.0.9");
    EXPECT_EQ(req["X-Real-IP"], "10.0.0.9");
}

}  // namespace
}  // namespace sluice
