// Micro-benchmarks of the request-time pure functions: host + path matching and path
// normalisation. Run: build/sluice-microbench
#include <benchmark/benchmark.h>

#include "controller/model_builder.hpp"
#include "controller/yaml_to_json.hpp"
#include "proxy/location_actions.hpp"
#include "proxy/path_normalize.hpp"
#include "proxy/route_snapshot.hpp"

namespace {

sluice::route_snapshot make_snapshot(int hosts, int paths_per_host)
{
    sluice::route_snapshot snap;
    for (int h = 0; h < hosts; ++h) {
        std::string name = "host" + std::to_string(h) + ".example.com";
        auto& vh = *(snap.exact_hosts[name] = std::make_shared<sluice::virtual_host>());
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

// A host with `n` regex paths (use-regex + rewrite-target), built by the real model builder.
std::shared_ptr<sluice::route_snapshot> regex_snapshot(int n)
{
    std::string yaml = "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: nginx}\n"
                       "spec: {controller: k8s.io/ingress-nginx}\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\n"
                       "metadata:\n  name: many\n  annotations:\n    nginx.ingress.kubernetes.io/use-regex: \"true\"\n"
                       "    nginx.ingress.kubernetes.io/rewrite-target: /$2\nspec:\n  ingressClassName: nginx\n  rules:\n"
                       "  - host: regex.example.com\n    http:\n      paths:\n";
    for (int i = 0; i < n; ++i)
        yaml += "      - path: /api/v[0-9]+/service" + std::to_string(i) +
                "(/|$)(.*)\n        pathType: ImplementationSpecific\n        backend: {service: {name: s, port: {number: 80}}}\n";
    sluice::object_store store;
    for (auto& doc : sluice::parse_manifest_text(yaml, false)) {
        sluice::object_key key;
        std::string error;
        sluice::object_store::identify(doc.object, key, error);
        store.apply({key, doc.object, "bench"});
    }
    return sluice::build_snapshot(store, {}, 1);
}

void bm_match_regex_host(benchmark::State& state)
{
    auto snap = regex_snapshot(static_cast<int>(state.range(0)));
    std::string path = "/api/v2/service" + std::to_string(state.range(0) / 2) + "/users/42/profile";
    for (auto _ : state) {
        auto m = sluice::match_route(*snap, "regex.example.com", path);
        benchmark::DoNotOptimize(m.loc);
    }
}
BENCHMARK(bm_match_regex_host)->Arg(10)->Arg(1000);

void bm_match_and_rewrite_regex_host(benchmark::State& state)
{
    auto snap = regex_snapshot(static_cast<int>(state.range(0)));
    std::string path = "/api/v2/service" + std::to_string(state.range(0) / 2) + "/users/42/profile";
    std::string out;
    for (auto _ : state) {
        auto m = sluice::match_route(*snap, "regex.example.com", path);
        auto captures = sluice::capture_path(*m.loc, path);
        sluice::template_values values{captures.span(), path, path, "regex.example.com", "regex.example.com", "http", "a=1", "80"};
        out.clear();
        bool rewritten = sluice::rewrite_target(*m.loc, values, "a=1", true, out);
        benchmark::DoNotOptimize(rewritten);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(bm_match_and_rewrite_regex_host)->Arg(10)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
