// deploy/ and the Dockerfile are consistent with the binary: flags exist, ports and probes agree,
// and the RBAC rules grant every request the API source, the leader election and the status
// writer make (recorded by the fake API server).
#include <fstream>
#include <future>
#include <set>
#include <tuple>
#include <sstream>

#include <gtest/gtest.h>

#include "controller/yaml_to_json.hpp"
#include "tests/integration/fake_api_server.hpp"
#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

using nlohmann::json;

std::string read(const std::string& relative)
{
    std::ifstream in(std::string(SLUICE_SOURCE_DIR) + "/" + relative);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<json> deploy_objects()
{
    std::vector<json> out;
    for (auto& d : parse_manifest_text(read("deploy/sluice.yaml"), false))
        out.push_back(d.object);
    return out;
}

const json& find_kind(const std::vector<json>& objects, const std::string& kind)
{
    for (const auto& o : objects)
        if (o["kind"] == kind)
            return o;
    throw std::runtime_error("no " + kind + " in deploy/sluice.yaml");
}

// "--name=value" arguments of the container.
std::map<std::string, std::string> flags_of(const json& container)
{
    std::map<std::string, std::string> out;
    for (const auto& a : container["args"]) {
        std::string arg = a;
        auto eq = arg.find('=');
        out[arg.substr(0, eq)] = eq == std::string::npos ? "" : arg.substr(eq + 1);
    }
    return out;
}

TEST(deploy, the_daemonset_agrees_with_the_binary_and_itself)
{
    auto objects = deploy_objects();
    const json& ds = find_kind(objects, "DaemonSet");
    const json& pod = ds["spec"]["template"]["spec"];
    const json& c = pod["containers"][0];
    EXPECT_EQ(ds["spec"]["selector"]["matchLabels"], ds["spec"]["template"]["metadata"]["labels"]);
    EXPECT_FALSE(pod["nodeSelector"].empty());
    EXPECT_FALSE(pod["tolerations"].empty());
    EXPECT_EQ(pod["serviceAccountName"], find_kind(objects, "ServiceAccount")["metadata"]["name"]);

    // Every flag the DaemonSet passes is one the binary knows.
    const std::string help = run_command(std::string(SLUICE_BINARY) + " --help");
    auto flags = flags_of(c);
    for (const auto& [flag, value] : flags)
        EXPECT_NE(help.find("  " + flag + " "), std::string::npos) << flag;
    // The ConfigMap it names is the one shipped.
    const json& cm = find_kind(objects, "ConfigMap");
    EXPECT_EQ(flags["--configmap"], cm["metadata"]["namespace"].get<std::string>() + "/" + cm["metadata"]["name"].get<std::string>());

    std::map<std::string, json> ports;
    for (const auto& p : c["ports"])
        ports[p["name"]] = p;
    EXPECT_EQ(ports["http"]["hostPort"], 80);
    EXPECT_EQ(ports["https"]["hostPort"], 443);
    EXPECT_EQ(std::to_string(ports["http"]["containerPort"].get<int>()), flags["--http-port"]);
    EXPECT_EQ(std::to_string(ports["https"]["containerPort"].get<int>()), flags["--https-port"]);
    EXPECT_EQ(std::to_string(ports["status"]["containerPort"].get<int>()), flags["--status-port"]);
    EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    EXPECT_EQ(c["livenessProbe"]["httpGet"]["port"], ports["status"]["containerPort"]);
    EXPECT_EQ(c["readinessProbe"]["httpGet"]["port"], ports["status"]["containerPort"]);

    // The preStop hook is the image's binary in --wait-shutdown mode, and the grace period
    // covers the default worker-shutdown-timeout (240 s).
    const json& hook = c["lifecycle"]["preStop"]["exec"]["command"];
    EXPECT_EQ(hook[1], "--wait-shutdown");
    EXPECT_GE(pod["terminationGracePeriodSeconds"].get<int>(), 240);
    std::set<std::string> env;
    for (const auto& e : c["env"])
        env.insert(e["name"]);
    EXPECT_EQ(env, (std::set<std::string>{"POD_NAME", "POD_NAMESPACE", "NODE_IP"}));
    EXPECT_TRUE(c["securityContext"]["runAsNonRoot"].get<bool>());

    // The Dockerfile: two stages, a non-root user, and the binary where the hook expects it.
    const std::string dockerfile = read("Dockerfile");
    size_t stages = 0;
    for (size_t at = dockerfile.find("\nFROM "); at != std::string::npos; at = dockerfile.find("\nFROM ", at + 1))
        ++stages;
    EXPECT_EQ(stages + (dockerfile.rfind("FROM ", 0) == 0 ? 1 : 0), 2u);
    EXPECT_NE(dockerfile.find("USER 65532"), std::string::npos);
    EXPECT_NE(dockerfile.find("ENTRYPOINT [\"" + hook[0].get<std::string>() + "\"]"), std::string::npos);
    EXPECT_NE(dockerfile.find("cap_net_bind_service"), std::string::npos);
}

// Whether the deploy's RBAC grants `verb` on `group`/`resource` in `ns` ("" for cluster scope).
bool granted(const std::vector<json>& objects, const std::string& group, const std::string& resource,
             const std::string& verb, const std::string& ns)
{
    for (const auto& o : objects) {
        const bool cluster = o["kind"] == "ClusterRole";
        const bool local = o["kind"] == "Role" && !ns.empty() && o["metadata"]["namespace"] == ns;
        if (!cluster && !local)
            continue;
        for (const auto& rule : o["rules"]) {
            auto has = [](const json& list, const std::string& v) {
                for (const auto& x : list)
                    if (x == v || x == "*")
                        return true;
                return false;
            };
            if (has(rule["apiGroups"], group) && has(rule["resources"], resource) && has(rule["verbs"], verb))
                return true;
        }
    }
    return false;
}

TEST(deploy, rbac_grants_every_request_sluice_makes_and_nothing_else)
{
    fake_api_server api;
    echo_backend a("a");
    for (auto& d : parse_manifest_text(ingress_class_yaml() + "---\n" + service_yaml("a", {a.port()}) + "---\n" +
                                           ingress_yaml("web", "web.test", {{"/", "Prefix", "a"}},
                                                        annotations_yaml({{"limit-rps", "many"}})),
                                       false)) {
        if (!d.object["metadata"].contains("namespace") && d.object["kind"] != "IngressClass")
            d.object["metadata"]["namespace"] = "default";
        api.put(d.object);
    }
    api.put({{"apiVersion", "v1"}, {"kind", "Pod"},
             {"metadata", {{"name", "sluice-x"}, {"namespace", "sluice"}, {"labels", {{"app.kubernetes.io/name", "sluice"}}}}},
             {"status", {{"phase", "Running"}, {"hostIP", "10.1.1.1"}}}});
    ::setenv("POD_NAMESPACE", "sluice", 1);
    ::setenv("POD_NAME", "sluice-x", 1);
    sluice_instance s({"--lease-duration", "1"});
    s.add_args({"--kubeconfig", (s.dir() / "kubeconfig").string()});
    s.write("kubeconfig", "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: f\n  cluster:\n    server: "
                          "http://127.0.0.1:" + std::to_string(api.port()) +
                              "\ncontexts:\n- name: t\n  context: {cluster: f, user: u}\nusers:\n- name: u\n  user:\n    "
                              "token: test-token\n");
    s.start();
    ::unsetenv("POD_NAME");
    ::unsetenv("POD_NAMESPACE");
    // Wait for everything: lists, watches, the lease, its renewal, the pods and a status write.
    ASSERT_TRUE(wait_until([&] {
        return api.count("PATCH", "/apis/networking.k8s.io/v1/namespaces/default/ingresses/web/status", false) >= 1 &&
               api.count("PUT", "/apis/coordination.k8s.io", false) >= 1 && api.count("POST", "/api/v1/namespaces/default/events", false) >= 1;
    }, 10s));

    auto objects = deploy_objects();
    std::set<std::string> seen;
    std::set<std::tuple<std::string, std::string, std::string>> used;  // group, resource, verb
    for (const auto& r : api.requests()) {
        // /api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUB]] or /apis/GROUP/VERSION/...
        std::vector<std::string> seg;
        std::string path = r.target.substr(0, r.target.find('?'));
        for (size_t i = 1, j; i <= path.size(); i = j + 1) {
            j = path.find('/', i);
            if (j == std::string::npos)
                j = path.size();
            seg.push_back(path.substr(i, j - i));
        }
        size_t k = seg[0] == "api" ? 2 : 3;
        std::string group = seg[0] == "api" ? "" : seg[1];
        std::string ns;
        if (seg.size() > k + 1 && seg[k] == "namespaces") {
            ns = seg[k + 1];
            k += 2;
        }
        std::string resource = seg[k];
        bool named = seg.size() > k + 1;
        if (seg.size() > k + 2)
            resource += "/" + seg[k + 2];
        std::string verb = r.method == "GET"     ? (r.target.find("watch=1") != std::string::npos ? "watch" : named ? "get" : "list")
                           : r.method == "POST"  ? "create"
                           : r.method == "PUT"   ? "update"
                           : r.method == "PATCH" ? "patch"
                                                 : "delete";
        const std::string what = verb + " " + (group.empty() ? "core" : group) + "/" + resource + (ns.empty() ? "" : " in " + ns);
        seen.insert(what);
        used.insert({group, resource, verb});
        EXPECT_TRUE(granted(objects, group, resource, verb, ns)) << "not granted: " << what;
    }
    EXPECT_GE(seen.size(), 15u);  // 6 lists, 6 watches, lease get/create/update, pods, status
    // Least privilege: every permission granted is one sluice uses.
    for (const auto& o : objects) {
        if (o["kind"] != "ClusterRole" && o["kind"] != "Role")
            continue;
        for (const auto& rule : o["rules"])
            for (const auto& g : rule["apiGroups"])
                for (const auto& res : rule["resources"])
                    for (const auto& v : rule["verbs"])
                        EXPECT_TRUE(used.contains({g, res, v})) << "granted but never used: " << v << " " << g << "/" << res;
    }
}

TEST(deploy, the_prestop_hook_drains_and_returns_when_sluice_has_exited)
{
    sluice_instance s;
    s.write("class.yaml", ingress_class_yaml());
    s.start();
    auto hook = std::async(std::launch::async, [&] {
        return run_command(std::string(SLUICE_BINARY) + " --wait-shutdown --wait-pid " + std::to_string(s.proc().pid()) +
                           "; echo exit=$?");
    });
    EXPECT_EQ(s.proc().wait_exit(10s), 0);
    EXPECT_EQ(hook.get(), "exit=0\n");
    EXPECT_NE(s.proc().log().find("received SIGTERM, draining"), std::string::npos);
}

}  // namespace
}  // namespace sluice::test
