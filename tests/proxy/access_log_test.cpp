#include <gtest/gtest.h>

#include "proxy/access_log.hpp"

namespace sluice {
namespace {

access_record sample()
{
    access_record r;
    r.time = std::chrono::system_clock::from_time_t(1'700'000'000);
    r.request_time = 0.0123;
    r.remote_addr = "10.0.0.1";
    r.method = "GET";
    r.target = "/a b?x=\"1\"";
    r.status = 200;
    r.body_bytes_sent = 12;
    return r;
}

std::string render(const std::string& format, log_escape escape, const access_record& r = sample())
{
    std::string error;
    auto f = log_format::parse(format, error);
    EXPECT_TRUE(f) << error;
    std::string out;
    if (f)
        f->render(r, escape, out);
    return out;
}

TEST(access_log, variables_braces_and_absent_values)
{
    EXPECT_EQ(render("$remote_addr ${status}x $body_bytes_sent $request_time $remote_user [$proxy_alternative_upstream_name]",
                     log_escape::standard),
              "10.0.0.1 200x 12 0.012 - []");
    EXPECT_EQ(render("$request", log_escape::standard), "GET /a b?x=\\x221\\x22 HTTP/1.1");
    EXPECT_EQ(render("$uri|$args|$request_uri", log_escape::none), "/a b|x=\"1\"|/a b?x=\"1\"");
    EXPECT_EQ(render("$msec", log_escape::none), "1700000000.000");
}

TEST(access_log, escaping_modes)
{
    access_record r = sample();
    r.remote_user = "a\"b\\c\n\x01\xff";
    EXPECT_EQ(render("$remote_user", log_escape::standard, r), "a\\x22b\\x5Cc\\x0A\\x01\\xFF");
    EXPECT_EQ(render("$remote_user", log_escape::json, r), "a\\\"b\\\\c\\n\\u0001\xff");
    EXPECT_EQ(render("$remote_user", log_escape::none, r), r.remote_user);
}

TEST(access_log, request_headers)
{
    header_fields fields;
    fields.set("X-Custom-Thing", "v1");
    access_record r = sample();
    r.request_fields = &fields;
    EXPECT_EQ(render("$http_x_custom_thing $http_referer", log_escape::standard, r), "v1 -");
}

TEST(access_log, bad_formats_are_errors)
{
    std::string error;
    EXPECT_FALSE(log_format::parse("$remote_addr $nope", error));
    EXPECT_EQ(error, "unknown variable $nope");
    EXPECT_FALSE(log_format::parse("${status", error));
    EXPECT_FALSE(log_format::parse("cost $ 5", error));
    EXPECT_TRUE(log_format::parse(default_log_format, error));
}

}  // namespace
}  // namespace sluice
