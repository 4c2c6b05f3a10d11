// Canary releases through the real binary, with two sluice-echo services.
#include <cmath>

#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

std::string main_ingress(const std::string& annotations = "")
{
    return "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: main\n" +
           (annotations.empty() ? std::string() : "  annotations:\n" + annotations) +
           "spec:\n  ingressClassName: nginx\n  rules:\n  - host: canary.test\n    http:\n      paths:\n"
           "      - path: /\n        pathType: Prefix\n        backend: {service: {name: production, port: {number: 80}}}\n"
           "  - host: other.test\n    http:\n      paths:\n"
           "      - path: /\n        pathType: Prefix\n        backend: {service: {name: production, port: {number: 80}}}\n";
}

std::string canary_ingress(const std::string& annotations)
{
    return "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: canary\n  annotations:\n"
           "    nginx.ingress.kubernetes.io/canary: \"true\"\n" + annotations +
           "spec:\n  ingressClassName: nginx\n  rules:\n  - host: canary.test\n    http:\n      paths:\n"
           "      - path: /\n        pathType: Prefix\n        backend: {service: {name: canary, port: {number: 80}}}\n";
}

class canaries : public ::testing::Test {
protected:
    void SetUp() override
    {
        s.write("class.yaml", ingress_class_yaml());
        s.write("svc.yaml", service_yaml("production", {production.port()}) + "---\n" + service_yaml("canary", {canary.port()}));
        s.write("main.yaml", main_ingress());
        s.start();
    }
    void set_canary(const std::string& annotations)
    {
        uint64_t g = s.generation();
        s.write("canary.yaml", canary_ingress(annotations));
        s.wait_for_generation_after(g);
    }
    std::string service(const std::string& host, const std::map<std::string, std::string>& headers = {})
    {
        auto r = http_get(s.port(), "/", host, headers);
        return r.status == 200 ? r.json()["service"].get<std::string>() : std::to_string(r.status);
    }
    int canary_count(int n, const std::map<std::string, std::string>& headers = {})
    {
        http_connection c(s.port());
        int hits = 0;
        for (int i = 0; i < n; ++i)
            hits += c.request("GET", "/", "canary.test", headers).json()["service"] == "canary";
        return hits;
    }
    echo_backend production{"production"};
    echo_backend canary{"canary"};
    sluice_instance s;
};

TEST_F(canaries, by_header_always_never_and_other_values)
{
    set_canary("    nginx.ingress.kubernetes.io/canary-by-header: X-Canary\n");
    EXPECT_EQ(service("canary.test", {{"X-Canary", "always"}}), "canary");
    EXPECT_EQ(service("canary.test", {{"x-canary", "always"}}), "canary");  // header names are case-insensitive
    EXPECT_EQ(service("canary.test", {{"X-Canary", "never"}}), "production");
    EXPECT_EQ(service("canary.test", {{"X-Canary", "other"}}), "production");
    EXPECT_EQ(service("canary.test"), "production");
    // Only the location the canary names is split, not other hosts using the same Service.
    EXPECT_EQ(service("other.test", {{"X-Canary", "always"}}), "production");
}

TEST_F(canaries, by_header_value_and_pattern)
{
    set_canary("    nginx.ingress.kubernetes.io/canary-by-header: X-Version\n"
               "    nginx.ingress.kubernetes.io/canary-by-header-value: v2\n");
    EXPECT_EQ(service("canary.test", {{"X-Version", "v2"}}), "canary");
    EXPECT_EQ(service("canary.test", {{"X-Version", "always"}}), "production");
    set_canary("    nginx.ingress.kubernetes.io/canary-by-header: X-Version\n"
               "    nginx.ingress.kubernetes.io/canary-by-header-pattern: \"^v[2-9]$\"\n");
    EXPECT_EQ(service("canary.test", {{"X-Version", "v7"}}), "canary");
    EXPECT_EQ(service("canary.test", {{"X-Version", "v1"}}), "production");
}

TEST_F(canaries, by_cookie)
{
    set_canary("    nginx.ingress.kubernetes.io/canary-by-cookie: use_canary\n"
               "    nginx.ingress.kubernetes.io/canary-weight: \"100\"\n");
    EXPECT_EQ(service("canary.test", {{"Cookie", "a=1; use_canary=never"}}), "production");
    EXPECT_EQ(service("canary.test", {{"Cookie", "use_canary=always"}}), "canary");
    EXPECT_EQ(service("canary.test", {{"Cookie", "use_canary=maybe"}}), "canary");  // falls to weight 100
}

TEST_F(canaries, weight_changes_live_from_0_to_100)
{
    set_canary("    nginx.ingress.kubernetes.io/canary-weight: \"0\"\n");
    EXPECT_EQ(canary_count(200), 0);
    set_canary("    nginx.ingress.kubernetes.io/canary-weight: \"100\"\n");
    EXPECT_EQ(canary_count(200), 200);
    // 1,000 requests at 50%: binomial sd is sqrt(1000 * 0.25) ≈ 15.8; five sd is 79.
    set_canary("    nginx.ingress.kubernetes.io/canary-weight: \"50\"\n");
    EXPECT_NEAR(canary_count(1000), 500, 79);
    // A total below 100 is honoured: 1 of 4.
    set_canary("    nginx.ingress.kubernetes.io/canary-weight: \"1\"\n"
               "    nginx.ingress.kubernetes.io/canary-weight-total: \"4\"\n");
    EXPECT_NEAR(canary_count(1000), 250, 5 * std::sqrt(1000 * 0.25 * 0.75));
}

TEST_F(canaries, the_main_location_behaviour_applies_to_canary_traffic)
{
    uint64_t g = s.generation();
    s.write("main.yaml", main_ingress("    nginx.ingress.kubernetes.io/x-forwarded-prefix: /p\n"
                                      "    nginx.ingress.kubernetes.io/rewrite-target: /rewritten\n"));
    s.wait_for_generation_after(g);
    set_canary("    nginx.ingress.kubernetes.io/canary-weight: \"100\"\n"
               "    nginx.ingress.kubernetes.io/rewrite-target: /ignored-on-a-canary\n");
    auto r = http_get(s.port(), "/x", "canary.test");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.json()["service"], "canary");
    EXPECT_EQ(r.json()["path"], "/rewritten");
}

TEST_F(canaries, a_canary_alone_answers_404_and_removing_it_restores_main)
{
    uint64_t g = s.generation();
    s.write("lonely.yaml",
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: lonely\n  annotations:\n"
            "    nginx.ingress.kubernetes.io/canary: \"true\"\n    nginx.ingress.kubernetes.io/canary-weight: \"100\"\n"
            "spec:\n  ingressClassName: nginx\n  rules:\n  - host: lonely.test\n    http:\n      paths:\n"
            "      - path: /\n        pathType: Prefix\n        backend: {service: {name: canary, port: {number: 80}}}\n");
    s.wait_for_generation_after(g);
    EXPECT_EQ(service("lonely.test"), "404");
    set_canary("    nginx.ingress.kubernetes.io/canary-weight: \"100\"\n");
    EXPECT_EQ(service("canary.test"), "canary");
    g = s.generation();
    s.remove("canary.yaml");
    s.wait_for_generation_after(g);
    EXPECT_EQ(service("canary.test"), "production");
}

}  // namespace
}  // namespace sluice::test
