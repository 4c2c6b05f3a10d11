// Host and path routing through the real binary, with sluice-echo backends.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

class routing : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        a_ = new echo_backend("svc-a");
        b_ = new echo_backend("svc-b");
        c_ = new echo_backend("svc-c");
        s_ = new sluice_instance();
        s_->write("class.yaml", ingress_class_yaml());
        s_->write("services.yaml", service_yaml("svc-a", {a_->port()}) + "---\n" + service_yaml("svc-b", {b_->port()}) +
                                       "---\n" + service_yaml("svc-c", {c_->port()}));
        s_->write("web.yaml", ingress_yaml("web", "foo.example.com",
                                           {{"/", "Prefix", "svc-a"},
                                            {"/foo", "Prefix", "svc-b"},
                                            {"/foo", "Exact", "svc-c"},
                                            {"/aaa/bbb/", "Prefix", "svc-c"},
                                            {"/impl", "ImplementationSpecific", "svc-b"}}));
        s_->write("wild.yaml", ingress_yaml("wild", "*.wild.example.com", {{"/", "Prefix", "svc-b"}}));
        s_->write("nohost.yaml", ingress_yaml("nohost", "", {{"/catch", "Prefix", "svc-c"}}));
        s_->start();
    }
    static void TearDownTestSuite()
    {
        delete s_;
        delete a_;
        delete b_;
        delete c_;
    }
    static std::string service_of(const std::string& host, const std::string& path)
    {
        auto r = http_get(s_->port(), path, host);
        if (r.status != 200)
            return std::to_string(r.status);
        return r.json()["service"].get<std::string>();
    }
    static echo_backend* a_;
    static echo_backend* b_;
    static echo_backend* c_;
    static sluice_instance* s_;
};
echo_backend* routing::a_;
echo_backend* routing::b_;
echo_backend* routing::c_;
sluice_instance* routing::s_;

TEST_F(routing, prefix_matches_whole_path_elements_and_longest_wins)
{
    EXPECT_EQ(service_of("foo.example.com", "/"), "svc-a");
    EXPECT_EQ(service_of("foo.example.com", "/foo/"), "svc-b");
    EXPECT_EQ(service_of("foo.example.com", "/foo/bar"), "svc-b");
    EXPECT_EQ(service_of("foo.example.com", "/foobar"), "svc-a");
    EXPECT_EQ(service_of("foo.example.com", "/aaa/bbb"), "svc-c");
    EXPECT_EQ(service_of("foo.example.com", "/aaa/bbbxyz"), "svc-a");
    EXPECT_EQ(service_of("foo.example.com", "/impl/x"), "svc-b");
}

TEST_F(routing, exact_beats_prefix_at_equal_length)
{
    EXPECT_EQ(service_of("foo.example.com", "/foo"), "svc-c");
    EXPECT_EQ(service_of("foo.example.com", "/foo?x=1"), "svc-c");
}

TEST_F(routing, host_is_case_insensitive_and_port_is_ignored)
{
    EXPECT_EQ(service_of("FOO.Example.COM:8080", "/foo/x"), "svc-b");
    EXPECT_EQ(service_of("foo.example.com.", "/foo/x"), "svc-b");
}

TEST_F(routing, wildcard_host_covers_exactly_one_label)
{
    EXPECT_EQ(service_of("a.wild.example.com", "/x"), "svc-b");
    EXPECT_EQ(service_of("wild.example.com", "/catch"), "svc-c");  // falls to the no-host rule
    EXPECT_EQ(service_of("a.b.wild.example.com", "/x"), "404");
}

TEST_F(routing, rules_without_host_serve_unknown_hosts_and_the_rest_is_404)
{
    EXPECT_EQ(service_of("unknown.example.org", "/catch/me"), "svc-c");
    EXPECT_EQ(service_of("unknown.example.org", "/other"), "404");
    // A known host does not fall through to the no-host rules.
    EXPECT_EQ(service_of("a.wild.example.com", "/catch"), "svc-b");
}

TEST_F(routing, path_is_normalised_for_matching_but_forwarded_as_sent)
{
    auto r = http_get(s_->port(), "/x/..//foo/./bar%2Fbaz?q=%2F", "foo.example.com");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.json()["service"], "svc-b");
    EXPECT_EQ(r.json()["path"], "/x/..//foo/./bar%2Fbaz?q=%2F");
    EXPECT_EQ(http_get(s_->port(), "/../etc/passwd", "foo.example.com").status, 400u);
    EXPECT_EQ(http_get(s_->port(), "/bad%zzescape", "foo.example.com").status, 400u);
}

TEST_F(routing, absolute_form_target_routes_by_its_authority)
{
    http_connection c(s_->port());
    auto r = c.raw("GET http://foo.example.com/foo/x HTTP/1.1\r\nHost: other.example.org\r\n\r\n");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.json()["service"], "svc-b");
}

TEST_F(routing, http11_without_host_is_400_and_http10_without_host_uses_catch_all)
{
    http_connection c(s_->port());
    EXPECT_EQ(c.raw("GET /catch HTTP/1.1\r\n\r\n").status, 400u);
    http_connection c10(s_->port());
    auto r = c10.raw("GET /catch HTTP/1.0\r\n\r\n");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.json()["service"], "svc-c");
}

TEST_F(routing, debug_config_lists_hosts_and_backends)
{
    auto cfg = s_->debug_config();
    EXPECT_GE(cfg["generation"].get<int>(), 1);
    bool found = false;
    for (const auto& h : cfg["hosts"])
        found = found || h["host"] == "*.wild.example.com";
    EXPECT_TRUE(found) << cfg.dump(2);
    EXPECT_EQ(http_get(s_->status_port(), "/healthz", "x").status, 200u);
    EXPECT_EQ(http_get(s_->status_port(), "/readyz", "x").status, 200u);
}

TEST(routing_default_backend, ingress_default_backend_serves_unmatched_paths)
{
    echo_backend a("svc-a"), d("svc-default");
    sluice_instance s;
    s.write("class.yaml", ingress_class_yaml());
    s.write("svc.yaml", service_yaml("svc-a", {a.port()}) + "---\n" + service_yaml("svc-default", {d.port()}));
    // With rules: the default backend is the fallback of the hosts this Ingress defines.
    s.write("ing.yaml", R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: with-rules}
spec:
  ingressClassName: nginx
  defaultBackend: {service: {name: svc-default, port: {number: 80}}}
  rules:
  - host: app.example.com
    http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: svc-a, port: {number: 80}}}}
)");
    s.start();
    EXPECT_EQ(http_get(s.port(), "/api/x", "app.example.com").json()["service"], "svc-a");
    EXPECT_EQ(http_get(s.port(), "/other", "app.example.com").json()["service"], "svc-default");
    EXPECT_EQ(http_get(s.port(), "/other", "else.example.com").status, 404u);
    // Without rules: the default backend takes the catch-all server.
    uint64_t g = s.generation();
    s.write("catchall.yaml", R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: catch-all}
spec:
  ingressClassName: nginx
  defaultBackend: {service: {name: svc-default, port: {number: 80}}}
)");
    s.wait_for_generation_after(g);
    EXPECT_EQ(http_get(s.port(), "/other", "else.example.com").json()["service"], "svc-default");
}

TEST(routing_class, only_ingresses_of_our_class_are_served)
{
    echo_backend a("svc-a");
    sluice_instance s;
    s.write("class.yaml", ingress_class_yaml() +
                              "---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: other\n"
                              "spec:\n  controller: example.com/other\n");
    s.write("svc.yaml", service_yaml("svc-a", {a.port()}));
    s.write("mine.yaml", ingress_yaml("mine", "mine.example.com", {{"/", "Prefix", "svc-a"}}));
    std::string other = ingress_yaml("other", "other.example.com", {{"/", "Prefix", "svc-a"}});
    other.replace(other.find("ingressClassName: nginx"), 23, "ingressClassName: other");
    s.write("other.yaml", other);
    std::string legacy = ingress_yaml("legacy", "legacy.example.com", {{"/", "Prefix", "svc-a"}},
                                      "  annotations:\n    kubernetes.io/ingress.class: nginx\n");
    legacy.erase(legacy.find("  ingressClassName: nginx\n"), 26);
    s.write("legacy.yaml", legacy);
    std::string classless = ingress_yaml("classless", "classless.example.com", {{"/", "Prefix", "svc-a"}});
    classless.erase(classless.find("  ingressClassName: nginx\n"), 26);
    s.write("classless.yaml", classless);
    s.start();
    EXPECT_EQ(http_get(s.port(), "/", "mine.example.com").status, 200u);
    EXPECT_EQ(http_get(s.port(), "/", "legacy.example.com").status, 200u);
    EXPECT_EQ(http_get(s.port(), "/", "other.example.com").status, 404u);
    EXPECT_EQ(http_get(s.port(), "/", "classless.example.com").status, 404u);

    sluice_instance w({"--watch-ingress-without-class"});
    for (const auto& f : {"class.yaml", "svc.yaml", "classless.yaml"}) {
        std::ifstream in(s.dir() / f);
        std::stringstream text;
        text << in.rdbuf();
        w.write(f, text.str());
    }
    w.start();
    EXPECT_EQ(http_get(w.port(), "/", "classless.example.com").status, 200u);
}

}  // namespace
}  // namespace sluice::test
