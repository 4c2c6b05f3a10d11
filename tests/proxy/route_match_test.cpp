#include <gtest/gtest.h>

#include "proxy/route_snapshot.hpp"

namespace sluice {
namespace {

struct path_spec {
    const char* path;
    path_match match;
};

// Builds a host whose location i has backend i, and returns the backend a request path reaches.
class path_table {
public:
    explicit path_table(std::initializer_list<path_spec> specs)
    {
        uint32_t i = 0;
        for (const auto& s : specs) {
            location loc;
            loc.path = s.path;
            loc.match = s.match;
            loc.backend = i++;
            add_location(host_, std::move(loc));
        }
    }
    // -1: nothing matched (the fallback).
    int match(const char* path) const
    {
        const location& l = match_path(host_, path);
        return l.backend == no_backend ? -1 : static_cast<int>(l.backend);
    }

private:
    virtual_host host_;
};

constexpr auto E = path_match::exact;
constexpr auto P = path_match::prefix;

// Every row of the examples table in the Kubernetes Ingress documentation ("Examples" under
// "Path types"), in order.
TEST(path_matching, kubernetes_documentation_examples)
{
    EXPECT_EQ(path_table({{"/", P}}).match("/anything/at/all"), 0);               // Prefix / matches all
    EXPECT_EQ(path_table({{"/foo", E}}).match("/foo"), 0);                         // Exact /foo, /foo: yes
    EXPECT_EQ(path_table({{"/foo", E}}).match("/bar"), -1);                        // Exact /foo, /bar: no
    EXPECT_EQ(path_table({{"/foo", E}}).match("/foo/"), -1);                       // Exact /foo, /foo/: no
    EXPECT_EQ(path_table({{"/foo/", E}}).match("/foo"), -1);                       // Exact /foo/, /foo: no
    EXPECT_EQ(path_table({{"/foo", P}}).match("/foo"), 0);                         // Prefix /foo: /foo
    EXPECT_EQ(path_table({{"/foo", P}}).match("/foo/"), 0);                        //   and /foo/
    EXPECT_EQ(path_table({{"/foo/", P}}).match("/foo"), 0);                        // Prefix /foo/: /foo
    EXPECT_EQ(path_table({{"/foo/", P}}).match("/foo/"), 0);                       //   and /foo/
    EXPECT_EQ(path_table({{"/aaa/bb", P}}).match("/aaa/bbb"), -1);                 // not a string prefix
    EXPECT_EQ(path_table({{"/aaa/bbb", P}}).match("/aaa/bbb"), 0);
    EXPECT_EQ(path_table({{"/aaa/bbb/", P}}).match("/aaa/bbb"), 0);                // ignores trailing slash
    EXPECT_EQ(path_table({{"/aaa/bbb", P}}).match("/aaa/bbb/"), 0);                // matches trailing slash
    EXPECT_EQ(path_table({{"/aaa/bbb", P}}).match("/aaa/bbb/ccc"), 0);             // matches subpath
    EXPECT_EQ(path_table({{"/aaa/bbb", P}}).match("/aaa/bbbxyz"), -1);             // no string prefix
    EXPECT_EQ(path_table({{"/", P}, {"/aaa", P}}).match("/aaa/ccc"), 1);           // /aaa prefix
    EXPECT_EQ(path_table({{"/", P}, {"/aaa", P}, {"/aaa/bbb", P}}).match("/aaa/bbb"), 2);
    EXPECT_EQ(path_table({{"/", P}, {"/aaa", P}, {"/aaa/bbb", P}}).match("/ccc"), 0);
    EXPECT_EQ(path_table({{"/aaa", P}}).match("/ccc"), -1);                        // default backend
    EXPECT_EQ(path_table({{"/foo", P}, {"/foo", E}}).match("/foo"), 1);            // mixed: Exact wins
}

TEST(path_matching, longest_prefix_wins_regardless_of_order)
{
    path_table t({{"/a/b/c", P}, {"/a", P}, {"/a/b", P}});
    EXPECT_EQ(t.match("/a/b/c/d"), 0);
    EXPECT_EQ(t.match("/a/b/x"), 2);
    EXPECT_EQ(t.match("/a/x"), 1);
    EXPECT_EQ(t.match("/"), -1);
}

TEST(path_matching, exact_only_matches_the_whole_path)
{
    path_table t({{"/a", P}, {"/a/b", E}});
    EXPECT_EQ(t.match("/a/b"), 1);
    EXPECT_EQ(t.match("/a/b/c"), 0);
}

TEST(path_matching, duplicate_path_keeps_the_first)
{
    virtual_host h;
    location a;
    a.path = "/x/";
    a.backend = 1;
    location b;
    b.path = "/x";
    b.backend = 2;
    EXPECT_EQ(add_location(h, a), nullptr);
    const location* winner = add_location(h, b);
    ASSERT_NE(winner, nullptr);
    EXPECT_EQ(winner->backend, 1u);
}

route_snapshot hosts_snapshot()
{
    route_snapshot s;
    s.exact_hosts["foo.bar.com"] = std::make_shared<virtual_host>();
    s.exact_hosts["foo.bar.com"]->name = "foo.bar.com";
    s.exact_hosts["foo.bar.com"]->fallback.backend = 1;
    s.wildcard_hosts["bar.com"] = std::make_shared<virtual_host>();
    s.wildcard_hosts["bar.com"]->name = "*.bar.com";
    s.wildcard_hosts["bar.com"]->fallback.backend = 2;
    s.catch_all.fallback.backend = 0;
    return s;
}

uint32_t host_backend(const route_snapshot& s, std::string_view host) { return match_host(s, host).fallback.backend; }

TEST(host_matching, exact_wildcard_and_catch_all)
{
    auto s = hosts_snapshot();
    EXPECT_EQ(host_backend(s, "foo.bar.com"), 1u);
    EXPECT_EQ(host_backend(s, "baz.bar.com"), 2u);       // wildcard: one label
    EXPECT_EQ(host_backend(s, "bar.com"), 0u);           // wildcard needs a label
    EXPECT_EQ(host_backend(s, "foo.baz.bar.com"), 0u);   // only one label
    EXPECT_EQ(host_backend(s, "other.org"), 0u);
    EXPECT_EQ(host_backend(s, ""), 0u);
}

TEST(host_matching, case_port_and_trailing_dot_are_ignored)
{
    auto s = hosts_snapshot();
    EXPECT_EQ(host_backend(s, "FOO.Bar.COM"), 1u);
    EXPECT_EQ(host_backend(s, "foo.bar.com:8080"), 1u);
    EXPECT_EQ(host_backend(s, "foo.bar.com."), 1u);
    EXPECT_EQ(host_backend(s, "Baz.BAR.com:443"), 2u);
    EXPECT_EQ(host_backend(s, "[::1]:80"), 0u);
    EXPECT_EQ(host_backend(s, std::string(400, 'a')), 0u);
}

TEST(host_matching, normalize_host)
{
    std::string out;
    EXPECT_TRUE(normalize_host("Foo.COM:80", out));
    EXPECT_EQ(out, "foo.com");
    EXPECT_TRUE(normalize_host("[::1]:80", out));
    EXPECT_EQ(out, "[::1]");
    EXPECT_FALSE(normalize_host("a b", out));
    EXPECT_FALSE(normalize_host("a/b", out));
}

}  // namespace
}  // namespace sluice
