#pragma once
// Where the Kubernetes API server is and how to authenticate to it: a kubeconfig file (its
// current context: server, CA, bearer token or token file, client certificate) or the in-cluster
// configuration (KUBERNETES_SERVICE_HOST/PORT and the service account's token and CA).
#include <filesystem>
#include <optional>
#include <string>

namespace sluice::kube {

struct api_config {
    std::string scheme = "https";  // "https" or "http"
    std::string host;
    std::string port = "443";
    std::string ca_pem;            // empty: the system's CAs
    bool insecure_skip_verify = false;
    std::string token;             // a fixed bearer token
    std::filesystem::path token_file;  // re-read when it changes (projected tokens rotate)
    std::string client_cert_pem;
    std::string client_key_pem;
    std::string origin;            // "kubeconfig FILE (context NAME)" or "in-cluster", for messages

    // The bearer token for the next request ("" for none): the token file's current content when
    // there is one.
    std::string bearer_token() const;
};

// Reads `path` (YAML). Throws std::runtime_error naming the file and the missing or bad field.
api_config load_kubeconfig(const std::filesystem::path& path);

// KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT and the files under `account_dir`
// (/var/run/secrets/kubernetes.io/serviceaccount). Nothing when not running in a cluster.
std::optional<api_config> in_cluster_config(
    const std::filesystem::path& account_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

}  // namespace sluice::kube
