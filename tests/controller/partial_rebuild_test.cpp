// Partial rebuilds against full builds: random sequences of Ingress changes, each applied to a
// store, then built both ways. Every partial result must equal the full build of the same store
// (hosts, locations, labels, backends by key, diagnostics), including after many partial builds
// in a row, each starting from the one before.
#include <random>

#include <gtest/gtest.h>

#include "controller/model_builder.hpp"
#include "controller/snapshot_json.hpp"
#include "controller/yaml_to_json.hpp"
#include "tests/controller/store_from.hpp"

namespace sluice {
namespace {

using json = nlohmann::json;

const char* base = R"(
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-a, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.0.0.1]}, {addresses: [10.0.0.2]}]
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec: {ports: [{name: http, port: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-a, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.0.1.1]}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec: {ports: [{name: http, port: 80}]}
)";

// A random Ingress: hosts from a small pool so that Ingresses share hosts and paths (conflicts,
// canaries, regex hosts), and now and then something a partial rebuild must refuse.
class ingress_maker {
public:
    explicit ingress_maker(uint32_t seed) : rng_(seed) {}

    std::string name() { return "ing-" + std::to_string(pick(24)); }

    std::string make(const std::string& name)
    {
        std::string annotations;
        auto add = [&](const std::string& key, const std::string& value) {
            annotations += "    nginx.ingress.kubernetes.io/" + key + ": \"" + value + "\"\n";
        };
        bool regex = false;
        if (chance(15)) {
            add("use-regex", "true");
            add("rewrite-target", "/$2");
            regex = true;
        }
        if (chance(20))
            add("proxy-read-timeout", std::to_string(10 + pick(50)));
        if (chance(10))
            add("custom-headers", "default/no-such-configmap");
        if (chance(8))
            add("no-such-annotation", "x");
        if (chance(12)) {
            add("canary", "true");
            add("canary-weight", std::to_string(pick(100)));
        }
        if (chance(8))
            add("app-root", "/app");
        if (chance(8))
            add("ssl-redirect", "false");
        if (chance(3))
            add("from-to-www-redirect", "true");
        if (chance(3))
            add("upstream-hash-by", "$request_uri");
        std::string rules;
        std::vector<std::string> hosts;
        const int rule_count = 1 + pick(2);
        for (int r = 0; r < rule_count; ++r) {
            std::string host = chance(3) ? "" : chance(3) ? "*.w.test" : chance(3) ? "Bad_Host" : "h" + std::to_string(pick(12)) + ".test";
            if (!host.empty() && host != "Bad_Host")
                hosts.push_back(host);
            rules += host.empty() ? "  - http:\n" : "  - host: \"" + host + "\"\n    http:\n";
            rules += "      paths:\n";
            const int paths = 1 + pick(3);
            for (int p = 0; p < paths; ++p) {
                static const char* pool[] = {"/", "/api", "/api/v1", "/static", "/x(/|$)(.*)"};
                static const char* types[] = {"Prefix", "Exact", "ImplementationSpecific"};
                std::string path = pool[pick(regex ? 5 : 4)];
                std::string service = chance(5) ? "ghost" : chance(10) ? "empty" : chance(50) ? "web" : "api";
                std::string port = service == "api" ? "8080" : "80";
                rules += "      - path: \"" + path + "\"\n        pathType: " + types[pick(3)] +
                         "\n        backend: {service: {name: " + service + ", port: {number: " + port + "}}}\n";
            }
        }
        std::string tls;
        if (!hosts.empty() && chance(20)) {
            tls = "  tls:\n  - hosts: [\"" + hosts.front() + "\"]\n";
            if (chance(50))
                tls += "    secretName: no-such-secret\n";
        }
        return "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
               "\n  namespace: default\n  creationTimestamp: \"2026-01-0" + std::to_string(1 + pick(3)) +
               "T00:00:00Z\"\n" + (annotations.empty() ? "" : "  annotations:\n" + annotations) +
               "spec:\n  ingressClassName: " + (chance(5) ? "other" : "nginx") + "\n  rules:\n" + rules + tls;
    }

    bool chance(int percent) { return pick(100) < percent; }
    int pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }

private:
    std::mt19937 rng_;
};

// What a snapshot routes, independent of backend numbering and generation.
json routes_of(const route_snapshot& snap)
{
    json j = snapshot_to_json(snap);
    j.erase("generation");
    j.erase("backends");  // by index; the hosts name each location's backend by key
    // What the JSON leaves out: labels, upstream names, error backends, regex tables.
    json extra = json::object();
    auto host = [&](const virtual_host& vh) {
        json locs = json::array();
        auto add = [&](const location& loc) {
            locs.push_back({loc.path, loc.match == path_match::exact, loc.metric_labels, loc.upstream_name,
                            loc.alternative_upstream_name,
                            loc.error_backend == no_backend ? "" : snap.backends[loc.error_backend].key,
                            loc.path_regex ? loc.path_regex->pattern() : ""});
        };
        for (const auto& loc : vh.locations)
            add(loc);
        add(vh.fallback);
        json order = vh.regex ? json(vh.regex->order) : json();
        extra[vh.name.empty() ? "_" : vh.name] = {locs, order};
    };
    host(snap.catch_all);
    for (const auto& [k, vh] : snap.exact_hosts)
        host(*vh);
    for (const auto& [k, vh] : snap.wildcard_hosts)
        host(*vh);
    j["extra"] = std::move(extra);
    j["served"] = snap.served_ingresses;
    return j;
}

void run_sequence(uint32_t seed, int steps, int& partial_count)
{
    object_store store = test::store_from(base);
    builder_options options;
    ingress_maker maker(seed);
    uint64_t generation = 1;
    std::shared_ptr<route_snapshot> current = build_snapshot(store, options, generation);
    for (int step = 0; step < steps; ++step) {
        const std::string name = maker.name();
        partial_scope scope;
        scope.ingresses.push_back("default/" + name);
        if (const auto* before = store.find<k8s::ingress>(k8s::kind::ingress, "default", name))
            for (auto& h : route_hosts(*before))
                scope.hosts.insert(std::move(h));
        object_key key{k8s::kind::ingress, "default", name};
        std::string yaml;
        if (maker.chance(25)) {
            store.apply({key, std::nullopt, "test.yaml:1"});
        } else {
            yaml = maker.make(name);
            auto docs = parse_manifest_text(yaml, false);
            store.apply({key, docs.at(0).object, "test.yaml:1"});
        }
        ++generation;
        auto full = build_snapshot(store, options, generation);
        auto partial = rebuild_hosts(*current, store, options, generation, scope);
        if (partial) {
            ++partial_count;
            ASSERT_EQ(routes_of(*partial).dump(1), routes_of(*full).dump(1))
                << "seed " << seed << ", step " << step << ": " << (yaml.empty() ? "deleted " + name : yaml);
            // Unused backends stay, no more than the bound.
            EXPECT_LE(partial->appended_backends, max_appended_backends);
            current = partial;
        } else {
            current = full;
        }
    }
}

TEST(partial_rebuild, equals_a_full_build_after_every_change)
{
    // 12 sequences here; 300 (45,000 changes) pass as well, in about 20 s.
    constexpr uint32_t sequences = 12;
    constexpr int steps = 150;
    int partial_count = 0;
    for (uint32_t seed = 1; seed <= sequences; ++seed) {
        run_sequence(seed, steps, partial_count);
        if (HasFatalFailure())
            return;
    }
    // Many changes are rebuilt partially (the rest reach the catch-all server, a wildcard host,
    // a www alias or a hashing location, which the generator makes often on purpose).
    std::printf("%d of %d changes rebuilt partially\n", partial_count, static_cast<int>(sequences) * steps);
    EXPECT_GT(partial_count, static_cast<int>(sequences) * steps / 4);
}

TEST(partial_rebuild, refuses_changes_that_reach_beyond_their_hosts)
{
    object_store store = test::store_from(std::string(base) + R"(
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: a, namespace: default}
spec:
  ingressClassName: nginx
  rules:
  - host: a.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
)");
    builder_options options;
    auto previous = build_snapshot(store, options, 1);
    auto change = [&](const std::string& yaml) {
        partial_scope scope{{"default/b"}, {}};
        store.apply({{k8s::kind::ingress, "default", "b"}, parse_manifest_text(yaml, false).at(0).object, "t:1"});
        return rebuild_hosts(*previous, store, options, 2, scope);
    };
    const std::string head = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: b, namespace: default}\n";
    const std::string path = "{paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}";
    EXPECT_TRUE(change(head + "spec:\n  ingressClassName: nginx\n  rules:\n  - host: b.test\n    http: " + path + "\n"));
    EXPECT_FALSE(change(head + "spec:\n  ingressClassName: nginx\n  rules:\n  - http: " + path + "\n"))
        << "a rule without host changes the catch-all server";
    EXPECT_FALSE(change(head + "spec:\n  ingressClassName: nginx\n  rules:\n  - host: \"*.b.test\"\n    http: " + path + "\n"))
        << "wildcard hosts lend certificates to exact ones";
    EXPECT_FALSE(change(head + "spec:\n  ingressClassName: nginx\n  defaultBackend: {service: {name: web, port: {number: 80}}}\n"))
        << "an Ingress without rules sets the catch-all default backend";
    EXPECT_FALSE(change("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: b\n  namespace: default\n"
                        "  annotations: {nginx.ingress.kubernetes.io/from-to-www-redirect: \"true\"}\n"
                        "spec:\n  ingressClassName: nginx\n  rules:\n  - host: b.test\n    http: " + path + "\n"))
        << "www aliases are made across hosts";
}

}  // namespace
}  // namespace sluice
