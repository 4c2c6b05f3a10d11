// Micro-benchmarks of endpoint choice: what each load-balance policy costs per pick, on a
// worker's real pick_endpoint with a snapshot of one backend. Part of build/sluice-microbench.
#include <benchmark/benchmark.h>

#include <boost/asio/thread_pool.hpp>

#include "proxy/balancer.hpp"
#include "proxy/route_snapshot.hpp"
#include "proxy/worker.hpp"

namespace {

using namespace sluice;

std::shared_ptr<route_snapshot> one_backend(int endpoints, uint32_t subset_size)
{
    auto snap = std::make_shared<route_snapshot>();
    backend b;
    b.key = "default/svc:80";
    b.state = backend_state::ready;
    auto rings = std::make_shared<backend_rings>();
    std::vector<std::string> names;
    for (int i = 0; i < endpoints; ++i) {
        b.endpoints.emplace_back(boost::asio::ip::make_address("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)), 8080);
        names.push_back(endpoint_name(b.endpoints.back()));
        rings->endpoint_ids.push_back(stable_hash(names.back()));
    }
    std::sort(b.endpoints.begin(), b.endpoints.end());
    rings->endpoints.emplace(names);
    if (subset_size) {
        std::vector<std::string> subsets;
        for (int i = 0; i < (endpoints + static_cast<int>(subset_size) - 1) / static_cast<int>(subset_size); ++i)
            subsets.push_back("subset-" + std::to_string(i));
        rings->subsets.emplace_back(subset_size, hash_ring(subsets));
    }
    b.rings = rings;
    snap->backends.push_back(std::move(b));
    return snap;
}

void run_picks(benchmark::State& state, balance_policy policy, uint32_t subset_size = 0)
{
    boost::asio::thread_pool pool(1);
    worker w(0, 42, pool);
    auto snap = one_backend(static_cast<int>(state.range(0)), subset_size);
    w.set_snapshot(snap);
    global_settings settings;
    // Give EWMA some history: every endpoint measured once.
    for (const auto& ep : snap->backends[0].endpoints)
        w.record_attempt(ep, 0.001 + 0.0001 * ep.address().to_v4().to_bytes()[3], false, settings);
    std::vector<bool> tried(snap->backends[0].endpoints.size(), false);
    uint64_t key = 1;
    for (auto _ : state) {
        key = key * 6364136223846793005ULL + 1442695040888963407ULL;  // a new request key each time
        benchmark::DoNotOptimize(w.pick_endpoint(*snap, 0, policy, key, tried));
    }
}

void BM_pick_round_robin(benchmark::State& state) { run_picks(state, balance_policy{}); }
void BM_pick_ewma(benchmark::State& state)
{
    balance_policy p;
    p.kind = balance_kind::ewma;
    run_picks(state, p);
}
void BM_pick_hash(benchmark::State& state)
{
    balance_policy p;
    p.kind = balance_kind::hash;
    run_picks(state, p);
}
void BM_pick_hash_subset(benchmark::State& state)
{
    balance_policy p;
    p.kind = balance_kind::hash;
    p.subset_size = 3;
    run_picks(state, p, 3);
}
void BM_pick_sticky_persistent(benchmark::State& state)
{
    balance_policy p;
    p.kind = balance_kind::sticky;
    auto c = std::make_shared<affinity_cookie>();
    c->persistent = true;
    p.cookie = c;
    run_picks(state, p);
}

// upstream-hash-by "$request_uri": the key's expansion and hash, per request.
void BM_hash_key_request_uri(benchmark::State& state)
{
    std::string error;
    auto t = request_template::parse("$host$request_uri", error);
    request_values v{"/api/v1/items/12345?color=blue&size=xl", "/api/v1/items/12345", "color=blue&size=xl", "10.1.2.3",
                     "shop.example.com", "https", "GET", nullptr, nullptr, nullptr};
    std::string out;
    for (auto _ : state) {
        t->expand(v, out);
        benchmark::DoNotOptimize(stable_hash(out));
    }
}

BENCHMARK(BM_pick_round_robin)->Arg(3)->Arg(100);
BENCHMARK(BM_pick_ewma)->Arg(3)->Arg(100);
BENCHMARK(BM_pick_hash)->Arg(3)->Arg(100)->Arg(1000);
BENCHMARK(BM_pick_hash_subset)->Arg(12)->Arg(100);
BENCHMARK(BM_pick_sticky_persistent)->Arg(3)->Arg(100);
BENCHMARK(BM_hash_key_request_uri);

}  // namespace
