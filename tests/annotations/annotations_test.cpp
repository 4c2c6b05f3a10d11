// Table-driven tests of every annotation group: valid, invalid, absent and edge values.
#include <gtest/gtest.h>

#include "annotations/registry.hpp"
#include "proxy/route_snapshot.hpp"

namespace sluice::annotations {
namespace {

constexpr const char* P = "nginx.ingress.kubernetes.io/";

ingress_annotations parse(std::map<std::string, std::string> values, std::string_view prefix = "nginx.ingress.kubernetes.io")
{
    std::map<std::string, std::string> full;
    for (auto& [k, v] : values)
        full[k.find('/') == std::string::npos ? std::string(prefix) + "/" + k : k] = v;
    return parse_ingress_annotations(full, prefix);
}

bool has_diag(const ingress_annotations& a, const std::string& key, const std::string& needle)
{
    for (const auto& d : a.diagnostics)
        if (d.key == key && d.message.find(needle) != std::string::npos)
            return true;
    return false;
}

TEST(rewrite_annotations, table)
{
    struct row {
        std::map<std::string, std::string> in;
        std::string target, app_root, prefix;
        bool use_regex;
        const char* diag_key;  // nullptr: no diagnostic expected
    };
    const row rows[] = {
        {{}, "", "", "", false, nullptr},
        {{{"rewrite-target", "/$2"}}, "/$2", "", "", false, nullptr},
        {{{"rewrite-target", "/a/$1/b:c~d.e_f-g"}}, "/a/$1/b:c~d.e_f-g", "", "", false, nullptr},
        {{{"rewrite-target", ""}}, "", "", "", false, nullptr},  // empty: absent, as ingress-nginx
        {{{"rewrite-target", "/x?y=1"}}, "", "", "", false, "rewrite-target"},
        {{{"rewrite-target", "/a b"}}, "", "", "", false, "rewrite-target"},
        {{{"rewrite-target", "/a\nb"}}, "", "", "", false, "rewrite-target"},
        {{{"use-regex", "true"}}, "", "", "", true, nullptr},
        {{{"use-regex", "True"}}, "", "", "", true, nullptr},
        {{{"use-regex", "1"}}, "", "", "", true, nullptr},
        {{{"use-regex", "false"}}, "", "", "", false, nullptr},
        {{{"use-regex", "yes"}}, "", "", "", false, "use-regex"},
        {{{"app-root", "/app1"}}, "", "/app1", "", false, nullptr},
        {{{"app-root", "app1"}}, "", "", "", false, "app-root"},
        {{{"app-root", "http://x/app"}}, "", "", "", false, "app-root"},
        {{{"app-root", "/app?x"}}, "", "", "", false, "app-root"},
        {{{"x-forwarded-prefix", "/$1"}}, "", "", "/$1", false, nullptr},
        {{{"x-forwarded-prefix", "/a\"b"}}, "", "", "", false, "x-forwarded-prefix"},
    };
    for (const auto& r : rows) {
        auto a = parse(r.in);
        std::string label = r.in.empty() ? "(none)" : r.in.begin()->first + "=" + r.in.begin()->second;
        EXPECT_EQ(a.rewrite.target, r.target) << label;
        EXPECT_EQ(a.rewrite.app_root, r.app_root) << label;
        EXPECT_EQ(a.rewrite.x_forwarded_prefix, r.prefix) << label;
        EXPECT_EQ(a.rewrite.use_regex, r.use_regex) << label;
        if (r.diag_key) {
            EXPECT_TRUE(has_diag(a, P + std::string(r.diag_key), "")) << label;
        } else {
            EXPECT_TRUE(a.diagnostics.empty()) << label << ": " << a.diagnostics[0].message;
        }
    }
}

TEST(redirect_annotations, table)
{
    struct row {
        std::map<std::string, std::string> in;
        std::string url;
        unsigned code;
        bool www;
        const char* diag_key;
    };
    const row rows[] = {
        {{}, "", 0, false, nullptr},
        {{{"permanent-redirect", "https://example.com"}}, "https://example.com", 301, false, nullptr},
        {{{"permanent-redirect", "https://example.com$request_uri"}}, "https://example.com$request_uri", 301, false, nullptr},
        {{{"permanent-redirect", "https://example.com"}, {"permanent-redirect-code", "308"}}, "https://example.com", 308, false, nullptr},
        {{{"permanent-redirect", "https://example.com"}, {"permanent-redirect-code", "200"}}, "https://example.com", 301, false, "permanent-redirect-code"},
        {{{"permanent-redirect", "https://example.com"}, {"permanent-redirect-code", "abc"}}, "", 0, false, "permanent-redirect"},
        {{{"permanent-redirect", "ftp://example.com"}}, "", 0, false, "permanent-redirect"},
        {{{"permanent-redirect", "/relative"}}, "", 0, false, "permanent-redirect"},
        {{{"permanent-redirect", "https://example.com/<script>"}}, "", 0, false, "permanent-redirect"},
        {{{"temporal-redirect", "http://t.example.com"}}, "http://t.example.com", 302, false, nullptr},
        {{{"temporal-redirect", "http://t.example.com"}, {"temporal-redirect-code", "307"}}, "http://t.example.com", 307, false, nullptr},
        {{{"temporal-redirect", "http://t.example.com"}, {"permanent-redirect", "https://p.example.com"}}, "http://t.example.com", 302, false, nullptr},
        {{{"from-to-www-redirect", "true"}}, "", 0, true, nullptr},
        {{{"from-to-www-redirect", "maybe"}}, "", 0, false, "from-to-www-redirect"},
    };
    for (const auto& r : rows) {
        auto a = parse(r.in);
        std::string label = r.in.empty() ? "(none)" : r.in.begin()->first + "=" + r.in.begin()->second;
        EXPECT_EQ(a.redirect.url, r.url) << label;
        EXPECT_EQ(a.redirect.code, r.code) << label;
        EXPECT_EQ(a.redirect.from_to_www, r.www) << label;
        if (r.diag_key)
            EXPECT_TRUE(has_diag(a, P + std::string(r.diag_key), "")) << label;
        else
            EXPECT_TRUE(a.diagnostics.empty()) << label << ": " << a.diagnostics[0].message;
    }
}

TEST(proxy_annotations, table)
{
    using std::chrono::seconds;
    auto a = parse({{"proxy-connect-timeout", "10"},
                    {"proxy-send-timeout", "120"},
                    {"proxy-read-timeout", "3600"},
                    {"proxy-body-size", "8m"},
                    {"client-body-buffer-size", "16k"},
                    {"proxy-next-upstream-tries", "5"}});
    EXPECT_EQ(a.proxy.connect_timeout, seconds(10));
    EXPECT_EQ(a.proxy.send_timeout, seconds(120));
    EXPECT_EQ(a.proxy.read_timeout, seconds(3600));
    EXPECT_EQ(a.proxy.body_size, 8u * 1024 * 1024);
    EXPECT_EQ(a.proxy.client_body_buffer_size, 16u * 1024);
    EXPECT_EQ(a.proxy.next_upstream_tries, 5u);
    EXPECT_TRUE(a.diagnostics.empty());

    struct bad {
        const char* key;
        const char* value;
    };
    for (auto [key, value] : {bad{"proxy-read-timeout", "60s"}, bad{"proxy-read-timeout", "-1"},
                              bad{"proxy-read-timeout", "0"}, bad{"proxy-connect-timeout", "abc"},
                              bad{"proxy-body-size", "10mb"}, bad{"proxy-body-size", "1x"},
                              bad{"proxy-body-size", "-5"}, bad{"proxy-next-upstream-tries", "many"}}) {
        auto b = parse({{key, value}});
        EXPECT_FALSE(b.proxy.read_timeout || b.proxy.connect_timeout || b.proxy.body_size || b.proxy.next_upstream_tries)
            << key << "=" << value;
        EXPECT_TRUE(has_diag(b, P + std::string(key), "ignored")) << key << "=" << value;
    }
    EXPECT_EQ(parse({{"proxy-body-size", "0"}}).proxy.body_size, 0u);
    EXPECT_EQ(parse({{"proxy-body-size", "1G"}}).proxy.body_size, 1024ull * 1024 * 1024);
    EXPECT_EQ(parse({{"proxy-body-size", "100b"}}).proxy.body_size, 100u);
}

TEST(upstream_vhost_annotation, table)
{
    EXPECT_EQ(parse({{"upstream-vhost", "internal.example.com"}}).upstream_vhost, "internal.example.com");
    EXPECT_EQ(parse({{"upstream-vhost", "internal:8080"}}).upstream_vhost, "internal:8080");
    auto bad = parse({{"upstream-vhost", "evil.com\r\nX-Injected: 1"}});
    EXPECT_EQ(bad.upstream_vhost, "");
    EXPECT_TRUE(has_diag(bad, P + std::string("upstream-vhost"), "ignored"));
    EXPECT_EQ(parse({{"upstream-vhost", "$host"}}).upstream_vhost, "");
}

TEST(snippet_annotations, are_refused_never_applied)
{
    for (const char* key :
         {"configuration-snippet", "server-snippet", "stream-snippet", "auth-snippet", "modsecurity-snippet"}) {
        auto a = parse({{key, "return 200 'pwned';"}});
        EXPECT_TRUE(has_diag(a, P + std::string(key), "refused")) << key;
        EXPECT_EQ(a.diagnostics.size(), 1u) << key;
    }
}

TEST(annotation_registry, unknown_and_unsupported_keys_get_one_diagnostic_each_kind)
{
    auto a = parse({{"mirror-target", "http://x"},
                    {"limit-rate", "5"},
                    {"no-such-thing", "1"},
                    {"typo-rewrite-targt", "/"},
                    {"other.io/key", "ignored: other prefix"}});
    ASSERT_EQ(a.diagnostics.size(), 2u);
    EXPECT_EQ(a.diagnostics[0].message, "not supported by sluice yet, ignored: limit-rate, mirror-target");
    EXPECT_EQ(a.diagnostics[1].message, "unknown annotations, ignored: no-such-thing, typo-rewrite-targt");
}

TEST(balancing_annotations, follow_ingress_nginx_values_and_refuse_the_rest)
{
    auto a = parse({{"load-balance", "ewma"},
                    {"upstream-hash-by", "$host$request_uri"},
                    {"upstream-hash-by-subset", "true"},
                    {"upstream-hash-by-subset-size", "4"},
                    {"affinity", "cookie"},
                    {"affinity-mode", "persistent"},
                    {"session-cookie-name", "route"},
                    {"session-cookie-max-age", "3600"},
                    {"session-cookie-samesite", "Lax"},
                    {"session-cookie-change-on-failure", "true"},
                    {"proxy-next-upstream", "error timeout http_503 non_idempotent"},
                    {"proxy-next-upstream-timeout", "7"},
                    {"connection-proxy-header", "keep-alive"},
                    {"service-upstream", "true"}});
    EXPECT_TRUE(a.diagnostics.empty()) << a.diagnostics[0].message;
    const auto& b = a.balancing;
    EXPECT_EQ(b.load_balance, balance_kind::ewma);
    ASSERT_TRUE(b.hash_by);
    EXPECT_EQ(b.hash_by->text(), "$host$request_uri");
    EXPECT_EQ(b.subset_size, 4u);
    ASSERT_TRUE(b.affinity);
    EXPECT_TRUE(b.affinity->persistent);
    EXPECT_EQ(b.affinity->name, "route");
    EXPECT_EQ(b.affinity->max_age, 3600u);
    EXPECT_EQ(b.affinity->samesite, "Lax");
    EXPECT_TRUE(b.affinity->change_on_failure);
    EXPECT_EQ(b.next_upstream, retry_on_error | retry_on_timeout | retry_on_http_503 | retry_on_non_idempotent);
    EXPECT_EQ(b.next_upstream_timeout, std::chrono::seconds(7));
    EXPECT_EQ(b.connection_header, "keep-alive");
    EXPECT_TRUE(b.service_upstream);

    auto bad = parse({{"load-balance", "least_conn"},
                      {"upstream-hash-by", "$request_body"},
                      {"affinity", "ip"},
                      {"proxy-next-upstream", "error sometimes"},
                      {"connection-proxy-header", "close\r\nX: y"}});
    EXPECT_EQ(bad.diagnostics.size(), 5u);
    EXPECT_FALSE(bad.balancing.load_balance);
    EXPECT_FALSE(bad.balancing.hash_by);
    EXPECT_FALSE(bad.balancing.affinity);
    EXPECT_FALSE(bad.balancing.next_upstream);
    EXPECT_TRUE(bad.balancing.connection_header.empty());
}

TEST(access_annotations, lists_limits_and_cors)
{
    auto a = parse({{"whitelist-source-range", "10.0.0.0/8, 2001:db8::/32"},
                    {"denylist-source-range", "10.1.0.0/16"},
                    {"limit-rps", "10"},
                    {"limit-burst-multiplier", "2"},
                    {"limit-whitelist", "192.168.0.0/16"},
                    {"enable-cors", "true"},
                    {"cors-allow-origin", "https://a.example, https://*.b.example:8443, ftp://no"},
                    {"cors-allow-methods", "GET;rm"}});
    EXPECT_EQ(a.access.allow, (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"}));
    EXPECT_EQ(a.access.deny, (std::vector<std::string>{"10.1.0.0/16"}));
    EXPECT_EQ(a.access.rps, 10u);
    EXPECT_EQ(a.access.burst_multiplier, 2u);
    EXPECT_EQ(a.access.limit_exempt, (std::vector<std::string>{"192.168.0.0/16"}));
    EXPECT_TRUE(a.access.error.empty());
    EXPECT_TRUE(a.cors.enabled);
    EXPECT_EQ(a.cors.origins, (std::vector<std::string>{"https://a.example", "https://*.b.example:8443"}));
    EXPECT_EQ(a.cors.methods, "GET, PUT, POST, DELETE, PATCH, OPTIONS");  // the invalid value is ignored
    EXPECT_EQ(a.diagnostics.size(), 2u);
    auto closed = parse({{"allowlist-source-range", "10.0.0.0/8, not-an-ip"}});
    EXPECT_FALSE(closed.access.error.empty());
}

TEST(annotation_registry, prefix_is_configurable)
{
    auto a = parse_ingress_annotations({{"custom.io/rewrite-target", "/$1"}, {"nginx.ingress.kubernetes.io/use-regex", "true"}},
                                       "custom.io");
    EXPECT_EQ(a.rewrite.target, "/$1");
    EXPECT_FALSE(a.rewrite.use_regex);
}

TEST(annotation_registry, every_group_lists_its_keys_and_none_is_also_unsupported)
{
    size_t keys = 0;
    for (const auto& g : registry()) {
        for (const char* k : g.keys) {
            EXPECT_FALSE(is_known_unsupported(k)) << k;
            ++keys;
        }
    }
    EXPECT_GE(keys, 20u);
}

}  // namespace
}  // namespace sluice::annotations

namespace sluice::annotations {
namespace {

TEST(auth_basic_annotations, table)
{
    struct row {
        std::map<std::string, std::string> in;
        bool enabled;
        std::string secret;
        bool map;
        std::string realm;
        bool denied;
    };
    const row rows[] = {
        {{}, false, "", false, "", false},
        {{{"auth-type", "basic"}, {"auth-secret", "htpasswd"}}, true, "htpasswd", false, "", false},
        {{{"auth-type", "basic"}, {"auth-secret", "other-ns/htpasswd"}, {"auth-realm", "Auth required - foo"}},
         true, "other-ns/htpasswd", false, "Auth required - foo", false},
        {{{"auth-type", "basic"}, {"auth-secret", "h"}, {"auth-secret-type", "auth-map"}}, true, "h", true, "", false},
        {{{"auth-type", "basic"}, {"auth-secret", "h"}, {"auth-secret-type", "auth-file"}}, true, "h", false, "", false},
        // Misconfigured authentication denies the location instead of serving it open.
        {{{"auth-type", "basic"}}, true, "", false, "", true},
        {{{"auth-type", "basic"}, {"auth-secret", "a/b/c"}}, true, "", false, "", true},
        {{{"auth-type", "basic"}, {"auth-secret", "h"}, {"auth-secret-type", "ldap"}}, true, "", false, "", true},
        {{{"auth-type", "digest"}, {"auth-secret", "h"}}, true, "", false, "", true},
        {{{"auth-type", "kerberos"}, {"auth-secret", "h"}}, true, "", false, "", true},
        // Without auth-type there is no authentication, as in ingress-nginx (with a diagnostic).
        {{{"auth-secret", "h"}}, false, "", false, "", false},
        // A realm that could break out of the quoted header value is refused.
        {{{"auth-type", "basic"}, {"auth-secret", "h"}, {"auth-realm", "a\"b"}}, true, "h", false, "", false},
    };
    for (const auto& r : rows) {
        auto a = parse(r.in);
        std::string label;
        for (const auto& [k, v] : r.in)
            label += k + "=" + v + " ";
        EXPECT_EQ(a.auth_basic.has_value(), r.enabled) << label;
        if (!a.auth_basic)
            continue;
        EXPECT_EQ(!a.auth_basic->denied.empty(), r.denied) << label;
        if (!r.denied) {
            EXPECT_EQ(a.auth_basic->secret, r.secret) << label;
            EXPECT_EQ(a.auth_basic->map, r.map) << label;
            EXPECT_EQ(a.auth_basic->realm, r.realm) << label;
        }
    }
}

}  // namespace
}  // namespace sluice::annotations
