// Source ranges, rate and connection limits, and CORS through the real binary.
#include <future>

#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {



// How many of `n` requests, each on a fresh connection (so that they spread over the workers),
// got `status`.
int count_status(uint16_t port, const std::string& target, const std::string& host, int n, unsigned status,
                 const std::map<std::string, std::string>& headers = {})
{
    int got = 0;
    for (int i = 0; i < n; ++i)
        got += http_get(port, target, host, headers).status == status ? 1 : 0;
    return got;
}

class access_control : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        echo_ = new echo_backend("echo");
        slow_ = new echo_backend("slow", {"--delay-ms", "1500"});
        // Two workers: limits must hold for the process, not per worker.
        s_ = new sluice_instance({"--configmap", "default/sluice"});
        s_->write("class.yaml", ingress_class_yaml());
        s_->write("cm.yaml", configmap_yaml({{"use-forwarded-headers", "true"}, {"limit-req-status-code", "429"}}));
        s_->write("svc.yaml", service_yaml("echo", {echo_->port()}) + "---\n" + service_yaml("slow", {slow_->port()}));
        s_->write("ing.yaml",
                  ingress_yaml("allow-other", "allow-other.test", {{"/", "Prefix", "echo"}},
                               annotations_yaml({{"allowlist-source-range", "10.0.0.0/8, 192.168.0.1"}})) +
                      "---\n" +
                      ingress_yaml("allow-local", "allow-local.test", {{"/", "Prefix", "echo"}},
                                   annotations_yaml({{"whitelist-source-range", "127.0.0.1/32,10.1.2.3"}})) +
                      "---\n" +
                      ingress_yaml("deny", "deny.test", {{"/", "Prefix", "echo"}},
                                   annotations_yaml({{"denylist-source-range", "127.0.0.0/8"}})) +
                      "---\n" +
                      ingress_yaml("typo", "typo.test", {{"/", "Prefix", "echo"}},
                                   annotations_yaml({{"allowlist-source-range", "10.0.0.0/33"}})) +
                      "---\n" +
                      ingress_yaml("rpm", "rpm.test", {{"/a", "Prefix", "echo"}, {"/b", "Prefix", "echo"}},
                                   annotations_yaml({{"limit-rpm", "6"}, {"limit-burst-multiplier", "1"}})) +
                      "---\n" +
                      ingress_yaml("rps", "rps.test", {{"/", "Prefix", "echo"}},
                                   annotations_yaml({{"limit-rps", "2"}, {"limit-burst-multiplier", "1"},
                                                {"limit-allowlist", "10.9.0.0/16"}})) +
                      "---\n" +
                      ingress_yaml("conn", "conn.test", {{"/", "Prefix", "slow"}},
                                   annotations_yaml({{"limit-connections", "1"}})));
        s_->start();
    }
    static void TearDownTestSuite()
    {
        delete s_;
        delete echo_;
        delete slow_;
    }
    static sluice_instance* s_;
    static echo_backend* echo_;
    static echo_backend* slow_;
};
sluice_instance* access_control::s_;
echo_backend* access_control::echo_;
echo_backend* access_control::slow_;

TEST_F(access_control, allowlist_and_denylist_answer_403_to_other_sources)
{
    EXPECT_EQ(http_get(s_->port(), "/", "allow-other.test").status, 403u);
    EXPECT_EQ(http_get(s_->port(), "/", "allow-local.test").status, 200u);
    EXPECT_EQ(http_get(s_->port(), "/", "deny.test").status, 403u);
    // use-forwarded-headers: the address the realip rules resolve is the one checked.
    EXPECT_EQ(http_get(s_->port(), "/", "allow-other.test", {{"X-Forwarded-For", "10.200.3.4"}}).status, 200u);
    EXPECT_EQ(http_get(s_->port(), "/", "allow-other.test", {{"X-Forwarded-For", "192.168.0.2"}}).status, 403u);
    EXPECT_EQ(http_get(s_->port(), "/", "deny.test", {{"X-Forwarded-For", "10.1.1.1"}}).status, 200u);
    EXPECT_EQ(http_get(s_->port(), "/", "allow-local.test", {{"X-Forwarded-For", "10.1.2.3"}}).status, 200u);
    EXPECT_EQ(http_get(s_->port(), "/", "allow-local.test", {{"X-Forwarded-For", "10.1.2.4"}}).status, 403u);
}

TEST_F(access_control, a_bad_range_closes_the_location_and_says_why)
{
    EXPECT_EQ(http_get(s_->port(), "/", "typo.test").status, 503u);
    auto config = s_->debug_config();
    bool found = false;
    for (const auto& d : config["diagnostics"])
        found = found || (d["object"] == "Ingress default/typo" &&
                          d["field"] == "metadata.annotations[nginx.ingress.kubernetes.io/allowlist-source-range]" &&
                          d["message"].get<std::string>().find("10.0.0.0/33") != std::string::npos);
    EXPECT_TRUE(found) << config["diagnostics"].dump(1);
    // The other Ingresses are untouched.
    EXPECT_EQ(http_get(s_->port(), "/", "allow-local.test").status, 200u);
}

TEST_F(access_control, limit_rpm_allows_one_plus_burst_across_workers_and_paths)
{
    // 6 per minute with a burst of 6: the first request and 6 more pass, whichever worker and
    // whichever path of the Ingress they reach; the drain is one per 10 s.
    const std::map<std::string, std::string> client{{"X-Forwarded-For", "10.50.0.1"}};
    int a = count_status(s_->port(), "/a", "rpm.test", 4, 200, client);
    int b = count_status(s_->port(), "/b", "rpm.test", 8, 200, client);
    EXPECT_EQ(a + b, 7);
    EXPECT_EQ(http_get(s_->port(), "/a", "rpm.test", client).status, 429u);  // limit-req-status-code
    // Another client has its own budget.
    EXPECT_EQ(count_status(s_->port(), "/a", "rpm.test", 7, 200, {{"X-Forwarded-For", "10.50.0.2"}}), 7);
}

TEST_F(access_control, limit_rps_drains_over_time_and_exempts_the_allowlist)
{
    const std::map<std::string, std::string> client{{"X-Forwarded-For", "10.60.0.1"}};
    int passed = count_status(s_->port(), "/", "rps.test", 10, 200, client);
    EXPECT_GE(passed, 3);
    EXPECT_LE(passed, 5);  // 1 + burst 2, plus what drained while the requests ran
    std::this_thread::sleep_for(1100ms);
    EXPECT_GE(count_status(s_->port(), "/", "rps.test", 3, 200, client), 2);
    EXPECT_EQ(count_status(s_->port(), "/", "rps.test", 20, 200, {{"X-Forwarded-For", "10.9.1.1"}}), 20);
}

TEST_F(access_control, limit_connections_counts_requests_in_progress)
{
    const std::map<std::string, std::string> client{{"X-Forwarded-For", "10.70.0.1"}};
    auto first = std::async(std::launch::async, [&] { return http_get(s_->port(), "/", "conn.test", client).status; });
    // Wait until the first request holds its slot (the backend answers after 1.5 s).
    ASSERT_TRUE(wait_until([&] { return s_->metric("sluice_connections_active") >= 1; }));
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(http_get(s_->port(), "/", "conn.test", client).status, 503u);
    EXPECT_EQ(http_get(s_->port(), "/", "conn.test", {{"X-Forwarded-For", "10.70.0.2"}}).status, 200u);
    EXPECT_EQ(first.get(), 200u);
    EXPECT_EQ(http_get(s_->port(), "/", "conn.test", client).status, 200u);
}

class cross_origin : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        echo_ = new echo_backend("echo");
        s_ = new sluice_instance();
        s_->write("class.yaml", ingress_class_yaml());
        s_->write("svc.yaml", service_yaml("echo", {echo_->port()}) + "---\n" + service_yaml("empty", {}));
        s_->write("auth.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: users\ntype: Opaque\ndata:\n  auth: " +
                                   base64_encode(run_command("htpasswd -nbB -C 4 user secret")) + "\n");
        s_->write("ing.yaml",
                  ingress_yaml("open", "open.test", {{"/", "Prefix", "echo"}, {"/down", "Prefix", "empty"}},
                               annotations_yaml({{"enable-cors", "true"}})) +
                      "---\n" +
                      ingress_yaml("listed", "listed.test", {{"/", "Prefix", "echo"}},
                                   annotations_yaml({{"enable-cors", "true"},
                                                {"cors-allow-origin", "https://app.example.com, https://*.example.org:8443"},
                                                {"cors-allow-methods", "GET, POST"},
                                                {"cors-allow-headers", "X-Token,Content-Type"},
                                                {"cors-expose-headers", "X-Trace"},
                                                {"cors-allow-credentials", "false"},
                                                {"cors-max-age", "600"},
                                                {"auth-type", "basic"},
                                                {"auth-secret", "users"}})));
        s_->start();
    }
    static void TearDownTestSuite()
    {
        delete s_;
        delete echo_;
    }
    static sluice_instance* s_;
    static echo_backend* echo_;
};
sluice_instance* cross_origin::s_;
echo_backend* cross_origin::echo_;

TEST_F(cross_origin, any_origin_gets_the_default_headers_on_every_response)
{
    auto r = http_get(s_->port(), "/x", "open.test");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.headers["access-control-allow-origin"], "*");
    EXPECT_EQ(r.headers["access-control-allow-credentials"], "true");
    EXPECT_EQ(r.headers["access-control-allow-methods"], "GET, PUT, POST, DELETE, PATCH, OPTIONS");
    EXPECT_EQ(r.headers["access-control-allow-headers"],
              "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization");
    EXPECT_EQ(r.headers["access-control-max-age"], "1728000");
    EXPECT_EQ(r.headers.count("access-control-expose-headers"), 0u);
    auto down = http_get(s_->port(), "/down", "open.test");
    EXPECT_EQ(down.status, 503u);
    EXPECT_EQ(down.headers["access-control-allow-origin"], "*");
}

TEST_F(cross_origin, a_preflight_is_answered_by_the_proxy)
{
    http_connection c(s_->port());
    auto r = c.request("OPTIONS", "/x", "open.test", {{"Origin", "https://anything.example"},
                                                      {"Access-Control-Request-Method", "PUT"}});
    EXPECT_EQ(r.status, 204u);
    EXPECT_EQ(r.headers["content-length"], "0");
    EXPECT_EQ(r.headers["content-type"], "text/plain charset=UTF-8");
    EXPECT_EQ(r.headers["access-control-allow-origin"], "*");
    EXPECT_TRUE(r.body.empty());
    EXPECT_TRUE(c.is_open());
    EXPECT_EQ(c.request("GET", "/", "open.test").status, 200u);  // the connection stays usable
}

TEST_F(cross_origin, listed_origins_are_echoed_and_others_get_nothing)
{
    http_connection c(s_->port());
    const std::map<std::string, std::string> login{{"Authorization", "Basic " + base64_encode("user:secret")}};
    auto with = [&](const std::string& origin, const std::string& method = "GET") {
        auto headers = login;
        headers["Origin"] = origin;
        return c.request(method, "/", "listed.test", headers);
    };
    auto ok = with("https://app.example.com");
    ASSERT_EQ(ok.status, 200u);
    EXPECT_EQ(ok.headers["access-control-allow-origin"], "https://app.example.com");
    EXPECT_EQ(ok.headers.count("access-control-allow-credentials"), 0u);
    EXPECT_EQ(ok.headers["access-control-allow-methods"], "GET, POST");
    EXPECT_EQ(ok.headers["access-control-allow-headers"], "X-Token,Content-Type");
    EXPECT_EQ(ok.headers["access-control-expose-headers"], "X-Trace");
    EXPECT_EQ(ok.headers["access-control-max-age"], "600");
    EXPECT_EQ(with("https://api.example.org:8443").headers["access-control-allow-origin"], "https://api.example.org:8443");
    for (const char* other : {"https://a.b.example.org:8443", "https://example.org:8443", "https://api.example.org",
                              "http://app.example.com", "https://app.example.com.evil.net", "null"}) {
        auto r = with(other);
        EXPECT_EQ(r.status, 200u) << other;
        EXPECT_EQ(r.headers.count("access-control-allow-origin"), 0u) << other;
    }
    // A preflight needs no credentials; an OPTIONS from an unlisted origin is not a preflight
    // and meets the location's authentication.
    auto pre = c.request("OPTIONS", "/", "listed.test", {{"Origin", "https://app.example.com"}});
    EXPECT_EQ(pre.status, 204u);
    EXPECT_EQ(pre.headers["access-control-allow-origin"], "https://app.example.com");
    EXPECT_EQ(c.request("OPTIONS", "/", "listed.test", {{"Origin", "https://evil.net"}}).status, 401u);
    auto denied = c.request("GET", "/", "listed.test", {{"Origin", "https://app.example.com"}});
    EXPECT_EQ(denied.status, 401u);
    EXPECT_EQ(denied.headers["access-control-allow-origin"], "https://app.example.com");
}

}  // namespace
}  // namespace sluice::test

namespace sluice::test {
namespace {


TEST(header_rules, proxy_set_headers_add_headers_and_custom_headers)
{
    echo_backend echo("echo");
    sluice_instance s({"--configmap", "default/sluice"});
    s.write("class.yaml", ingress_class_yaml());
    s.write("cm.yaml", configmap_yaml({{"proxy-set-headers", "req-headers"},
                                       {"add-headers", "default/resp-headers"},
                                       {"global-allowed-response-headers", "X-Frame-Options, X-Custom"}}) +
                           "---\n" +
                           configmap_yaml({{"X-Team", "edge"},
                                                          {"X-Original-Path", "$request_uri"},
                                                          {"X-Client", "$remote_addr via $scheme"},
                                                          {"X-Forwarded-Proto", "https"},
                                                          {"X-Remove-Me", ""},
                                                          {"Bad Name", "x"}}, "req-headers") +
                           "---\n" + configmap_yaml({{"X-Served-By", "sluice"}}, "resp-headers") + "---\n" +
                           configmap_yaml({{"X-Frame-Options", "DENY"}, {"X-Custom", "yes"}}, "custom") + "---\n" +
                           configmap_yaml({{"X-Frame-Options", "DENY"}, {"Set-Cookie", "admin=1"}}, "sneaky"));
    s.write("svc.yaml", service_yaml("echo", {echo.port()}));
    s.write("ing.yaml", ingress_yaml("custom", "custom.test", {{"/", "Prefix", "echo"}},
                                     annotations_yaml({{"custom-headers", "custom"},
                                                       {"proxy-buffering", "on"},
                                                       {"proxy-request-buffering", "off"},
                                                       {"rewrite-target", "/inner"}})) +
                            "---\n" +
                            ingress_yaml("sneaky", "sneaky.test", {{"/", "Prefix", "echo"}},
                                         annotations_yaml({{"custom-headers", "sneaky"}})));
    s.start();

    auto r = http_get(s.port(), "/page?x=1", "custom.test", {{"X-Remove-Me", "secret"}});
    ASSERT_EQ(r.status, 200u);
    auto h = r.json()["headers"];
    EXPECT_EQ(h["x-team"][0], "edge");
    EXPECT_EQ(h["x-original-path"][0], "/page?x=1");  // the client's URI, not the rewritten one
    EXPECT_EQ(h["x-client"][0], "127.0.0.1 via http");
    EXPECT_EQ(h["x-forwarded-proto"][0], "https");
    EXPECT_FALSE(h.contains("x-remove-me"));
    EXPECT_EQ(r.json()["path"], "/inner?x=1");
    EXPECT_EQ(r.headers["x-served-by"], "sluice");
    EXPECT_EQ(r.headers["x-frame-options"], "DENY");
    EXPECT_EQ(r.headers["x-custom"], "yes");

    auto sneaky = http_get(s.port(), "/", "sneaky.test");
    EXPECT_EQ(sneaky.headers["x-served-by"], "sluice");
    EXPECT_EQ(sneaky.headers.count("x-frame-options"), 0u);
    EXPECT_EQ(sneaky.headers.count("set-cookie"), 0u);
    // Local answers carry the response headers too.
    EXPECT_EQ(http_get(s.port(), "/", "unknown.test").headers["x-served-by"], "sluice");

    auto config = s.debug_config();
    std::string diagnostics = config["diagnostics"].dump();
    EXPECT_NE(diagnostics.find("header Set-Cookie of ConfigMap default/sneaky is not listed"), std::string::npos) << diagnostics;
    EXPECT_NE(diagnostics.find("data.Bad Name"), std::string::npos) << diagnostics;
    EXPECT_EQ(diagnostics.find("proxy-buffering"), std::string::npos) << diagnostics;
}

}  // namespace
}  // namespace sluice::test
