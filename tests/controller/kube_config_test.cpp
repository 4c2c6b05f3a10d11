#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "kube/api_config.hpp"

namespace sluice::kube {
namespace {

class temp_dir {
public:
    temp_dir()
    {
        char tmpl[] = "/tmp/sluice-kubeconfig-XXXXXX";
        path_ = mkdtemp(tmpl);
    }
    ~temp_dir() { std::filesystem::remove_all(path_); }
    std::filesystem::path write(const std::string& name, const std::string& content) const
    {
        std::ofstream(path_ / name) << content;
        return path_ / name;
    }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

TEST(kubeconfig, reads_the_current_context_with_inline_and_file_credentials)
{
    temp_dir d;
    d.write("ca.pem", "CA PEM");
    d.write("token", "file-token\n");
    auto path = d.write("config", R"(apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: dev
  cluster: {server: "https://dev.example:6443"}
- name: prod
  cluster:
    server: https://[2001:db8::1]:8443
    certificate-authority: ca.pem
contexts:
- name: dev
  context: {cluster: dev, user: dev}
- name: prod
  context: {cluster: prod, user: robot}
users:
- name: dev
  user: {token: dev-token}
- name: robot
  user:
    tokenFile: token
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
)");
    api_config c = load_kubeconfig(path);
    EXPECT_EQ(c.scheme, "https");
    EXPECT_EQ(c.host, "2001:db8::1");
    EXPECT_EQ(c.port, "8443");
    EXPECT_EQ(c.ca_pem, "CA PEM");  // relative to the kubeconfig's directory
    EXPECT_EQ(c.client_cert_pem, "CERT");
    EXPECT_EQ(c.client_key_pem, "KEY");
    EXPECT_EQ(c.bearer_token(), "file-token");
    d.write("token", "rotated\n");
    EXPECT_EQ(c.bearer_token(), "rotated");  // read again for every request
    EXPECT_NE(c.origin.find("context prod"), std::string::npos);
}

TEST(kubeconfig, says_what_is_missing)
{
    temp_dir d;
    auto expect_error = [&](const std::string& text, const std::string& part) {
        auto path = d.write("config", text);
        try {
            load_kubeconfig(path);
            ADD_FAILURE() << "no error for: " << text;
        } catch (const std::runtime_error& e) {
            EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
        }
    };
    expect_error("apiVersion: v1\nkind: Config\n", "current-context is not set");
    expect_error("current-context: x\ncontexts: []\n", "context \"x\" not found");
    expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n", "cluster \"c\"");
    expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: "
                 "{server: \"ftp://x\"}\n",
                 "is not an http(s) URL");
    expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: "
                 "{server: \"https://x\"}\nusers:\n- name: u\n  user: {exec: {command: aws}}\n",
                 "exec or auth-provider");
    expect_error("key: [unclosed", "kubeconfig");
    // Fields of the wrong type are named, not reported as a JSON library's type error.
    const std::string head = "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n"
                             "  cluster: ";
    expect_error(head + "{server: [\"https://x\"]}\n", "clusters[c].cluster.server must be a string, not array");
    expect_error(head + "{server: \"https://x\", insecure-skip-tls-verify: \"yes\"}\n",
                 "clusters[c].cluster.insecure-skip-tls-verify must be true or false, not \"yes\"");
    expect_error(head + "{server: \"https://x\"}\nusers:\n- name: u\n  user: {token: 5}\n",
                 "users[u].user.token must be a string, not number");
    expect_error("current-context: [x]\n", "current-context must be a string, not array");
    expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: {name: c}}\n",
                 "contexts[x].context.cluster must be a string, not object");
}

TEST(in_cluster, uses_the_service_environment_and_the_account_files)
{
    temp_dir d;
    d.write("token", "sa-token");
    d.write("ca.crt", "CLUSTER CA");
    ::unsetenv("KUBERNETES_SERVICE_HOST");
    EXPECT_FALSE(in_cluster_config(d.path()));
    ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    auto c = in_cluster_config(d.path());
    ::unsetenv("KUBERNETES_SERVICE_HOST");
    ::unsetenv("KUBERNETES_SERVICE_PORT");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->host, "10.96.0.1");
    EXPECT_EQ(c->port, "443");
    EXPECT_EQ(c->ca_pem, "CLUSTER CA");
    EXPECT_EQ(c->bearer_token(), "sa-token");
}

}  // namespace
}  // namespace sluice::kube
