// Endpoints come and go under load: pods are added, drained out of the Service and stopped, and
// some crash while still listed. No idempotent request may fail. Bounded in time and count.
#include <atomic>
#include <deque>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

TEST(soak, endpoints_added_removed_and_crashing_under_load_lose_no_idempotent_request)
{
    std::deque<std::unique_ptr<echo_backend>> pods;
    for (int i = 0; i < 3; ++i)
        pods.push_back(std::make_unique<echo_backend>("soak"));
    sluice_instance s({"--configmap", "default/sluice"});
    s.write("class.yaml", ingress_class_yaml());
    s.write("cm.yaml", configmap_yaml({{"upstream-fail-timeout", "2"}}));
    auto publish = [&](bool running) {
        std::vector<uint16_t> ports;
        for (const auto& p : pods)
            ports.push_back(p->port());
        uint64_t g = running ? s.generation() : 0;
        s.write("svc.yaml", service_yaml("soak", ports));
        if (running)
            s.wait_for_generation_after(g);
    };
    publish(false);
    s.write("ing.yaml", ingress_yaml("soak", "soak.test", {{"/", "Prefix", "soak"}}) + "---\n" +
                            ingress_yaml("soak-ewma", "ewma.soak.test", {{"/", "Prefix", "soak"}},
                                         annotations_yaml({{"load-balance", "ewma"}})) +
                            "---\n" +
                            ingress_yaml("soak-hash", "hash.soak.test", {{"/", "Prefix", "soak"}},
                                         annotations_yaml({{"upstream-hash-by", "$request_uri"}})));
    s.start();

    std::atomic<bool> stop{false};
    std::atomic<uint64_t> ok{0}, failed{0};
    std::mutex failures_mutex;
    std::vector<std::string> failures;
    const auto deadline = std::chrono::steady_clock::now() + 6s;
    auto client = [&](int id) {
        const char* hosts[] = {"soak.test", "ewma.soak.test", "hash.soak.test"};
        std::unique_ptr<http_connection> c;
        for (int i = 0; i < 20000 && !stop && std::chrono::steady_clock::now() < deadline; ++i) {
            try {
                if (!c || !c->is_open())
                    c = std::make_unique<http_connection>(s.port());
                const std::string method = i % 7 == 0 ? "HEAD" : "GET";
                auto r = c->request(method, "/r/" + std::to_string(id) + "/" + std::to_string(i % 50), hosts[(id + i) % 3]);
                if (!r.keep_alive)
                    c.reset();  // keep-alive-requests reached: the next request takes a new connection
                if (r.status == 200) {
                    ++ok;
                    continue;
                }
                ++failed;
                std::lock_guard lock(failures_mutex);
                failures.push_back(std::to_string(r.status) + " " + r.body.substr(0, 80));
            } catch (const std::exception& e) {
                ++failed;
                c.reset();
                std::lock_guard lock(failures_mutex);
                failures.push_back(std::string("exception: ") + e.what());
            }
        }
    };
    std::vector<std::thread> clients;
    for (int i = 0; i < 4; ++i)
        clients.emplace_back(client, i);

    // The churn: every round a pod joins; the oldest is drained out of the Service and stopped
    // after a grace period; every third round the newest listed pod crashes while listed and is
    // only then removed.
    int rounds = 0;
    while (std::chrono::steady_clock::now() + 600ms < deadline && rounds < 40) {
        pods.push_back(std::make_unique<echo_backend>("soak"));
        publish(true);
        std::unique_ptr<echo_backend> leaving = std::move(pods.front());
        pods.pop_front();
        publish(true);
        std::this_thread::sleep_for(100ms);  // in-flight requests finish (a terminating pod drains)
        leaving.reset();
        if (++rounds % 3 == 0 && pods.size() > 2) {
            pods.back().reset();  // crashed: still listed for a moment
            std::this_thread::sleep_for(100ms);
            pods.pop_back();
            pods.push_back(std::make_unique<echo_backend>("soak"));
            publish(true);
        }
        std::this_thread::sleep_for(50ms);
    }
    for (auto& t : clients)
        t.join();
    stop = true;

    std::printf("soak: %llu requests answered over %d rounds of endpoint churn\n",
                static_cast<unsigned long long>(ok.load()), rounds);
    EXPECT_GE(rounds, 5);
    EXPECT_GE(ok.load(), 500u);
    EXPECT_EQ(failed.load(), 0u) << (failures.empty() ? "" : failures.front());
    EXPECT_TRUE(s.proc().running());
}

}  // namespace
}  // namespace sluice::test
