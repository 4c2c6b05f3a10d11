#include <gtest/gtest.h>

#include "proxy/path_normalize.hpp"

namespace sluice {
namespace {

TEST(normalize_path, table)
{
    struct row {
        const char* in;
        const char* out;  // nullptr: invalid
    };
    const row rows[] = {
        {"/", "/"},
        {"/a/b", "/a/b"},
        {"//a///b//", "/a/b/"},
        {"/a/./b", "/a/b"},
        {"/a/.", "/a/"},
        {"/a/b/..", "/a/"},
        {"/a/b/../c", "/a/c"},
        {"/a/../../b", nullptr},
        {"/..", nullptr},
        {"/%41%62c", "/Abc"},
        {"/a%2Fb", "/a/b"},
        {"/a%2e%2e/x", "/a../x"},
        {"/%2e%2e/x", nullptr},
        {"/a/%2e/b", "/a/b"},
        {"/bad%zz", nullptr},
        {"/short%4", nullptr},
        {"/nul%00", nullptr},
        {"/.hidden/..a", "/.hidden/..a"},
        {"relative", nullptr},
    };
    for (const auto& r : rows) {
        std::string out;
        bool ok = normalize_path(r.in, out);
        if (r.out) {
            EXPECT_TRUE(ok) << r.in;
            EXPECT_EQ(out, r.out) << r.in;
        } else {
            EXPECT_FALSE(ok) << r.in << " gave " << out;
        }
    }
}

TEST(split_request_target, origin_and_absolute_forms)
{
    request_target t;
    ASSERT_TRUE(split_request_target("/a/b?x=1&y", t));
    EXPECT_EQ(t.path, "/a/b");
    EXPECT_EQ(t.query, "x=1&y");
    EXPECT_TRUE(t.has_query);
    EXPECT_TRUE(t.authority.empty());

    ASSERT_TRUE(split_request_target("http://Example.com:8080/p?q", t));
    EXPECT_EQ(t.authority, "Example.com:8080");
    EXPECT_EQ(t.path, "/p");
    EXPECT_EQ(t.query, "q");

    ASSERT_TRUE(split_request_target("HTTPS://h", t));
    EXPECT_EQ(t.authority, "h");
    EXPECT_EQ(t.path, "/");

    ASSERT_TRUE(split_request_target("http://h?q", t));
    EXPECT_EQ(t.path, "/");
    EXPECT_EQ(t.query, "q");

    // An authority a Host field could not carry: a list, userinfo, a fragment.
    EXPECT_FALSE(split_request_target("http://a.test,b.test/", t));
    EXPECT_FALSE(split_request_target("http://user@a.test/", t));
    EXPECT_FALSE(split_request_target("http://a.test#x/", t));
    ASSERT_TRUE(split_request_target("http://[::1]:8080/", t));
    EXPECT_EQ(t.authority, "[::1]:8080");

    EXPECT_FALSE(split_request_target("*", t));
    EXPECT_FALSE(split_request_target("example.com:443", t));
    EXPECT_FALSE(split_request_target("", t));
    EXPECT_FALSE(split_request_target("http:///nohost", t));
}

}  // namespace
}  // namespace sluice
