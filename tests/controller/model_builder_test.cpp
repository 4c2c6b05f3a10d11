#include <gtest/gtest.h>

#include "controller/model_builder.hpp"
#include "controller/yaml_to_json.hpp"
#include "tests/controller/store_from.hpp"

namespace sluice {
namespace {

using test::store_from;

const char* class_and_service = R"(
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: admin, port: 9000, targetPort: admin-port}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abc, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports:
- {name: http, port: 8080}
- {name: admin, port: 9443}
endpoints:
- addresses: [10.0.0.2]
  conditions: {ready: true}
- addresses: [10.0.0.1]
- addresses: [10.0.0.3]
  conditions: {ready: false}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-def, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports:
- {name: http, port: 8080}
endpoints:
- addresses: [10.0.1.1]
)";

std::string ingress(const std::string& name, const std::string& host, const std::string& port_field,
                    const std::string& extra = "")
{
    return "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name + "\n" + extra +
           "spec:\n  ingressClassName: nginx\n  rules:\n  - host: " + host +
           "\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n"
           "            name: web\n            port: {" + port_field + "}\n";
}

const backend& backend_for(const route_snapshot& snap, const std::string& host)
{
    const location& loc = *match_route(snap, host, "/").loc;
    EXPECT_NE(loc.backend, no_backend) << host;
    return snap.backends.at(loc.backend);
}

bool has_diagnostic(const route_snapshot& snap, const std::string& needle)
{
    for (const auto& d : snap.diagnostics)
        if (d.str().find(needle) != std::string::npos)
            return true;
    return false;
}

TEST(model_builder, resolves_ready_endpoints_by_port_number_and_name)
{
    auto store = store_from(std::string(class_and_service) + ingress("by-number", "a.com", "number: 80") +
                            ingress("by-name", "b.com", "name: admin"));
    auto snap = build_snapshot(store, {}, 1);
    const backend& a = backend_for(*snap, "a.com");
    EXPECT_EQ(a.key, "default/web:80");
    ASSERT_EQ(a.endpoints.size(), 3u);  // 10.0.0.3 is not ready
    EXPECT_EQ(a.endpoints[0].address().to_string(), "10.0.0.1");
    EXPECT_EQ(a.endpoints[0].port(), 8080);
    EXPECT_EQ(a.endpoints[2].address().to_string(), "10.0.1.1");
    const backend& b = backend_for(*snap, "b.com");
    EXPECT_EQ(b.key, "default/web:admin");
    ASSERT_EQ(b.endpoints.size(), 2u);
    EXPECT_EQ(b.endpoints[0].port(), 9443);
    EXPECT_TRUE(snap->diagnostics.empty()) << snap->diagnostics[0].str();
}

TEST(model_builder, missing_service_or_port_is_a_503_backend_with_a_diagnostic)
{
    auto store = store_from(std::string(class_and_service) + ingress("bad-port", "a.com", "number: 81") +
                            "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: no-svc}\nspec:\n"
                            "  ingressClassName: nginx\n  rules:\n  - host: c.com\n    http:\n      paths:\n"
                            "      - {path: /, pathType: Prefix, backend: {service: {name: nope, port: {number: 80}}}}\n");
    auto snap = build_snapshot(store, {}, 1);
    EXPECT_EQ(backend_for(*snap, "a.com").state, backend_state::service_missing);
    EXPECT_EQ(backend_for(*snap, "c.com").state, backend_state::service_missing);
    EXPECT_TRUE(has_diagnostic(*snap, "Ingress default/bad-port: spec.rules[0].http.paths[0].backend.service.port: "
                                      "Service default/web has no port 81"));
    EXPECT_TRUE(has_diagnostic(*snap, "Service default/nope not found"));
}

TEST(model_builder, legacy_endpoints_when_there_is_no_slice)
{
    auto store = store_from(std::string(class_and_service) + R"(
---
apiVersion: v1
kind: Service
metadata: {name: old}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: old}
subsets:
- addresses: [{ip: 10.1.0.1}]
  notReadyAddresses: [{ip: 10.1.0.2}]
  ports: [{name: http, port: 8081}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: old}
spec:
  ingressClassName: nginx
  rules:
  - host: old.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: old, port: {number: 80}}}}]}
)");
    auto snap = build_snapshot(store, {}, 1);
    const backend& b = backend_for(*snap, "old.com");
    ASSERT_EQ(b.endpoints.size(), 1u);
    EXPECT_EQ(b.endpoints[0].port(), 8081);
}

TEST(model_builder, ingress_class_selection)
{
    std::string objs = std::string(class_and_service) + ingress("named", "named.com", "number: 80");
    std::string annotated = ingress("annotated", "annotated.com", "number: 80",
                                    "  annotations: {kubernetes.io/ingress.class: nginx}\n");
    annotated.replace(annotated.find("  ingressClassName: nginx\n"), 26, "");
    std::string other_annotation = ingress("other-annotation", "other.com", "number: 80",
                                           "  annotations: {kubernetes.io/ingress.class: traefik}\n");
    other_annotation.replace(other_annotation.find("  ingressClassName: nginx\n"), 26, "");
    std::string classless = ingress("classless", "classless.com", "number: 80");
    classless.replace(classless.find("  ingressClassName: nginx\n"), 26, "");
    std::string foreign = ingress("foreign", "foreign.com", "number: 80");
    foreign.replace(foreign.find("ingressClassName: nginx"), 23, "ingressClassName: haproxy");
    auto store = store_from(objs + annotated + other_annotation + classless + foreign);

    auto served = [&](const route_snapshot& s, const char* host) {
        return match_route(s, host, "/").loc->backend != no_backend;
    };
    auto snap = build_snapshot(store, {}, 1);
    EXPECT_TRUE(served(*snap, "named.com"));
    EXPECT_TRUE(served(*snap, "annotated.com"));
    EXPECT_FALSE(served(*snap, "other.com"));
    EXPECT_FALSE(served(*snap, "classless.com"));
    EXPECT_FALSE(served(*snap, "foreign.com"));

    builder_options without;
    without.watch_ingress_without_class = true;
    EXPECT_TRUE(served(*build_snapshot(store, without, 2), "classless.com"));

    // An IngressClass marked default takes class-less Ingresses too.
    auto store2 = store_from(objs + classless + R"(
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: nginx
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: k8s.io/ingress-nginx}
)");
    EXPECT_TRUE(served(*build_snapshot(store2, {}, 3), "classless.com"));

    // A class named like ours but owned by another controller is reported.
    auto store3 = store_from(std::string(class_and_service).replace(std::string(class_and_service).find("k8s.io/ingress-nginx"), 20, "example.com/other") +
                             ingress("named", "named.com", "number: 80"));
    auto snap3 = build_snapshot(store3, {}, 4);
    EXPECT_FALSE(served(*snap3, "named.com"));
    EXPECT_TRUE(has_diagnostic(*snap3, "IngressClass nginx does not exist or its spec.controller is not k8s.io/ingress-nginx"));
}

TEST(model_builder, watch_namespace_limits_ingresses)
{
    std::string other_ns = ingress("elsewhere", "elsewhere.com", "number: 80");
    other_ns.replace(other_ns.find("  name: elsewhere\n"), 18, "  name: elsewhere\n  namespace: team\n");
    auto store = store_from(std::string(class_and_service) + ingress("here", "here.com", "number: 80") + other_ns);
    builder_options opts;
    opts.watch_namespace = "default";
    auto snap = build_snapshot(store, opts, 1);
    EXPECT_NE(match_route(*snap, "here.com", "/").loc->backend, no_backend);
    EXPECT_EQ(match_route(*snap, "elsewhere.com", "/").loc->backend, no_backend);
}

TEST(model_builder, conflicts_go_to_the_oldest_then_namespace_name)
{
    auto store = store_from(std::string(class_and_service) +
                            ingress("b-old", "x.com", "number: 80", "  creationTimestamp: \"2020-01-01T00:00:00Z\"\n") +
                            ingress("a-new", "x.com", "name: admin", "  creationTimestamp: \"2021-01-01T00:00:00Z\"\n"));
    auto snap = build_snapshot(store, {}, 1);
    EXPECT_EQ(backend_for(*snap, "x.com").key, "default/web:80");
    EXPECT_TRUE(has_diagnostic(*snap, "Ingress default/a-new: spec.rules[0].http.paths[0]: Prefix path / on host x.com "
                                      "is already served by Ingress default/b-old"));
    // Same age: namespace/name order decides.
    auto store2 = store_from(std::string(class_and_service) + ingress("b", "y.com", "number: 80") +
                             ingress("a", "y.com", "name: admin"));
    EXPECT_EQ(backend_for(*build_snapshot(store2, {}, 2), "y.com").key, "default/web:admin");
}

TEST(model_builder, invalid_host_and_relative_path_are_reported_and_skipped)
{
    auto store = store_from(std::string(class_and_service) + ingress("bad-host", "bad_host!.com", "number: 80") + R"(
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: rel}
spec:
  ingressClassName: nginx
  rules:
  - host: rel.com
    http: {paths: [{path: nope, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
)");
    auto snap = build_snapshot(store, {}, 1);
    EXPECT_TRUE(has_diagnostic(*snap, "spec.rules[0].host: \"bad_host!.com\" is not a valid host name"));
    EXPECT_TRUE(has_diagnostic(*snap, "spec.rules[0].http.paths[0].path: \"nope\" must start with '/'"));
}

TEST(model_builder, configmap_sets_location_defaults)
{
    auto store = store_from(std::string(class_and_service) + ingress("web", "a.com", "number: 80") + R"(
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: ingress}
data: {proxy-read-timeout: "7", proxy-body-size: "0"}
)");
    builder_options opts;
    opts.configmap = "ingress/cfg";
    auto snap = build_snapshot(store, opts, 1);
    const location& loc = *match_route(*snap, "a.com", "/").loc;
    EXPECT_EQ(loc.policy.read_timeout, std::chrono::seconds(7));
    EXPECT_EQ(loc.policy.max_body_size, 0u);
}

TEST(model_builder, decode_failure_keeps_the_last_valid_object)
{
    object_store store = store_from(std::string(class_and_service) + ingress("web", "a.com", "number: 80"));
    auto bad = parse_manifest_text(ingress("web", "a.com", "number: 80").replace(
                                       ingress("web", "a.com", "number: 80").find("Prefix"), 6, "Wrong"),
                                   false)[0];
    object_key key;
    std::string error;
    ASSERT_TRUE(object_store::identify(bad.object, key, error));
    store.apply({key, bad.object, "edit.yaml:1"});
    auto snap = build_snapshot(store, {}, 2);
    EXPECT_NE(match_route(*snap, "a.com", "/").loc->backend, no_backend);
    EXPECT_TRUE(has_diagnostic(*snap, "Ingress default/web (edit.yaml:1): spec.rules[0].http.paths[0].pathType"));
    EXPECT_TRUE(has_diagnostic(*snap, "keeping the last valid version"));
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

std::string annotated_ingress(const std::string& name, const std::string& host,
                              const std::vector<std::pair<std::string, std::string>>& paths,
                              const std::string& annotations)
{
    std::string y = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
                    "\n  annotations:\n" + annotations + "spec:\n  ingressClassName: nginx\n  rules:\n  - host: " + host +
                    "\n    http:\n      paths:\n";
    for (const auto& [path, port] : paths)
        y += "      - path: \"" + path + "\"\n        pathType: ImplementationSpecific\n        backend:\n          service:\n"
             "            name: web\n            port: {" + port + "}\n";
    return y;
}

std::string backend_key(const route_snapshot& snap, const std::string& host, const std::string& path)
{
    const location& loc = *match_route(snap, host, path).loc;
    return loc.backend == no_backend ? "404" : snap.backends[loc.backend].key;
}

// ingress-nginx's docs (ingress-path-matching.md): /foo/bar and /foo/bar/ in one Ingress,
// /foo/bar/(.+) with a rewrite in another: every path of the host becomes a regex.
TEST(regex_paths, documented_priority_example)
{
    auto store = store_from(std::string(class_and_service) +
                            annotated_ingress("test-ingress-1", "test.com", {{"/foo/bar", "number: 80"}, {"/foo/bar/", "name: admin"}}, "    x: y\n") +
                            annotated_ingress("test-ingress-2", "test.com", {{"/foo/bar/(.+)", "number: 9000"}},
                                              "    nginx.ingress.kubernetes.io/rewrite-target: /$1\n"));
    auto snap = build_snapshot(store, {}, 1);
    EXPECT_EQ(backend_key(*snap, "test.com", "/foo/bar/1"), "default/web:9000");
    EXPECT_EQ(backend_key(*snap, "test.com", "/foo/bar/"), "default/web:admin");
    EXPECT_EQ(backend_key(*snap, "test.com", "/foo/bar"), "default/web:80");
    // Case-insensitive and anchored at the start only.
    EXPECT_EQ(backend_key(*snap, "test.com", "/FOO/BAR/x"), "default/web:9000");
    EXPECT_EQ(backend_key(*snap, "test.com", "/foo/barbaz"), "default/web:80");
    EXPECT_EQ(backend_key(*snap, "test.com", "/x/foo/bar"), "404");
}

// The documented pitfall: with use-regex, a longer regex path sorts before a shorter literal one.
TEST(regex_paths, longer_regex_wins_over_shorter_literal)
{
    auto store = store_from(std::string(class_and_service) +
                            annotated_ingress("regex", "test.com", {{"/foo/bar/[A-Z0-9]{3}", "number: 9000"}, {"/foo/bar/bar", "number: 80"}},
                                              "    nginx.ingress.kubernetes.io/use-regex: \"true\"\n"));
    auto snap = build_snapshot(store, {}, 1);
    EXPECT_EQ(backend_key(*snap, "test.com", "/foo/bar/bar"), "default/web:9000");
    EXPECT_EQ(backend_key(*snap, "test.com", "/foo/bar/ba"), "404");
}

TEST(regex_paths, regex_on_one_ingress_changes_every_path_of_the_host_only)
{
    auto store = store_from(std::string(class_and_service) +
                            annotated_ingress("plain", "test.com", {{"/exact.html", "number: 80"}}, "    x: y\n") +
                            annotated_ingress("plain-other", "other.com", {{"/a.b", "number: 80"}}, "    x: y\n") +
                            annotated_ingress("regex", "test.com", {{"/api/v[0-9]+", "number: 9000"}},
                                              "    nginx.ingress.kubernetes.io/use-regex: \"true\"\n"));
    auto snap = build_snapshot(store, {}, 1);
    EXPECT_EQ(backend_key(*snap, "test.com", "/api/v12/x"), "default/web:9000");
    // On test.com "/exact.html" is now a regex: "." matches any character.
    EXPECT_EQ(backend_key(*snap, "test.com", "/exactXhtml"), "default/web:80");
    // other.com keeps literal prefixes.
    EXPECT_EQ(backend_key(*snap, "other.com", "/aXb"), "404");
    EXPECT_EQ(backend_key(*snap, "other.com", "/a.b/c"), "default/web:80");
}

TEST(regex_paths, invalid_regex_and_capture_are_diagnosed)
{
    auto store = store_from(std::string(class_and_service) +
                            annotated_ingress("bad", "test.com", {{"/(?=lookahead)", "number: 80"}, {"/ok(.*)", "number: 9000"}},
                                              "    nginx.ingress.kubernetes.io/rewrite-target: /$9\n"));
    auto snap = build_snapshot(store, {}, 1);
    EXPECT_TRUE(has_diagnostic(*snap, "Ingress default/bad: path /(?=lookahead): not a valid RE2 regular expression"));
    EXPECT_TRUE(has_diagnostic(*snap, "\"/$9\" uses $9 but the path has 1 capture group(s)"));
    EXPECT_EQ(backend_key(*snap, "test.com", "/ok/x"), "default/web:9000");
}

TEST(regex_paths, annotations_compile_into_the_location)
{
    auto store = store_from(std::string(class_and_service) +
                            annotated_ingress("web", "test.com", {{"/", "number: 80"}},
                                              "    nginx.ingress.kubernetes.io/proxy-read-timeout: \"5\"\n"
                                              "    nginx.ingress.kubernetes.io/proxy-body-size: 8m\n"
                                              "    nginx.ingress.kubernetes.io/upstream-vhost: internal.svc\n"
                                              "    nginx.ingress.kubernetes.io/permanent-redirect: https://x.example$request_uri\n"
                                              "    nginx.ingress.kubernetes.io/server-snippet: evil\n"));
    auto snap = build_snapshot(store, {}, 1);
    const location& loc = *match_route(*snap, "test.com", "/").loc;
    EXPECT_EQ(loc.policy.read_timeout, std::chrono::seconds(5));
    EXPECT_EQ(loc.policy.max_body_size, 8u << 20);
    EXPECT_EQ(loc.upstream_vhost, "internal.svc");
    ASSERT_TRUE(loc.redirect);
    EXPECT_EQ(loc.redirect->code, 301u);
    EXPECT_FALSE(snap->exact_hosts.at("test.com")->regex);  // neither use-regex nor a rewrite
    EXPECT_TRUE(has_diagnostic(*snap, "Ingress default/web: metadata.annotations[nginx.ingress.kubernetes.io/server-snippet]: refused"));
}

TEST(regex_paths, rewrite_equal_to_path_is_not_a_rewrite)
{
    auto store = store_from(std::string(class_and_service) +
                            annotated_ingress("web", "test.com", {{"/app", "number: 80"}},
                                              "    nginx.ingress.kubernetes.io/rewrite-target: /app\n"));
    auto snap = build_snapshot(store, {}, 1);
    EXPECT_FALSE(snap->exact_hosts.at("test.com")->regex);
    EXPECT_FALSE(match_route(*snap, "test.com", "/app").loc->rewrite);
}

TEST(regex_paths, app_root_and_www_redirect_hosts)
{
    auto store = store_from(std::string(class_and_service) +
                            annotated_ingress("web", "www.example.com", {{"/", "number: 80"}},
                                              "    nginx.ingress.kubernetes.io/app-root: /app1\n"
                                              "    nginx.ingress.kubernetes.io/from-to-www-redirect: \"true\"\n") +
                            annotated_ingress("both", "both.com", {{"/", "number: 80"}},
                                              "    nginx.ingress.kubernetes.io/from-to-www-redirect: \"true\"\n") +
                            annotated_ingress("both-www", "www.both.com", {{"/", "number: 80"}}, "    x: y\n"));
    auto snap = build_snapshot(store, {}, 1);
    EXPECT_EQ(snap->exact_hosts.at("www.example.com")->app_root, "/app1");
    EXPECT_EQ(snap->exact_hosts.at("example.com")->redirect_to, "www.example.com");
    // A twin that an Ingress defines is served, not redirected.
    EXPECT_EQ(snap->exact_hosts.at("www.both.com")->redirect_to, "");
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

const char* canary_objects = R"(
---
apiVersion: v1
kind: Service
metadata: {name: canary}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: canary-1, labels: {kubernetes.io/service-name: canary}}
addressType: IPv4
ports: [{name: http, port: 8081}]
endpoints: [{addresses: [10.9.0.1]}]
)";

std::string canary_ingress(const std::string& name, const std::string& host, const std::string& path,
                           const std::string& type, const std::string& annotations)
{
    return "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
           "\n  annotations:\n    nginx.ingress.kubernetes.io/canary: \"true\"\n" + annotations +
           "spec:\n  ingressClassName: nginx\n  rules:\n  - host: " + host + "\n    http:\n      paths:\n      - path: " +
           path + "\n        pathType: " + type +
           "\n        backend: {service: {name: canary, port: {number: 80}}}\n";
}

TEST(canary_merge, joins_the_location_with_the_same_host_path_and_type_only)
{
    auto store = store_from(std::string(class_and_service) + canary_objects + ingress("main", "a.com", "number: 80") +
                            ingress("same-service-elsewhere", "b.com", "number: 80") +
                            canary_ingress("canary", "a.com", "/", "Prefix",
                                           "    nginx.ingress.kubernetes.io/canary-weight: \"30\"\n"));
    auto snap = build_snapshot(store, {}, 1);
    const location& a = *match_route(*snap, "a.com", "/").loc;
    ASSERT_EQ(a.canary_policies.size(), 1u);
    EXPECT_EQ(a.canary_policies[0].weight, 30u);
    EXPECT_EQ(snap->backends[a.canary_backends[0]].key, "default/canary:80");
    // ingress-nginx #4667: the other host using the same main Service is not split.
    EXPECT_TRUE(match_route(*snap, "b.com", "/").loc->canary_policies.empty());
}

TEST(canary_merge, a_canary_alone_creates_no_route)
{
    auto store = store_from(std::string(class_and_service) + canary_objects +
                            canary_ingress("lonely", "lonely.com", "/", "Prefix",
                                           "    nginx.ingress.kubernetes.io/canary-weight: \"100\"\n"));
    auto snap = build_snapshot(store, {}, 1);
    EXPECT_EQ(match_route(*snap, "lonely.com", "/").loc->backend, no_backend);
    EXPECT_FALSE(snap->exact_hosts.contains("lonely.com"));
    EXPECT_TRUE(has_diagnostic(*snap, "Ingress default/lonely: spec.rules[0].http.paths[0]: canary: no main Ingress serves host lonely.com path /"));
}

TEST(canary_merge, path_type_must_match_and_several_canaries_keep_their_order)
{
    std::string first = canary_ingress("first", "a.com", "/", "Prefix",
                                       "    nginx.ingress.kubernetes.io/canary-by-header: X-First\n");
    first.replace(first.find("  name: first\n"), 14, "  name: first\n  creationTimestamp: \"2020-01-01T00:00:00Z\"\n");
    std::string second = canary_ingress("second", "a.com", "/", "Prefix",
                                        "    nginx.ingress.kubernetes.io/canary-by-header: X-Second\n");
    second.replace(second.find("  name: second\n"), 15, "  name: second\n  creationTimestamp: \"2021-01-01T00:00:00Z\"\n");
    auto store = store_from(std::string(class_and_service) + canary_objects + ingress("main", "a.com", "number: 80") +
                            canary_ingress("exact-mismatch", "a.com", "/", "Exact", "") +
                            second + first);
    auto snap = build_snapshot(store, {}, 1);
    const location& loc = *match_route(*snap, "a.com", "/").loc;
    ASSERT_EQ(loc.canary_policies.size(), 2u);
    EXPECT_EQ(loc.canary_policies[0].header, "X-First");
    EXPECT_EQ(loc.canary_policies[1].header, "X-Second");
    EXPECT_TRUE(has_diagnostic(*snap, "Ingress default/exact-mismatch: spec.rules[0].http.paths[0]: canary: no main Ingress serves host a.com path / (Exact)"));
}

TEST(canary_merge, configured_but_not_enabled_is_reported)
{
    std::string not_enabled = ingress("half", "c.com", "number: 80",
                                      "  annotations: {nginx.ingress.kubernetes.io/canary-weight: \"50\"}\n");
    auto store = store_from(std::string(class_and_service) + not_enabled);
    auto snap = build_snapshot(store, {}, 1);
    // Served as a normal Ingress, with a diagnostic.
    EXPECT_NE(match_route(*snap, "c.com", "/").loc->backend, no_backend);
    EXPECT_TRUE(match_route(*snap, "c.com", "/").loc->canary_policies.empty());
    EXPECT_TRUE(has_diagnostic(*snap, "canary-* annotations are set but canary is not \"true\""));
}

}  // namespace
}  // namespace sluice
