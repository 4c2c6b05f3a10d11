#include <gtest/gtest.h>

#include "controller/global_settings.hpp"

namespace sluice {
namespace {

TEST(global_settings, sizes_and_times)
{
    EXPECT_EQ(parse_nginx_size("1m"), 1024u * 1024);
    EXPECT_EQ(parse_nginx_size("8K"), 8192u);
    EXPECT_EQ(parse_nginx_size("0"), 0u);
    EXPECT_EQ(parse_nginx_size("123"), 123u);
    EXPECT_FALSE(parse_nginx_size("1x"));
    EXPECT_FALSE(parse_nginx_size(""));
    EXPECT_FALSE(parse_nginx_size("-1"));
    EXPECT_EQ(parse_nginx_time("60"), std::chrono::seconds(60));
    EXPECT_EQ(parse_nginx_time("500ms"), std::chrono::milliseconds(500));
    EXPECT_EQ(parse_nginx_time("2m"), std::chrono::minutes(2));
    EXPECT_FALSE(parse_nginx_time("soon"));
}

TEST(global_settings, configmap_applies_known_keys_and_reports_the_rest)
{
    global_settings g;
    location_policy loc;
    std::vector<diagnostic> diags;
    apply_configmap({{"proxy-read-timeout", "5"},
                     {"proxy-body-size", "10m"},
                     {"keep-alive", "10"},
                     {"large-client-header-buffers", "4 16k"},
                     {"proxy-connect-timeout", "never"},
                     {"no-such-key", "1"}},
                    "ns/cm", g, loc, diags);
    EXPECT_EQ(loc.read_timeout, std::chrono::seconds(5));
    EXPECT_EQ(loc.max_body_size, 10u * 1024 * 1024);
    EXPECT_EQ(g.keepalive_timeout, std::chrono::seconds(10));
    EXPECT_EQ(g.header_limit, 64u * 1024);
    EXPECT_EQ(loc.connect_timeout, std::chrono::seconds(5));  // invalid: default kept
    ASSERT_EQ(diags.size(), 2u);
    EXPECT_EQ(diags[0].str(), "ConfigMap ns/cm: data.no-such-key: not supported by sluice; ignored");
    EXPECT_EQ(diags[1].field, "data.proxy-connect-timeout");
}

}  // namespace
}  // namespace sluice
