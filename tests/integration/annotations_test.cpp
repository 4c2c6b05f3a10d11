// The documented examples of the rewrite, redirect and proxy annotations through the real binary;
// the path the upstream receives is the one sluice-echo reports.
#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/streambuf.hpp>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string ingress_with(const std::string& name, const std::string& host, const std::string& path,
                         const std::string& service, const std::string& annotations)
{
    return "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name + "\n  annotations:\n" +
           annotations + "spec:\n  ingressClassName: nginx\n  rules:\n  - host: " + host +
           "\n    http:\n      paths:\n      - path: \"" + path +
           "\"\n        pathType: ImplementationSpecific\n        backend:\n          service:\n            name: " +
           service + "\n            port:\n              number: 80\n";
}

class annotated : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        echo_ = new echo_backend("http-svc");
        s_ = new sluice_instance();
        s_->write("class.yaml", ingress_class_yaml());
        s_->write("svc.yaml", service_yaml("http-svc", {echo_->port()}));
        // docs/examples/rewrite/README.md
        s_->write("rewrite.yaml", ingress_with("rewrite", "rewrite.bar.com", "/something(/|$)(.*)", "http-svc",
                                               "    nginx.ingress.kubernetes.io/use-regex: \"true\"\n"
                                               "    nginx.ingress.kubernetes.io/rewrite-target: /$2\n"));
        // docs/examples/rewrite/README.md, "App Root"
        s_->write("approot.yaml", ingress_with("approot", "approot.bar.com", "/", "http-svc",
                                               "    nginx.ingress.kubernetes.io/app-root: /app1\n"));
        // test/e2e/annotations/xforwardedprefix.go
        s_->write("prefix.yaml", ingress_with("prefix", "prefix.bar.com", "/", "http-svc",
                                              "    nginx.ingress.kubernetes.io/rewrite-target: /foo\n"
                                              "    nginx.ingress.kubernetes.io/x-forwarded-prefix: /test/value\n"));
        s_->write("perm.yaml", ingress_with("perm", "perm.bar.com", "/", "http-svc",
                                            "    nginx.ingress.kubernetes.io/permanent-redirect: https://www.google.com\n"
                                            "    nginx.ingress.kubernetes.io/permanent-redirect-code: \"308\"\n"));
        s_->write("temp.yaml", ingress_with("temp", "temp.bar.com", "/", "http-svc",
                                            "    nginx.ingress.kubernetes.io/temporal-redirect: "
                                            "https://new.example.com$request_uri\n"));
        s_->write("www.yaml", ingress_with("www", "www.fromto.bar.com", "/", "http-svc",
                                           "    nginx.ingress.kubernetes.io/from-to-www-redirect: \"true\"\n"));
        s_->write("vhost.yaml", ingress_with("vhost", "vhost.bar.com", "/", "http-svc",
                                             "    nginx.ingress.kubernetes.io/upstream-vhost: internal.example\n"
                                             "    nginx.ingress.kubernetes.io/configuration-snippet: |\n"
                                             "      more_set_headers \"Request-Id: $req_id\";\n"));
        s_->write("limits.yaml", ingress_with("limits", "limits.bar.com", "/", "http-svc",
                                              "    nginx.ingress.kubernetes.io/proxy-body-size: 1k\n"));
        s_->start();
    }
    static void TearDownTestSuite()
    {
        delete s_;
        delete echo_;
    }
    static std::string upstream_path(const std::string& host, const std::string& target)
    {
        auto r = http_get(s_->port(), target, host);
        return r.status == 200 ? r.json()["path"].get<std::string>() : std::to_string(r.status);
    }
    static sluice_instance* s_;
    static echo_backend* echo_;
};
sluice_instance* annotated::s_;
echo_backend* annotated::echo_;

TEST_F(annotated, rewrite_target_with_captures_as_documented)
{
    // The request/upstream table of docs/examples/rewrite/README.md.
    EXPECT_EQ(upstream_path("rewrite.bar.com", "/something"), "/");
    EXPECT_EQ(upstream_path("rewrite.bar.com", "/something/"), "/");
    EXPECT_EQ(upstream_path("rewrite.bar.com", "/something/new"), "/new");
    // The query string is kept; matching is case-insensitive; nothing else matches.
    EXPECT_EQ(upstream_path("rewrite.bar.com", "/something/new?a=1&b=2"), "/new?a=1&b=2");
    EXPECT_EQ(upstream_path("rewrite.bar.com", "/SomeThing/Deep/Path"), "/Deep/Path");
    EXPECT_EQ(upstream_path("rewrite.bar.com", "/somethingelse"), "404");
    // Captures come from the decoded path and are re-escaped.
    EXPECT_EQ(upstream_path("rewrite.bar.com", "/something/a%20b"), "/a%20b");
}

TEST_F(annotated, app_root_redirects_only_the_root)
{
    auto r = http_get(s_->port(), "/", "approot.bar.com");
    EXPECT_EQ(r.status, 302u);
    EXPECT_EQ(r.headers["location"], "http://approot.bar.com/app1");
    EXPECT_EQ(upstream_path("approot.bar.com", "/app1"), "/app1");
}

TEST_F(annotated, x_forwarded_prefix_goes_with_the_rewrite)
{
    auto r = http_get(s_->port(), "/", "prefix.bar.com");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.json()["path"], "/foo");
    EXPECT_EQ(r.json()["headers"]["x-forwarded-prefix"][0], "/test/value");
}

TEST_F(annotated, permanent_and_temporal_redirects)
{
    auto p = http_get(s_->port(), "/any/path", "perm.bar.com");
    EXPECT_EQ(p.status, 308u);
    EXPECT_EQ(p.headers["location"], "https://www.google.com");
    auto t = http_get(s_->port(), "/a/b?c=d", "temp.bar.com");
    EXPECT_EQ(t.status, 302u);
    EXPECT_EQ(t.headers["location"], "https://new.example.com/a/b?c=d");
}

TEST_F(annotated, from_to_www_redirect)
{
    auto r = http_get(s_->port(), "/x?y=1", "fromto.bar.com");
    EXPECT_EQ(r.status, 308u);
    EXPECT_EQ(r.headers["location"], "http://www.fromto.bar.com/x?y=1");
    EXPECT_EQ(upstream_path("www.fromto.bar.com", "/x"), "/x");
}

TEST_F(annotated, upstream_vhost_sets_host_and_snippets_are_refused)
{
    auto r = http_get(s_->port(), "/", "vhost.bar.com");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.json()["headers"]["host"][0], "internal.example");
    EXPECT_EQ(r.json()["headers"]["x-forwarded-host"][0], "vhost.bar.com");
    EXPECT_EQ(r.headers.count("request-id"), 0u);
    bool refused = false;
    auto config = s_->debug_config();  // kept: the loop below reads into it
    for (const auto& d : config["diagnostics"])
        refused = refused || (d["object"] == "Ingress default/vhost" &&
                              d["message"].get<std::string>().rfind("refused", 0) == 0);
    EXPECT_TRUE(refused) << config["diagnostics"].dump(1);
}

TEST_F(annotated, proxy_body_size_per_ingress)
{
    http_connection c(s_->port());
    EXPECT_EQ(c.request("POST", "/", "limits.bar.com", {}, std::string(2048, 'x')).status, 413u);
    http_connection c2(s_->port());
    EXPECT_EQ(c2.request("POST", "/", "vhost.bar.com", {}, std::string(2048, 'x')).status, 200u);
}

TEST_F(annotated, proxy_read_timeout_per_ingress)
{
    raw_server silent([](tcp::socket& s) {
        boost::system::error_code ec;
        asio::streambuf b;
        asio::read(s, b, ec);
    });
    uint64_t g = s_->generation();
    s_->write("slow.yaml", service_yaml("silent", {silent.port()}) + "---\n" +
                               ingress_with("slow", "slow.bar.com", "/", "silent",
                                            "    nginx.ingress.kubernetes.io/proxy-read-timeout: \"1\"\n"));
    s_->wait_for_generation_after(g);
    auto start = std::chrono::steady_clock::now();
    http_connection c(s_->port());
    EXPECT_EQ(c.request("POST", "/", "slow.bar.com", {}, "x").status, 504u);
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 900ms);
    EXPECT_LT(took, 5s);
    s_->remove("slow.yaml");
    s_->wait_for_generation_after(s_->generation());
}

TEST_F(annotated, invalid_annotation_is_reported_and_ignored)
{
    uint64_t g = s_->generation();
    s_->write("badann.yaml", ingress_with("badann", "badann.bar.com", "/", "http-svc",
                                          "    nginx.ingress.kubernetes.io/proxy-body-size: lots\n"
                                          "    nginx.ingress.kubernetes.io/rewrite-targte: /x\n"));
    s_->wait_for_generation_after(g);
    EXPECT_EQ(upstream_path("badann.bar.com", "/y"), "/y");
    int found = 0;
    auto config = s_->debug_config();
    for (const auto& d : config["diagnostics"]) {
        if (d["object"] != "Ingress default/badann")
            continue;
        std::string m = d["message"];
        found += m.find("invalid value \"lots\"") != std::string::npos;
        found += m.find("unknown annotations, ignored: rewrite-targte") != std::string::npos;
    }
    EXPECT_EQ(found, 2);
    s_->remove("badann.yaml");
}

}  // namespace
}  // namespace sluice::test
