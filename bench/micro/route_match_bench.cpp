// Micro-benchmarks of the request-time pure functions: host + path matching and path
// normalisation. Run: build/sluice-microbench
#include <benchmark/benchmark.h>

#include "proxy/path_normalize.hpp"
#include "proxy/route_snapshot.hpp"

namespace {

sluice::route_snapshot make_snapshot(int hosts, int paths_per_host)
{
    sluice::route_snapshot snap;
    for (int h = 0; h < hosts; ++h) {
        std::string name = "host" + std::to_string(h) + ".example.com";
        auto& vh = snap.exact_hosts[name];
        vh.name = name;
        for (int p = 0; p < paths_per_host; ++p) {
            sluice::location loc;
            loc.path = "/api/v" + std::to_string(p % 10) + "/service" + std::to_string(p);
            loc.match = p % 3 == 0 ? sluice::path_match::exact : sluice::path_match::prefix;
            loc.backend = static_cast<uint32_t>(p);
            sluice::add_location(vh, std::move(loc));
        }
    }
    return snap;
}

void bm_match_route(benchmark::State& state)
{
    auto snap = make_snapshot(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
    std::string host = "Host" + std::to_string(state.range(0) / 2) + ".example.com:80";
    std::string path = "/api/v1/service" + std::to_string(state.range(1) / 2 + 1) + "/users/42/profile";
    for (auto _ : state) {
        auto m = sluice::match_route(snap, host, path);
        benchmark::DoNotOptimize(m.loc);
    }
}
BENCHMARK(bm_match_route)->Args({1, 10})->Args({100, 100})->Args({10000, 1})->Args({1, 1000});

void bm_normalize_path(benchmark::State& state)
{
    std::string out;
    for (auto _ : state) {
        bool ok = sluice::normalize_path("/api/v1//users/%7Ealice/./profile/../settings", out);
        benchmark::DoNotOptimize(ok);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(bm_normalize_path);

}  // namespace

BENCHMARK_MAIN();
