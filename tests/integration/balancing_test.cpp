// Load balancing, affinity, retries and passive health through the real binary, with sluice-echo
// pods that say who they are.
#include <set>

#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

std::string pod_of(const response& r) { return r.status == 200 ? r.json()["pod"].get<std::string>() : ""; }

// The Set-Cookie value's "NAME=value" part, or "".
std::string cookie_pair(const response& r)
{
    auto it = r.headers.find("set-cookie");
    if (it == r.headers.end())
        return "";
    return it->second.substr(0, it->second.find(';'));
}

class balancing : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        for (int i = 0; i < 4; ++i)
            pods_.push_back(new echo_backend("pool"));
        slow_ = new echo_backend("mixed", {"--delay-ms", "150"});
        fast_ = new echo_backend("mixed");
        unavailable_ = new echo_backend("flaky", {"--status", "503"});
        fine_ = new echo_backend("flaky");
        s_ = new sluice_instance({"--configmap", "default/sluice"});
        s_->write("class.yaml", ingress_class_yaml());
        s_->write("cm.yaml", configmap_yaml({{"upstream-fail-timeout", "30"}}));
        write_pool(4, SIZE_MAX, false);
        s_->write("svc.yaml", service_yaml("mixed", {slow_->port(), fast_->port()}) + "---\n" +
                                  service_yaml("flaky", {unavailable_->port(), fine_->port()}) + "---\n" +
                                  service_yaml("all-down", {unavailable_->port()}) + "---\n" +
                                  service_yaml("half-dead", {closed_port(), fine_->port()}) + "---\n" +
                                  "apiVersion: v1\nkind: Service\nmetadata:\n  name: by-ip\n  namespace: default\n"
                                  "spec:\n  clusterIP: 127.0.0.1\n  ports:\n  - name: http\n    port: " +
                                  std::to_string(fine_->port()) + "\n    targetPort: 8080\n");
        s_->write("ing.yaml",
                  ingress_yaml("hash", "hash.test", {{"/", "Prefix", "pool"}},
                               annotations_yaml({{"upstream-hash-by", "$request_uri"}})) +
                      "---\n" +
                      ingress_yaml("subset", "subset.test", {{"/", "Prefix", "pool"}},
                                   annotations_yaml({{"upstream-hash-by", "$http_x_user"},
                                                     {"upstream-hash-by-subset", "true"},
                                                     {"upstream-hash-by-subset-size", "2"}})) +
                      "---\n" +
                      ingress_yaml("sticky", "sticky.test", {{"/app", "Prefix", "pool"}},
                                   annotations_yaml({{"affinity", "cookie"},
                                                     {"session-cookie-max-age", "600"},
                                                     {"session-cookie-samesite", "Strict"}})) +
                      "---\n" +
                      ingress_yaml("pinned", "pinned.test", {{"/", "Prefix", "pool"}},
                                   annotations_yaml({{"affinity", "cookie"},
                                                     {"affinity-mode", "persistent"},
                                                     {"session-cookie-name", "route"},
                                                     {"session-cookie-change-on-failure", "true"}})) +
                      "---\n" +
                      ingress_yaml("ewma", "ewma.test", {{"/", "Prefix", "mixed"}}, annotations_yaml({{"load-balance", "ewma"}})) +
                      "---\n" +
                      ingress_yaml("retry503", "retry503.test", {{"/", "Prefix", "flaky"}},
                                   annotations_yaml({{"proxy-next-upstream", "error timeout http_503"}})) +
                      "---\n" +
                      ingress_yaml("retry-post", "retry-post.test", {{"/", "Prefix", "flaky"}},
                                   annotations_yaml({{"proxy-next-upstream", "http_503 non_idempotent"}})) +
                      "---\n" +
                      ingress_yaml("plain", "plain.test", {{"/", "Prefix", "flaky"}}) + "---\n" +
                      ingress_yaml("down", "down.test", {{"/", "Prefix", "all-down"}},
                                   annotations_yaml({{"proxy-next-upstream", "http_503"}})) +
                      "---\n" +
                      ingress_yaml("health", "health.test", {{"/", "Prefix", "half-dead"}},
                                   annotations_yaml({{"proxy-next-upstream", "off"}})) +
                      "---\n" +
                      ingress_yaml("by-ip", "by-ip.test", {{"/", "Prefix", "by-ip", static_cast<int>(fine_->port())}},
                                   annotations_yaml({{"service-upstream", "true"},
                                                     {"connection-proxy-header", "keep-alive"}})));
        s_->start();
    }
    static void TearDownTestSuite()
    {
        delete s_;
        for (auto* p : pods_)
            delete p;
        for (auto* p : {slow_, fast_, unavailable_, fine_})
            delete p;
        pods_.clear();
    }
    // The "pool" Service with the first `n` pods (a pod that was deleted is skipped).
    static void write_pool(size_t n, size_t skip = SIZE_MAX, bool running = true)
    {
        std::vector<uint16_t> ports;
        for (size_t i = 0; i < n; ++i)
            if (i != skip)
                ports.push_back(pods_[i]->port());
        uint64_t g = running ? s_->generation() : 0;
        s_->write("pool.yaml", service_yaml("pool", ports));
        if (running)
            s_->wait_for_generation_after(g);
    }
    static std::string pod_name(size_t i) { return "pool-" + std::to_string(pods_[i]->port()); }

    static sluice_instance* s_;
    static std::vector<echo_backend*> pods_;
    static echo_backend *slow_, *fast_, *unavailable_, *fine_;
};
sluice_instance* balancing::s_;
std::vector<echo_backend*> balancing::pods_;
echo_backend *balancing::slow_, *balancing::fast_, *balancing::unavailable_, *balancing::fine_;

TEST_F(balancing, upstream_hash_by_is_stable_and_moves_only_the_keys_of_a_removed_endpoint)
{
    std::map<std::string, std::string> before;
    std::set<std::string> used;
    for (int i = 0; i < 80; ++i) {
        std::string uri = "/item/" + std::to_string(i);
        before[uri] = pod_of(http_get(s_->port(), uri, "hash.test"));
        used.insert(before[uri]);
        // Every connection (whichever worker takes it) agrees.
        EXPECT_EQ(pod_of(http_get(s_->port(), uri, "hash.test")), before[uri]);
    }
    EXPECT_EQ(used.size(), 4u);
    write_pool(4, 2);  // pod 2 leaves
    int moved = 0;
    for (const auto& [uri, pod] : before) {
        std::string now = pod_of(http_get(s_->port(), uri, "hash.test"));
        EXPECT_NE(now, pod_name(2));
        if (pod != pod_name(2)) {
            EXPECT_EQ(now, pod) << uri;  // keys on the other pods stay where they were
        }
        moved += now != pod ? 1 : 0;
    }
    EXPECT_EQ(moved, static_cast<int>(std::count_if(before.begin(), before.end(),
                                                    [](const auto& kv) { return kv.second == pod_name(2); })));
    write_pool(4);
    for (const auto& [uri, pod] : before)
        EXPECT_EQ(pod_of(http_get(s_->port(), uri, "hash.test")), pod) << uri;  // and back
}

TEST_F(balancing, hash_subsets_spread_one_key_over_its_subset_only)
{
    std::set<std::string> all;
    for (int user = 0; user < 12; ++user) {
        std::set<std::string> seen;
        for (int i = 0; i < 16; ++i)
            seen.insert(pod_of(http_get(s_->port(), "/", "subset.test", {{"X-User", "u" + std::to_string(user)}})));
        EXPECT_LE(seen.size(), 2u) << "user " << user;
        all.insert(seen.begin(), seen.end());
    }
    EXPECT_GE(all.size(), 3u);
}

TEST_F(balancing, cookie_affinity_pins_a_client_and_issues_the_cookie_once)
{
    auto first = http_get(s_->port(), "/app/x", "sticky.test");
    ASSERT_EQ(first.status, 200u);
    const std::string& set = first.headers["set-cookie"];
    EXPECT_TRUE(set.starts_with("INGRESSCOOKIE=")) << set;
    EXPECT_NE(set.find("; Max-Age=600"), std::string::npos) << set;
    EXPECT_NE(set.find("; Path=/app"), std::string::npos) << set;
    EXPECT_NE(set.find("; HttpOnly"), std::string::npos) << set;
    EXPECT_NE(set.find("; SameSite=Strict"), std::string::npos) << set;
    const std::string cookie = cookie_pair(first);
    const std::string pod = pod_of(first);
    for (int i = 0; i < 20; ++i) {
        auto r = http_get(s_->port(), "/app/" + std::to_string(i), "sticky.test", {{"Cookie", "a=b; " + cookie}});
        EXPECT_EQ(pod_of(r), pod);
        EXPECT_EQ(r.headers.count("set-cookie"), 0u);
    }
    std::set<std::string> others;
    for (int i = 0; i < 24; ++i)
        others.insert(pod_of(http_get(s_->port(), "/app", "sticky.test")));
    EXPECT_GE(others.size(), 3u);  // new clients are spread
}

TEST_F(balancing, persistent_affinity_moves_only_when_its_endpoint_fails)
{
    auto first = http_get(s_->port(), "/", "pinned.test");
    std::string cookie = cookie_pair(first);
    ASSERT_TRUE(cookie.starts_with("route=")) << first.headers["set-cookie"];
    EXPECT_EQ(cookie.size(), std::string("route=").size() + 16);
    const std::string pod = pod_of(first);
    size_t index = 0;
    while (index < pods_.size() && pod_name(index) != pod)
        ++index;
    ASSERT_LT(index, pods_.size());
    // Scaling up does not move a persistent client.
    for (int i = 0; i < 10; ++i)
        EXPECT_EQ(pod_of(http_get(s_->port(), "/", "pinned.test", {{"Cookie", cookie}})), pod);
    // Its pod dies without the Service noticing: the request goes elsewhere and, with
    // change-on-failure, the cookie follows.
    const uint16_t port = pods_[index]->port();
    delete pods_[index];
    pods_[index] = new echo_backend("pool");
    auto moved = http_get(s_->port(), "/", "pinned.test", {{"Cookie", cookie}});
    ASSERT_EQ(moved.status, 200u);
    EXPECT_NE(pod_of(moved), "pool-" + std::to_string(port));
    std::string next = cookie_pair(moved);
    EXPECT_TRUE(next.starts_with("route=")) << "no new cookie";
    EXPECT_NE(next, cookie);
    EXPECT_EQ(pod_of(http_get(s_->port(), "/", "pinned.test", {{"Cookie", next}})), pod_of(moved));
    write_pool(4);  // the replacement pod joins under its new port
}

TEST_F(balancing, ewma_prefers_the_faster_endpoint)
{
    int fast = 0;
    const std::string fast_pod = "mixed-" + std::to_string(fast_->port());
    http_connection c(s_->port());
    for (int i = 0; i < 40; ++i)
        fast += pod_of(c.request("GET", "/", "ewma.test")) == fast_pod ? 1 : 0;
    // Two choices on a latency average: the 150 ms pod loses every comparison once measured.
    EXPECT_GE(fast, 30);
}

TEST_F(balancing, proxy_next_upstream_http_503_retries_idempotent_requests)
{
    // Without the condition the 503s reach the client, and a POST is retried only with
    // non_idempotent. (Relayed answers do not count against the endpoint's health.)
    int unavailable = 0, post_unavailable = 0;
    for (int i = 0; i < 10; ++i)
        unavailable += http_get(s_->port(), "/", "plain.test").status == 503 ? 1 : 0;
    EXPECT_GE(unavailable, 3);
    for (int i = 0; i < 10; ++i) {
        http_connection c(s_->port());
        post_unavailable += c.request("POST", "/", "retry503.test", {}, "").status == 503 ? 1 : 0;
    }
    EXPECT_GE(post_unavailable, 3);
    // With it, every request is answered by the other endpoint (after which the 503 endpoint is
    // also left out by passive health).
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(http_get(s_->port(), "/", "retry503.test").status, 200u);
        http_connection c(s_->port());
        EXPECT_EQ(c.request("POST", "/", "retry-post.test", {}, "").status, 200u);
    }
    // The last try's answer is relayed as it is.
    EXPECT_EQ(http_get(s_->port(), "/", "down.test").status, 503u);
}

TEST_F(balancing, passive_health_leaves_a_dead_endpoint_out)
{
    // No retries: a request sent to the dead endpoint fails. Each worker sends at most one there
    // before leaving it out for upstream-fail-timeout.
    int failed = 0;
    for (int i = 0; i < 20; ++i)
        failed += http_get(s_->port(), "/", "health.test").status == 502 ? 1 : 0;
    EXPECT_LE(failed, 2);
    EXPECT_TRUE(wait_until([&] { return s_->proc().log().find("failed 1 time(s); left out for 30000 ms") != std::string::npos; }));
}

TEST_F(balancing, service_upstream_uses_the_cluster_ip_and_connection_proxy_header_is_sent)
{
    auto r = http_get(s_->port(), "/", "by-ip.test");
    ASSERT_EQ(r.status, 200u);  // the Service has no endpoints at all: only its ClusterIP
    EXPECT_EQ(r.json()["headers"]["connection"][0], "keep-alive");
    auto config = s_->debug_config();
    bool listed = false;
    for (const auto& b : config["backends"])
        listed = listed || (b["name"] == "default/by-ip:" + std::to_string(fine_->port()) &&
                            b["endpoints"].dump().find("127.0.0.1:" + std::to_string(fine_->port())) != std::string::npos);
    EXPECT_TRUE(listed) << config["backends"].dump(1);
}

}  // namespace
}  // namespace sluice::test
