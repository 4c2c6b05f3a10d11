#include <map>

#include <gtest/gtest.h>

#include "proxy/balancer.hpp"

namespace sluice {
namespace {

using namespace std::chrono_literals;

TEST(stable_hash, is_the_same_everywhere)
{
    // Cookies and hash keys must mean the same endpoint on every replica and after restarts:
    // these values are fixed.
    EXPECT_EQ(stable_hash(""), stable_hash(""));
    EXPECT_NE(stable_hash("10.0.0.1:80"), stable_hash("10.0.0.2:80"));
    EXPECT_EQ(stable_hash("10.0.0.1:8080"), 16773411713102195476ULL);
}

TEST(hash_ring, spreads_keys_and_moves_only_those_of_a_removed_member)
{
    std::vector<std::string> five{"a:1", "b:1", "c:1", "d:1", "e:1"};
    std::vector<std::string> four{"a:1", "b:1", "d:1", "e:1"};  // c leaves
    hash_ring r5(five), r4(four);
    std::map<uint32_t, int> load;
    int moved = 0, on_c = 0;
    for (int i = 0; i < 10000; ++i) {
        uint64_t key = stable_hash("/item/" + std::to_string(i));
        const std::string& before = five[r5.find(key)];
        const std::string& after = four[r4.find(key)];
        ++load[r5.find(key)];
        on_c += before == "c:1";
        if (before != after) {
            ++moved;
            EXPECT_EQ(before, "c:1");
        }
    }
    EXPECT_EQ(moved, on_c);
    for (const auto& [m, n] : load) {
        EXPECT_GT(n, 1400) << m;  // 2000 each on average; 160 points keep it within ~30%
        EXPECT_LT(n, 2600) << m;
    }
    auto order = r5.walk(stable_hash("x"));
    ASSERT_EQ(order.size(), 5u);
    EXPECT_EQ(order[0], r5.find(stable_hash("x")));
}

TEST(request_template, expands_nginx_variables)
{
    std::string error;
    auto t = request_template::parse("$host${request_uri}|$remote_addr|$cookie_user|$http_x_tenant|$arg_id|lit", error);
    ASSERT_TRUE(t) << error;
    struct fields {
        static std::optional<std::string_view> header(const void*, std::string_view name)
        {
            if (name == "x-tenant")
                return std::string_view("acme");
            return std::nullopt;
        }
        static std::optional<std::string_view> cookie(const void*, std::string_view name)
        {
            if (name == "user")
                return std::string_view("bob");
            return std::nullopt;
        }
    };
    request_values v{"/a?id=7&x=1", "/a", "id=7&x=1", "10.1.1.1", "shop.test", "https", "GET", fields::header, fields::cookie, nullptr};
    std::string out;
    t->expand(v, out);
    EXPECT_EQ(out, "shop.test/a?id=7&x=1|10.1.1.1|bob|acme|7|lit");
    EXPECT_FALSE(request_template::parse("$request_body", error));
    EXPECT_NE(error.find("$request_body"), std::string::npos);
    EXPECT_FALSE(request_template::parse("${host", error));
    EXPECT_TRUE(request_template::parse("", error));  // an empty value (proxy-set-headers: removes the header)
}

TEST(affinity_cookie, renders_attributes_in_ingress_nginx_order)
{
    affinity_cookie c;
    c.expires = 3600;
    c.max_age = 60;
    c.domain = "example.com";
    c.samesite = "None";
    auto now = std::chrono::system_clock::from_time_t(1700000000);  // 2023-11-14 22:13:20 UTC
    EXPECT_EQ(c.render("abc", "/app", false, now),
              "INGRESSCOOKIE=abc; Expires=Tue, 14-Nov-23 23:13:20 GMT; Max-Age=60; Domain=example.com; Path=/app; "
              "HttpOnly; SameSite=None");
    affinity_cookie plain;
    plain.path = "/";
    EXPECT_EQ(plain.render("v", "/app", true, now), "INGRESSCOOKIE=v; Path=/; Secure; HttpOnly");
}

TEST(ewma, decays_towards_new_samples_with_a_ten_second_constant)
{
    endpoint_stats st;
    auto t0 = std::chrono::steady_clock::time_point{} + 100s;
    record_latency(st, 0.200, t0);
    EXPECT_DOUBLE_EQ(st.ewma, 0.200);  // the first sample is the average
    record_latency(st, 0.100, t0 + 10s);
    EXPECT_NEAR(st.ewma, 0.200 * std::exp(-1.0) + 0.100 * (1 - std::exp(-1.0)), 1e-9);
    EXPECT_NEAR(decayed_ewma(st, t0 + 20s), st.ewma * std::exp(-1.0), 1e-9);
    EXPECT_DOUBLE_EQ(decayed_ewma(st, t0 + 10s), st.ewma);
}

}  // namespace
}  // namespace sluice
