#include <gtest/gtest.h>

#include "proxy/access_control.hpp"
#include "proxy/cors.hpp"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using boost::asio::ip::make_address;

TEST(rate_limits, follow_nginx_limit_req_with_burst_and_nodelay)
{
    rate_limits limits;
    auto t0 = rate_limits::clock::time_point{} + 1000s;
    auto client = make_address("10.0.0.1");
    // 10 r/s, burst 5: the first request and 5 more at once, then one per 100 ms.
    int passed = 0;
    for (int i = 0; i < 20; ++i)
        passed += limits.take_request(1, client, 10, 1s, 5, t0) ? 1 : 0;
    EXPECT_EQ(passed, 6);
    EXPECT_FALSE(limits.take_request(1, client, 10, 1s, 5, t0 + 50ms));
    EXPECT_TRUE(limits.take_request(1, client, 10, 1s, 5, t0 + 100ms));
    EXPECT_FALSE(limits.take_request(1, client, 10, 1s, 5, t0 + 150ms));
    // After a quiet second the whole burst is back.
    passed = 0;
    for (int i = 0; i < 20; ++i)
        passed += limits.take_request(1, client, 10, 1s, 5, t0 + 2s) ? 1 : 0;
    EXPECT_EQ(passed, 6);
    // Zones, periods, clients and address families are independent.
    EXPECT_TRUE(limits.take_request(2, client, 10, 1s, 0, t0));
    EXPECT_TRUE(limits.take_request(1, client, 10, 60s, 0, t0));
    EXPECT_TRUE(limits.take_request(1, make_address("10.0.0.2"), 10, 1s, 0, t0));
    EXPECT_TRUE(limits.take_request(1, make_address("::ffff:10.0.0.3"), 10, 1s, 0, t0));
    EXPECT_FALSE(limits.take_request(1, make_address("10.0.0.3"), 10, 1s, 0, t0));  // the same client
}

TEST(rate_limits, per_minute_rates_drain_slowly)
{
    rate_limits limits;
    auto t0 = rate_limits::clock::time_point{} + 1000s;
    auto client = make_address("192.0.2.1");
    EXPECT_TRUE(limits.take_request(7, client, 6, 60s, 0, t0));
    EXPECT_FALSE(limits.take_request(7, client, 6, 60s, 0, t0 + 9s));
    EXPECT_TRUE(limits.take_request(7, client, 6, 60s, 0, t0 + 10s));
}

TEST(rate_limits, connection_slots_are_counted_and_released)
{
    rate_limits limits;
    auto client = make_address("2001:db8::1");
    {
        connection_slot a, b, c;
        EXPECT_TRUE(a.acquire(limits, 3, client, 2));
        EXPECT_TRUE(b.acquire(limits, 3, client, 2));
        EXPECT_FALSE(c.acquire(limits, 3, client, 2));
        EXPECT_TRUE(c.acquire(limits, 4, client, 2));  // another Ingress's zone
    }
    EXPECT_EQ(limits.entries(), 0u);  // released, and nothing left behind
    connection_slot d;
    EXPECT_TRUE(d.acquire(limits, 3, client, 1));
}

TEST(rate_limits, a_full_table_forgets_drained_clients_and_refuses_when_it_cannot)
{
    rate_limits limits(64 * 16);  // 16 per shard
    auto t0 = rate_limits::clock::time_point{} + 1000s;
    int refused = 0;
    for (int i = 0; i < 4000; ++i)
        refused += limits.take_request(1, make_address("10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256)),
                                       10, 1s, 5, t0)
                       ? 0
                       : 1;
    EXPECT_GT(refused, 0);
    EXPECT_LE(limits.entries(), 64u * 16u);
    // Two minutes later every entry has drained and is forgotten to make room.
    EXPECT_TRUE(limits.take_request(1, make_address("10.9.9.9"), 10, 1s, 5, t0 + 120s));
}

TEST(access_rules, deny_is_checked_before_allow)
{
    access_rules r;
    r.allow = {*ip_network::parse("10.0.0.0/8")};
    r.deny = {*ip_network::parse("10.1.0.0/16")};
    EXPECT_TRUE(source_allowed(r, make_address("10.2.3.4")));
    EXPECT_FALSE(source_allowed(r, make_address("10.1.3.4")));
    EXPECT_FALSE(source_allowed(r, make_address("192.168.1.1")));
    EXPECT_TRUE(source_allowed(r, make_address("::ffff:10.2.3.4")));
    r.allow.clear();
    EXPECT_TRUE(source_allowed(r, make_address("192.168.1.1")));
}

TEST(cors_policy, matches_whole_origins_and_one_wildcard_label)
{
    cors_policy p;
    p.origins = {"https://app.example.com", "https://*.example.org", "http://localhost:3000"};
    EXPECT_EQ(p.allow_origin("https://app.example.com"), "https://app.example.com");
    EXPECT_EQ(p.allow_origin("HTTPS://APP.example.com"), "HTTPS://APP.example.com");
    EXPECT_EQ(p.allow_origin("https://a-1.example.org"), "https://a-1.example.org");
    EXPECT_EQ(p.allow_origin("http://localhost:3000"), "http://localhost:3000");
    for (const char* no : {"https://app.example.com:443", "http://app.example.com", "https://x.app.example.com",
                           "https://a.b.example.org", "https://.example.org", "https://example.org",
                           "https://a_b.example.org", "xhttps://app.example.com", "http://localhost:30000", "", "null"})
        EXPECT_TRUE(p.allow_origin(no).empty()) << no;
    p.any_origin = true;
    EXPECT_EQ(p.allow_origin(""), "*");
}

}  // namespace
}  // namespace sluice
