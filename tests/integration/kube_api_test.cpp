// The Kubernetes API source through the real binary, against the fake API server: the initial
// list, watched changes, a watch cut mid-stream, 410 Gone and relisting, token rotation, and the
// same snapshot as the manifest source for the same objects.
#include <atomic>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "controller/yaml_to_json.hpp"
#include "tests/integration/fake_api_server.hpp"
#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

// Every document of `yaml` into the API server.
void put_yaml(fake_api_server& api, const std::string& yaml)
{
    for (auto& doc : parse_manifest_text(yaml, false)) {
        if (!doc.object["metadata"].contains("namespace") && doc.object["kind"] != "IngressClass")
            doc.object["metadata"]["namespace"] = "default";
        api.put(doc.object);
    }
}

std::string kubeconfig(uint16_t port, const std::string& token_line)
{
    return "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: fake\n  cluster:\n    server: "
           "http://127.0.0.1:" +
           std::to_string(port) + "\ncontexts:\n- name: test\n  context: {cluster: fake, user: sluice}\nusers:\n- name: "
                                  "sluice\n  user:\n    " +
           token_line + "\n";
}

class kube_api : public ::testing::Test {
protected:
    void SetUp() override
    {
        a_ = std::make_unique<echo_backend>("a");
        b_ = std::make_unique<echo_backend>("b");
        put_yaml(api_, ingress_class_yaml() + "---\n" + service_yaml("a", {a_->port()}) + "---\n" +
                           service_yaml("b", {b_->port()}) + "---\n" +
                           ingress_yaml("first", "first.test", {{"/", "Prefix", "a"}}) + "---\n" +
                           ingress_yaml("doomed", "doomed.test", {{"/", "Prefix", "b"}}));
        s_ = std::make_unique<sluice_instance>(std::vector<std::string>{"--configmap", "default/sluice"});
        s_->add_args({"--kubeconfig", (s_->dir() / "kubeconfig").string()});
        token_file_ = s_->dir() / "token";
        std::ofstream(token_file_) << "test-token\n";
        s_->write("kubeconfig", kubeconfig(api_.port(), "tokenFile: " + token_file_.string()));
    }
    void start() { s_->start(); }
    unsigned status_of(const std::string& host) { return http_get(s_->port(), "/", host).status; }

    fake_api_server api_;
    std::unique_ptr<echo_backend> a_, b_;
    std::unique_ptr<sluice_instance> s_;
    std::filesystem::path token_file_;
};

TEST_F(kube_api, lists_every_kind_then_watches_from_the_lists_version)
{
    start();
    EXPECT_EQ(status_of("first.test"), 200u);
    EXPECT_EQ(http_get(s_->status_port(), "/readyz", "localhost").status, 200u);
    for (const char* collection : {"/apis/networking.k8s.io/v1/ingresses", "/apis/networking.k8s.io/v1/ingressclasses",
                                   "/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/secrets",
                                   "/api/v1/configmaps"}) {
        EXPECT_EQ(api_.count("GET", collection, false), 1u) << collection;
        EXPECT_TRUE(wait_until([&] { return api_.count("GET", collection, true) >= 1; })) << collection;
    }
    bool bookmarks = false;
    for (const auto& r : api_.requests())
        if (r.target.find("watch=1") != std::string::npos)
            bookmarks = r.target.find("allowWatchBookmarks=true") != std::string::npos &&
                        r.target.find("resourceVersion=") != std::string::npos && r.authorization == "Bearer test-token";
    EXPECT_TRUE(bookmarks);

    // Changes arrive through the watches.
    put_yaml(api_, ingress_yaml("second", "second.test", {{"/", "Prefix", "b"}}));
    EXPECT_TRUE(wait_until([&] { return status_of("second.test") == 200; }));
    api_.remove("Ingress", "default", "doomed");
    EXPECT_TRUE(wait_until([&] { return status_of("doomed.test") == 404; }));
    echo_backend a2("a");
    put_yaml(api_, service_yaml("a", {a_->port(), a2.port()}));
    EXPECT_TRUE(wait_until([&] {
        return http_get(s_->port(), "/", "first.test").json()["pod"] == "a-" + std::to_string(a2.port());
    }));
    // A bookmark moves the version on without a change.
    api_.bookmark();
    EXPECT_TRUE(s_->proc().running());
}

TEST_F(kube_api, watch_namespace_narrows_the_namespaced_collections)
{
    s_->add_args({"--watch-namespace", "default"});
    start();
    EXPECT_EQ(status_of("first.test"), 200u);
    EXPECT_EQ(api_.count("GET", "/apis/networking.k8s.io/v1/namespaces/default/ingresses", false), 1u);
    EXPECT_EQ(api_.count("GET", "/api/v1/namespaces/default/services", false), 1u);
    EXPECT_EQ(api_.count("GET", "/api/v1/namespaces/default/secrets", false), 1u);
    EXPECT_EQ(api_.count("GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", false), 1u);
    // The controller's ConfigMap lives in its own namespace; IngressClasses have none.
    EXPECT_EQ(api_.count("GET", "/api/v1/configmaps", false), 1u);
    EXPECT_EQ(api_.count("GET", "/apis/networking.k8s.io/v1/ingressclasses", false), 1u);
}

TEST_F(kube_api, a_cut_watch_resumes_from_its_version_without_listing_again)
{
    start();
    ASSERT_TRUE(wait_until([&] { return api_.open_watches() == 6; }));
    // Lists are the GETs with a page size (the lease election also GETs, by name).
    auto count_lists = [&] {
        size_t n = 0;
        for (const auto& r : api_.requests())
            n += r.method == "GET" && r.target.find("limit=") != std::string::npos ? 1 : 0;
        return n;
    };
    const size_t lists = count_lists();
    const size_t watches = api_.count("GET", "/", true);
    api_.cut_watches();
    ASSERT_TRUE(wait_until([&] { return api_.count("GET", "/", true) >= watches + 6 && api_.open_watches() == 6; }));
    put_yaml(api_, ingress_yaml("later", "later.test", {{"/", "Prefix", "a"}}));
    EXPECT_TRUE(wait_until([&] { return status_of("later.test") == 200; }));
    EXPECT_EQ(count_lists(), lists);
}

TEST_F(kube_api, gone_lists_again_and_keeps_serving_routes_that_still_exist)
{
    start();
    ASSERT_TRUE(wait_until([&] { return api_.open_watches() == 6; }));
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0}, served{0};
    std::thread load([&] {
        while (!stop) {
            if (status_of("first.test") == 200)
                ++served;
            else
                ++failures;
        }
    });
    // The Ingress watch breaks and cannot come back for a while; meanwhile an Ingress is deleted
    // and the history is compacted. The next watch from the old version gets 410 Gone.
    const size_t ingress_lists = api_.count("GET", "/apis/networking.k8s.io/v1/ingresses", false);
    api_.fail_path("/apis/networking.k8s.io/v1/ingresses", 500);
    api_.cut_watches();
    ASSERT_TRUE(wait_until([&] { return api_.open_watches() == 5; }));
    api_.remove("Ingress", "default", "doomed");
    api_.compact();
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(status_of("doomed.test"), 200u);  // not seen yet
    api_.fail_path("/apis/networking.k8s.io/v1/ingresses", 0);
    EXPECT_TRUE(wait_until([&] { return status_of("doomed.test") == 404; }, 10s));
    EXPECT_EQ(api_.count("GET", "/apis/networking.k8s.io/v1/ingresses", false), ingress_lists + 1);
    EXPECT_TRUE(wait_until([&] { return api_.open_watches() == 6; }));
    stop = true;
    load.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_GT(served.load(), 10);
    EXPECT_NE(s_->proc().log().find("410 Gone"), std::string::npos);
    // While the API answered 500 the problem was on /debug/config; it is gone after the relist.
    auto diagnostics = s_->debug_config()["diagnostics"].dump();
    EXPECT_EQ(diagnostics.find("cannot watch ingresses"), std::string::npos) << diagnostics;
}

// What the server sends is checked, never assumed: a watch event or a list of the wrong shape is
// reported and skipped, and the kind goes on being followed. Before, such a line threw from the
// coroutine that follows the kind, which ended without a word, and later changes were never seen.
TEST_F(kube_api, malformed_watch_events_and_lists_are_reported_and_following_goes_on)
{
    const std::string ingresses = "/apis/networking.k8s.io/v1/ingresses";
    start();
    ASSERT_TRUE(wait_until([&] { return api_.open_watches() == 6; }));
    const size_t watches = api_.count("GET", ingresses, true);
    for (const char* line : {"[]", "5", R"({"type": 5})", R"({"type": "ADDED", "object": []})",
                             R"({"type": "ADDED", "object": {"metadata": "x"}})",
                             R"({"type": "MODIFIED", "object": {"metadata": {"name": 5, "resourceVersion": 7}}})",
                             R"({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": ["1"]}}})",
                             R"({"type": "ERROR", "object": {"code": "410"}})"})
        api_.send_raw_line(ingresses, line);
    ASSERT_TRUE(s_->proc().wait_for_line(std::regex("watch event of ingresses has no type: \\[\\]"), 5s)) << s_->proc().log();
    ASSERT_TRUE(s_->proc().wait_for_line(std::regex("watch event of ingresses has no object"), 5s)) << s_->proc().log();
    ASSERT_TRUE(s_->proc().wait_for_line(std::regex("watch event of ingresses names no object"), 5s)) << s_->proc().log();
    ASSERT_TRUE(s_->proc().wait_for_line(std::regex("watch of ingresses failed: .*\"410\""), 5s)) << s_->proc().log();
    // A line without end is cut off at 64 MiB, and the watch starts again. It goes to the watch
    // that followed the ERROR event.
    ASSERT_TRUE(wait_until([&] { return api_.count("GET", ingresses, true) > watches; }, 10s));
    api_.send_raw_line(ingresses, std::string(65 << 20, 'x'));
    ASSERT_TRUE(s_->proc().wait_for_line(std::regex("the ingresses watch ended: a watch event larger than 64 MiB"), 90s))
        << s_->proc().log().substr(0, 4000);
    put_yaml(api_, ingress_yaml("second", "second.test", {{"/", "Prefix", "b"}}));
    EXPECT_TRUE(wait_until([&] { return status_of("second.test") == 200; }, 10s));
    EXPECT_EQ(status_of("first.test"), 200u);

    // Lists that are not an object or carry no version are problems until the server answers
    // properly (the routes stay as they were); items that are not objects are skipped.
    api_.answer_lists_with(ingresses, "[1, 2]");
    put_yaml(api_, service_yaml("c", {a_->port()}));  // the Ingress watch's version falls behind
    api_.compact();
    api_.cut_watches();
    ASSERT_TRUE(s_->proc().wait_for_line(std::regex("the list of ingresses is not an object: \\[1, 2\\]"), 10s))
        << s_->proc().log();
    EXPECT_EQ(status_of("first.test"), 200u);
    put_yaml(api_, service_yaml("d", {a_->port()}));  // the next snapshot carries the source's problems
    EXPECT_TRUE(wait_until([&] {
        return s_->debug_config()["diagnostics"].dump().find("the list of ingresses is not an object") != std::string::npos;
    }, 5s)) << s_->debug_config()["diagnostics"].dump();
    api_.answer_lists_with(ingresses, R"({"kind": "IngressList", "metadata": "x", "items": []})");
    ASSERT_TRUE(s_->proc().wait_for_line(std::regex("the list of ingresses has no metadata.resourceVersion"), 10s))
        << s_->proc().log();
    EXPECT_EQ(status_of("first.test"), 200u);
    // A list of nothing, from a version already compacted away: the watch from it gets 410 at
    // once, and the next list waits a back-off instead of following at once.
    api_.answer_lists_with(ingresses, R"({"kind": "IngressList", "metadata": {"resourceVersion": "1"}, "items": [1, "two"]})");
    ASSERT_TRUE(s_->proc().wait_for_line(std::regex("an item of the list of ingresses is not an object: \"two\""), 10s))
        << s_->proc().log();
    EXPECT_TRUE(wait_until([&] { return status_of("first.test") == 404; }, 10s));
    const size_t lists = api_.count("GET", ingresses, false);
    std::this_thread::sleep_for(1s);
    EXPECT_LE(api_.count("GET", ingresses, false), lists + 4);
    api_.answer_lists_with(ingresses, "");
    EXPECT_TRUE(wait_until([&] { return status_of("first.test") == 200 && status_of("second.test") == 200; }, 10s));
    put_yaml(api_, ingress_yaml("third", "third.test", {{"/", "Prefix", "a"}}));
    EXPECT_TRUE(wait_until([&] { return status_of("third.test") == 200; }, 10s));
    EXPECT_TRUE(s_->proc().running());
}

TEST_F(kube_api, a_rotated_token_file_is_used_by_the_next_request)
{
    start();
    ASSERT_TRUE(wait_until([&] { return api_.open_watches() == 6; }));
    api_.set_token("rotated");
    std::ofstream(token_file_) << "rotated\n";
    api_.cut_watches();
    put_yaml(api_, ingress_yaml("after-rotation", "rotated.test", {{"/", "Prefix", "a"}}));
    EXPECT_TRUE(wait_until([&] { return status_of("rotated.test") == 200; }, 10s));
    EXPECT_EQ(api_.requests().back().authorization, "Bearer rotated");
}

nlohmann::json pod(const std::string& name, const std::string& phase, const std::string& host_ip)
{
    return {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "ingress"}, {"labels", {{"app.kubernetes.io/name", "sluice"}}}}},
            {"status", {{"phase", phase}, {"hostIP", host_ip}}}};
}

std::vector<std::string> status_of_ingress(const fake_api_server& api, const std::string& name)
{
    std::vector<std::string> out;
    auto o = api.object("Ingress", "default", name);
    if (o.is_object() && o.contains("status"))
        for (const auto& e : o["status"]["loadBalancer"]["ingress"])
            out.push_back(e.contains("ip") ? e["ip"].get<std::string>() : e["hostname"].get<std::string>());
    return out;
}

std::string lease_holder(const fake_api_server& api)
{
    auto lease = api.object("Lease", "ingress", "sluice-leader");
    return lease.is_object() ? lease["spec"].value("holderIdentity", "") : "";
}

TEST_F(kube_api, one_leader_writes_the_status_and_another_takes_over_when_it_dies)
{
    api_.put(pod("sluice-a", "Running", "10.0.0.1"));
    api_.put(pod("sluice-b", "Running", "10.0.0.2"));
    api_.put(pod("sluice-old", "Pending", "10.0.0.9"));
    ::setenv("POD_NAMESPACE", "ingress", 1);
    ::setenv("POD_NAME", "sluice-a", 1);
    s_->add_args({"--lease-duration", "2"});
    start();
    ::setenv("POD_NAME", "sluice-b", 1);
    sluice_instance second({"--configmap", "default/sluice", "--lease-duration", "2"});
    second.add_args({"--kubeconfig", (s_->dir() / "kubeconfig").string()});
    second.start();
    ::unsetenv("POD_NAME");
    ::unsetenv("POD_NAMESPACE");

    const std::vector<std::string> both{"10.0.0.1", "10.0.0.2"};
    EXPECT_TRUE(wait_until([&] { return status_of_ingress(api_, "first") == both; }, 10s));
    EXPECT_TRUE(wait_until([&] { return status_of_ingress(api_, "doomed") == both; }, 10s));
    const std::string leader = lease_holder(api_);
    ASSERT_TRUE(leader == "sluice-a" || leader == "sluice-b") << leader;
    // Only the leader writes: one status write per Ingress, however many replicas run.
    size_t writes = api_.count("PATCH", "/apis/networking.k8s.io/v1/namespaces/default/ingresses/first/status", false);
    EXPECT_EQ(writes, 1u);

    // The leader dies without a word; the other waits out the lease and takes over.
    sluice_instance& dying = leader == "sluice-a" ? *s_ : second;
    dying.proc().send_signal(SIGKILL);
    const std::string next = leader == "sluice-a" ? "sluice-b" : "sluice-a";
    EXPECT_TRUE(wait_until([&] { return lease_holder(api_) == next; }, 15s));
    api_.put(pod("sluice-c", "Running", "10.0.0.3"));
    put_yaml(api_, ingress_yaml("newer", "newer.test", {{"/", "Prefix", "a"}}));
    const std::vector<std::string> three{"10.0.0.1", "10.0.0.2", "10.0.0.3"};
    EXPECT_TRUE(wait_until([&] { return status_of_ingress(api_, "newer") == three; }, 10s));
}

// Someone edits the Lease into a shape it cannot have. Before, reading it threw from the election's
// coroutine, which ended without a word while the replica went on believing it led.
TEST_F(kube_api, a_lease_of_the_wrong_shape_makes_the_leader_step_down_and_retake_it_when_fixed)
{
    api_.put(pod("sluice-a", "Running", "10.0.0.1"));
    ::setenv("POD_NAMESPACE", "ingress", 1);
    ::setenv("POD_NAME", "sluice-a", 1);
    s_->add_args({"--lease-duration", "2"});
    start();
    ::unsetenv("POD_NAME");
    ::unsetenv("POD_NAMESPACE");
    ASSERT_TRUE(wait_until([&] { return lease_holder(api_) == "sluice-a"; }, 10s));
    ASSERT_TRUE(s_->proc().wait_for_line(std::regex("became the leader"), 5s)) << s_->proc().log();
    api_.put({{"apiVersion", "coordination.k8s.io/v1"},
              {"kind", "Lease"},
              {"metadata", {{"name", "sluice-leader"}, {"namespace", "ingress"}}},
              {"spec", {{"holderIdentity", 5}}}});
    EXPECT_TRUE(s_->proc().wait_for_line(
        std::regex("leader election: cannot use Lease ingress/sluice-leader: .*type must be string"), 5s))
        << s_->proc().log();
    EXPECT_TRUE(s_->proc().wait_for_line(std::regex("stopped leading"), 10s)) << s_->proc().log();
    api_.remove("Lease", "ingress", "sluice-leader");
    EXPECT_TRUE(wait_until([&] { return lease_holder(api_) == "sluice-a"; }, 10s));
    auto times_led = [&] {
        const std::string log = s_->proc().log();
        size_t n = 0;
        for (size_t at = log.find("became the leader"); at != std::string::npos; at = log.find("became the leader", at + 1))
            ++n;
        return n;
    };
    EXPECT_TRUE(wait_until([&] { return times_led() == 2; }, 10s)) << s_->proc().log();
    EXPECT_TRUE(s_->proc().running());
}

TEST_F(kube_api, publish_status_address_is_written_as_ips_and_hostnames)
{
    s_->add_args({"--publish-status-address", "203.0.113.7, lb.example.com", "--lease-duration", "2"});
    start();
    const std::vector<std::string> want{"203.0.113.7", "lb.example.com"};
    EXPECT_TRUE(wait_until([&] { return status_of_ingress(api_, "first") == want; }, 10s));
    auto o = api_.object("Ingress", "default", "first");
    EXPECT_EQ(o["status"]["loadBalancer"]["ingress"][0], (nlohmann::json{{"ip", "203.0.113.7"}}));
    EXPECT_EQ(o["status"]["loadBalancer"]["ingress"][1], (nlohmann::json{{"hostname", "lb.example.com"}}));
    // Written once: the watch brings the new status back, and it matches.
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(api_.count("PATCH", "/apis/networking.k8s.io/v1/namespaces/default/ingresses/first/status", false), 1u);
}

TEST_F(kube_api, diagnostics_become_warning_events_on_their_objects_once)
{
    s_->add_args({"--lease-duration", "1"});
    start();
    put_yaml(api_, ingress_yaml("typo", "typo.test", {{"/", "Prefix", "a"}},
                                annotations_yaml({{"allowlist-source-range", "10.0.0.0/33"}})));
    const std::string events = "/api/v1/namespaces/default/events";
    ASSERT_TRUE(wait_until([&] { return api_.count("POST", events, false) == 1; }, 10s));
    nlohmann::json event;
    for (const auto& r : api_.requests())
        if (r.method == "POST" && r.target == events)
            event = r.body;
    EXPECT_EQ(event["type"], "Warning");
    EXPECT_EQ(event["involvedObject"]["kind"], "Ingress");
    EXPECT_EQ(event["involvedObject"]["name"], "typo");
    EXPECT_EQ(event["involvedObject"]["apiVersion"], "networking.k8s.io/v1");
    EXPECT_NE(event["message"].get<std::string>().find("allowlist-source-range"), std::string::npos) << event.dump();
    EXPECT_NE(event["message"].get<std::string>().find("10.0.0.0/33"), std::string::npos);
    // Other changes rebuild the snapshot; the diagnostic still holds and is not reported again.
    for (int i = 0; i < 3; ++i)
        put_yaml(api_, ingress_yaml("more" + std::to_string(i), "more.test", {{"/" + std::to_string(i), "Prefix", "a"}}));
    EXPECT_TRUE(wait_until([&] { return http_get(s_->port(), "/2", "more.test").status == 200; }));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(api_.count("POST", events, false), 1u);
}

TEST(kube_api_source, builds_the_same_snapshot_as_the_manifest_source)
{
    echo_backend a("a");
    const std::string yaml = ingress_class_yaml() + "---\n" + service_yaml("a", {a.port()}) + "---\n" +
                             service_yaml("gone", {}) + "---\n" +
                             ingress_yaml("web", "web.test", {{"/", "Prefix", "a"}, {"/x", "Exact", "gone"}},
                                          annotations_yaml({{"rewrite-target", "/$1"}, {"use-regex", "true"},
                                                            {"limit-rps", "5"}, {"enable-cors", "true"}})) +
                             "---\n" + ingress_yaml("other", "other.test", {{"/", "Prefix", "missing"}}) + "---\n" +
                             configmap_yaml({{"proxy-read-timeout", "7"}});
    // The same objects, as the API would hold them (namespace and creationTimestamp set), for both.
    nlohmann::json list{{"apiVersion", "v1"}, {"kind", "List"}, {"items", nlohmann::json::array()}};
    int second = 10;
    for (auto& doc : parse_manifest_text(yaml, false)) {
        if (!doc.object["metadata"].contains("namespace") && doc.object["kind"] != "IngressClass")
            doc.object["metadata"]["namespace"] = "default";
        doc.object["metadata"]["creationTimestamp"] = "2026-01-01T00:00:" + std::to_string(second++) + "Z";
        list["items"].push_back(doc.object);
    }
    sluice_instance from_files({"--configmap", "default/sluice"});
    from_files.write("all.json", list.dump());
    from_files.start();

    fake_api_server api;
    for (const auto& item : list["items"])
        api.put(item);
    sluice_instance from_api({"--configmap", "default/sluice"});
    from_api.add_args({"--kubeconfig", (from_api.dir() / "kubeconfig").string()});
    from_api.write("kubeconfig", kubeconfig(api.port(), "token: test-token"));
    from_api.start();

    auto files = from_files.debug_config();
    auto cluster = from_api.debug_config();
    EXPECT_EQ(files["hosts"], cluster["hosts"]);
    EXPECT_EQ(files["backends"], cluster["backends"]);
    EXPECT_EQ(files["settings"], cluster["settings"]);
    EXPECT_EQ(files["diagnostics"].size(), cluster["diagnostics"].size()) << files["diagnostics"].dump(1) << cluster["diagnostics"].dump(1);
}

}  // namespace
}  // namespace sluice::test
