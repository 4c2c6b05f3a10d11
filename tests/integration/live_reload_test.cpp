// Live changes of the manifest directory: applied within a second, bad input never takes working
// routes down, and no request or connection is lost across a swap.
#include <atomic>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string service_of(uint16_t port, const std::string& host, const std::string& path)
{
    auto r = http_get(port, path, host);
    return r.status == 200 ? r.json()["service"].get<std::string>() : std::to_string(r.status);
}

class live : public ::testing::Test {
protected:
    void SetUp() override
    {
        s.write("class.yaml", ingress_class_yaml());
        s.write("svc.yaml", service_yaml("svc-a", {a.port()}) + "---\n" + service_yaml("svc-b", {b.port()}));
        s.write("ing.yaml", ingress_yaml("web", "live.test", {{"/", "Prefix", "svc-a"}}));
        s.start();
    }
    echo_backend a{"svc-a"};
    echo_backend b{"svc-b"};
    sluice_instance s;
};

TEST_F(live, an_edit_is_served_within_a_second)
{
    ASSERT_EQ(service_of(s.port(), "live.test", "/"), "svc-a");
    auto start = std::chrono::steady_clock::now();
    s.write("ing.yaml", ingress_yaml("web", "live.test", {{"/", "Prefix", "svc-b"}}));
    EXPECT_TRUE(wait_until([&] { return service_of(s.port(), "live.test", "/") == "svc-b"; }, 1s));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

// A change of Ingresses alone rebuilds only the hosts it touches; other hosts keep serving as
// they were. A change of anything else (a Service here) rebuilds everything.
TEST_F(live, ingress_edits_rebuild_only_their_hosts_and_other_changes_everything)
{
    s.write("other.yaml", ingress_yaml("other", "other.test", {{"/", "Prefix", "svc-b"}}));
    ASSERT_TRUE(wait_until([&] { return service_of(s.port(), "other.test", "/") == "svc-b"; }, 2s));
    const double partial = s.metric("sluice_snapshot_partial_builds_total");
    EXPECT_GE(partial, 1);
    s.write("ing.yaml", ingress_yaml("web", "live.test", {{"/", "Prefix", "svc-b"}, {"/a", "Prefix", "svc-a"}}));
    ASSERT_TRUE(wait_until([&] { return service_of(s.port(), "live.test", "/") == "svc-b"; }, 2s));
    EXPECT_EQ(service_of(s.port(), "live.test", "/a/x"), "svc-a");
    EXPECT_EQ(service_of(s.port(), "other.test", "/"), "svc-b");
    EXPECT_EQ(s.metric("sluice_snapshot_partial_builds_total"), partial + 1);
    // A Service change: a full build (the partial count stays), and both hosts still route.
    const uint64_t g = s.generation();
    s.write("svc.yaml", service_yaml("svc-a", {b.port()}) + "---\n" + service_yaml("svc-b", {b.port()}));
    s.wait_for_generation_after(g);
    EXPECT_TRUE(wait_until([&] { return service_of(s.port(), "live.test", "/a/x") == "svc-b"; }, 2s));
    EXPECT_EQ(s.metric("sluice_snapshot_partial_builds_total"), partial + 1);
    EXPECT_EQ(service_of(s.port(), "other.test", "/"), "svc-b");
}

TEST_F(live, in_place_edit_new_file_subdirectory_and_delete_are_applied)
{
    // In-place write (truncate + write), as an editor without rename does.
    {
        std::ofstream out(s.dir() / "ing.yaml", std::ios::trunc);
        out << ingress_yaml("web", "live.test", {{"/", "Prefix", "svc-b"}});
    }
    EXPECT_TRUE(wait_until([&] { return service_of(s.port(), "live.test", "/") == "svc-b"; }, 2s));
    s.write("team/more/extra.yml", ingress_yaml("extra", "extra.test", {{"/", "Prefix", "svc-a"}}));
    EXPECT_TRUE(wait_until([&] { return service_of(s.port(), "extra.test", "/") == "svc-a"; }, 2s));
    s.remove("team/more/extra.yml");
    EXPECT_TRUE(wait_until([&] { return service_of(s.port(), "extra.test", "/") == "404"; }, 2s));
    s.write("ing.json", R"({"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"json"},
      "spec":{"ingressClassName":"nginx","rules":[{"host":"json.test","http":{"paths":[
      {"path":"/","pathType":"Prefix","backend":{"service":{"name":"svc-b","port":{"number":80}}}}]}}]}})");
    EXPECT_TRUE(wait_until([&] { return service_of(s.port(), "json.test", "/") == "svc-b"; }, 2s));
}

TEST_F(live, a_file_that_does_not_parse_keeps_its_objects_and_names_line_and_column)
{
    uint64_t g = s.generation();
    s.write("ing.yaml", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n"
                        "spec:\n  rules: [unclosed\n");
    auto line = s.proc().wait_for_line(std::regex("ing\\.yaml:(\\d+):(\\d+): .*keeping the 1 object"), 3s);
    ASSERT_TRUE(line) << s.proc().log();
    s.wait_for_generation_after(g);
    EXPECT_EQ(service_of(s.port(), "live.test", "/"), "svc-a");
    auto cfg = s.debug_config();
    bool reported = false;
    for (const auto& d : cfg["diagnostics"])
        reported = reported || d["message"].get<std::string>().find("ing.yaml:") != std::string::npos;
    EXPECT_TRUE(reported) << cfg["diagnostics"].dump();
    // Fixed: the new content applies.
    s.write("ing.yaml", ingress_yaml("web", "live.test", {{"/", "Prefix", "svc-b"}}));
    EXPECT_TRUE(wait_until([&] { return service_of(s.port(), "live.test", "/") == "svc-b"; }, 2s));
    EXPECT_TRUE(s.proc().running());

    // A JSON number beyond a double's range made nlohmann's parser throw an exception the
    // manifest source did not expect, and the process stopped, taking every route with it.
    s.write("ports.json", "{\"apiVersion\": \"v1\", \"kind\": \"Service\",\n"
                          " \"metadata\": {\"name\": \"svc-a\"}, \"spec\": {\"ports\": [{\"port\": 1e400}]}}\n");
    ASSERT_TRUE(s.proc().wait_for_line(std::regex("ports\\.json:2:(\\d+): .*1e400.*keeping the 0 object"), 3s))
        << s.proc().log();
    s.write("ports.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: svc-b}\nspec:\n  ports: [{port: 1e999}]\n");
    ASSERT_TRUE(s.proc().wait_for_line(std::regex("ports\\.yaml:5:18: number out of range: 1e999"), 3s)) << s.proc().log();
    EXPECT_TRUE(s.proc().running());
    EXPECT_EQ(service_of(s.port(), "live.test", "/"), "svc-b");
    // Bytes that are not UTF-8 were passed on, and /debug/config, unable to write them as JSON,
    // answered nothing at all.
    s.write("latin1.yaml", ingress_yaml("latin1", "latin1.test", {{"/", "Prefix", "svc-a"}}) +
                               "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: note}\ndata: {k: \"caf\xe9\"}\n");
    ASSERT_TRUE(s.proc().wait_for_line(std::regex("latin1\\.yaml:(\\d+):(\\d+): not valid UTF-8"), 3s)) << s.proc().log();
    EXPECT_EQ(service_of(s.port(), "latin1.test", "/"), "404");
    EXPECT_TRUE(s.debug_config().contains("diagnostics"));
}

TEST_F(live, an_invalid_object_keeps_its_last_valid_version)
{
    uint64_t g = s.generation();
    std::string bad = ingress_yaml("web", "live.test", {{"/", "Bogus", "svc-b"}});
    s.write("ing.yaml", bad);
    s.wait_for_generation_after(g);
    EXPECT_EQ(service_of(s.port(), "live.test", "/"), "svc-a");
    auto cfg = s.debug_config();
    bool found = false;
    for (const auto& d : cfg["diagnostics"])
        found = found || (d["object"].get<std::string>().find("Ingress default/web") == 0 &&
                          d["field"] == "spec.rules[0].http.paths[0].pathType");
    EXPECT_TRUE(found) << cfg["diagnostics"].dump(2);
    // A new object that is invalid creates no route.
    g = s.generation();
    s.write("new.yaml", ingress_yaml("new", "new.test", {{"/", "Prefix", "svc-b"}}) + "    bogus: [\n");
    s.write("new2.yaml", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: new2}\nspec:\n"
                         "  ingressClassName: nginx\n  rules:\n  - host: new2.test\n    http:\n      paths:\n"
                         "      - {path: /, pathType: Prefix, backend: {service: {name: svc-b, port: {number: 99999}}}}\n");
    s.wait_for_generation_after(g);
    EXPECT_EQ(service_of(s.port(), "new2.test", "/"), "404");
    EXPECT_EQ(service_of(s.port(), "live.test", "/"), "svc-a");
}

// Edits that keep a file's objects update them in place; edits that rename an object, or touch
// one defined in two files, merge every file again. Either way the result is the same.
TEST_F(live, renamed_and_twice_defined_objects_are_merged_as_on_a_full_rescan)
{
    auto duplicate_reported = [&] {
        const auto cfg = s.debug_config();
        for (const auto& d : cfg["diagnostics"])
            if (d["message"].get<std::string>().find("also defined at") != std::string::npos)
                return true;
        return false;
    };
    s.write("b.yaml", ingress_yaml("dup", "dup.test", {{"/", "Prefix", "svc-a"}}));
    ASSERT_TRUE(wait_until([&] { return service_of(s.port(), "dup.test", "/") == "svc-a"; }, 2s));
    // The same Ingress in a later file: the first file (by path) keeps it, with a diagnostic.
    uint64_t g = s.generation();
    s.write("c.yaml", ingress_yaml("dup", "dup.test", {{"/", "Prefix", "svc-b"}}));
    s.wait_for_generation_after(g);
    EXPECT_EQ(service_of(s.port(), "dup.test", "/"), "svc-a");
    EXPECT_TRUE(duplicate_reported());
    // Editing the winning definition applies it.
    g = s.generation();
    s.write("b.yaml", ingress_yaml("dup", "dup.test", {{"/", "Prefix", "svc-a"}, {"/b", "Prefix", "svc-b"}}));
    s.wait_for_generation_after(g);
    EXPECT_EQ(service_of(s.port(), "dup.test", "/b/1"), "svc-b");
    // Renaming it in its file: the other file's definition takes over, the new name is served,
    // and the duplicate diagnostic is gone.
    g = s.generation();
    s.write("b.yaml", ingress_yaml("renamed", "renamed.test", {{"/", "Prefix", "svc-a"}}));
    s.wait_for_generation_after(g);
    EXPECT_EQ(service_of(s.port(), "dup.test", "/"), "svc-b");
    EXPECT_EQ(service_of(s.port(), "dup.test", "/b/1"), "svc-b");
    EXPECT_EQ(service_of(s.port(), "renamed.test", "/"), "svc-a");
    EXPECT_FALSE(duplicate_reported());
    // An in-place edit of a file whose objects are its own alone.
    g = s.generation();
    s.write("b.yaml", ingress_yaml("renamed", "renamed.test", {{"/", "Prefix", "svc-b"}}));
    s.wait_for_generation_after(g);
    EXPECT_EQ(service_of(s.port(), "renamed.test", "/"), "svc-b");
}

TEST_F(live, conflicting_ingresses_the_older_wins_with_a_diagnostic)
{
    uint64_t g = s.generation();
    std::string older = ingress_yaml("zz-older", "conflict.test", {{"/", "Prefix", "svc-a"}},
                                     "  creationTimestamp: \"2024-01-01T00:00:00Z\"\n");
    std::string newer = ingress_yaml("aa-newer", "conflict.test", {{"/", "Prefix", "svc-b"}},
                                     "  creationTimestamp: \"2025-01-01T00:00:00Z\"\n");
    s.write("older.yaml", older);
    s.write("newer.yaml", newer);
    EXPECT_TRUE(wait_until([&] { return service_of(s.port(), "conflict.test", "/") != "404"; }, 2s));
    s.wait_for_generation_after(g);
    wait_until([&] {
        auto cfg = s.debug_config();
        for (const auto& d : cfg["diagnostics"])
            if (d["object"] == "Ingress default/aa-newer")
                return true;
        return false;
    }, 2s);
    EXPECT_EQ(service_of(s.port(), "conflict.test", "/"), "svc-a");
}

TEST_F(live, swaps_under_load_lose_no_request_and_keep_connections)
{
    double accepted_before = s.metric("sluice_connections_accepted_total");
    std::atomic<bool> stop{false};
    std::atomic<int> ok{0}, bad{0}, closed_by_server{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
        clients.emplace_back([&] {
            auto c = std::make_unique<http_connection>(s.port());
            while (!stop) {
                try {
                    auto r = c->request("GET", "/load", "live.test");
                    (r.status == 200 ? ok : bad)++;
                    if (!r.keep_alive) {
                        // keep-alive-requests (1000) reached: the server said so in the response.
                        closed_by_server++;
                        c = std::make_unique<http_connection>(s.port());
                    }
                } catch (const std::exception&) {
                    bad++;
                    return;
                }
            }
        });
    }
    for (int i = 0; i < 40; ++i) {
        uint64_t g = s.generation();
        s.write("ing.yaml", ingress_yaml("web", "live.test", {{"/", "Prefix", i % 2 ? "svc-a" : "svc-b"}}));
        s.wait_for_generation_after(g, 2s);
    }
    stop = true;
    for (auto& t : clients)
        t.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GT(ok.load(), 100);
    // The load connections stayed open through every swap: the only new connections are the
    // ones that replaced connections closed after keep-alive-requests.
    double accepted_after = s.metric("sluice_connections_accepted_total");
    EXPECT_EQ(accepted_after - accepted_before, 4 + closed_by_server.load());
}

TEST_F(live, a_request_in_flight_finishes_on_the_snapshot_it_started_with)
{
    std::atomic<bool> release{false};
    raw_server slow([&](tcp::socket& sock) {
        asio::streambuf req;
        asio::read_until(sock, req, "\r\n\r\n");
        while (!release)
            std::this_thread::sleep_for(5ms);
        asio::write(sock, asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")));
        boost::system::error_code ec;
        asio::read(sock, req, ec);
    });
    uint64_t g = s.generation();
    s.write("slow.yaml", service_yaml("slow", {slow.port()}) + "---\n" +
                             ingress_yaml("slow", "slow.test", {{"/", "Prefix", "slow"}}));
    s.wait_for_generation_after(g);
    std::string body;
    std::thread in_flight([&] { body = http_get(s.port(), "/", "slow.test").body; });
    // While it waits, the route is deleted and a new snapshot published.
    std::this_thread::sleep_for(100ms);
    g = s.generation();
    s.remove("slow.yaml");
    s.wait_for_generation_after(g);
    EXPECT_EQ(service_of(s.port(), "slow.test", "/"), "404");
    release = true;
    in_flight.join();
    EXPECT_EQ(body, "slow");
}

TEST_F(live, upstream_connections_survive_a_swap)
{
    http_connection c(s.port());
    ASSERT_EQ(c.request("GET", "/", "live.test").status, 200u);
    ASSERT_EQ(c.request("GET", "/", "live.test").status, 200u);
    double connects = s.metric("sluice_upstream_connects_total");
    uint64_t g = s.generation();
    s.write("other.yaml", ingress_yaml("other", "other.test", {{"/", "Prefix", "svc-b"}}));
    s.wait_for_generation_after(g);
    // The worker serving this connection reuses its pooled connection to svc-a.
    for (int i = 0; i < 5; ++i)
        ASSERT_EQ(c.request("GET", "/", "live.test").status, 200u);
    EXPECT_EQ(s.metric("sluice_upstream_connects_total"), connects);
}

}  // namespace
}  // namespace sluice::test
