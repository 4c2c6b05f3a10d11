#include <gtest/gtest.h>

#include "proxy/url_template.hpp"

namespace sluice {
namespace {

std::string expand(const std::string& text, std::vector<std::string_view> captures, bool variables = true)
{
    std::string error;
    auto t = url_template::parse(text, variables, error);
    if (!t)
        return "error: " + error;
    template_values v{captures, "/orig/path?q=1", "/orig/path", "example.com", "example.com:8080", "http", "q=1", "80"};
    std::string out;
    t->expand(v, out);
    return out;
}

TEST(url_template, captures_and_variables)
{
    EXPECT_EQ(expand("/$2", {"/something/new", "/", "new"}), "/new");
    EXPECT_EQ(expand("/$1/$2/$1", {"x", "a", "b"}), "/a/b/a");
    EXPECT_EQ(expand("/$9", {"x"}), "/");  // unset captures expand to nothing, as in nginx
    EXPECT_EQ(expand("https://new.example.com$request_uri", {}), "https://new.example.com/orig/path?q=1");
    EXPECT_EQ(expand("$scheme://$host$uri?$args", {}), "http://example.com/orig/path?q=1");
    EXPECT_EQ(expand("${scheme}://${http_host}/x", {}), "http://example.com:8080/x");
    EXPECT_EQ(expand("/cost$", {}), "/cost$");
}

TEST(url_template, captures_are_escaped)
{
    EXPECT_EQ(expand("/$1", {"", "a b%c?d#e\"f"}), "/a%20b%25c%3Fd%23e%22f");
    EXPECT_EQ(expand("/$1", {"", "\xc3\xa9"}), "/%C3%A9");
}

TEST(url_template, refuses_unknown_or_disallowed_variables)
{
    EXPECT_EQ(expand("/$foo", {}).rfind("error: variable $foo is not supported", 0), 0u);
    EXPECT_EQ(expand("/$host", {}, false).rfind("error: variable $host is not allowed here", 0), 0u);
    EXPECT_EQ(expand("/${host", {}).rfind("error: unterminated", 0), 0u);
}

}  // namespace
}  // namespace sluice
