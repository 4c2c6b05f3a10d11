#include "kube/api_config.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <boost/beast/core/detail/base64.hpp>
#include <boost/url/parse.hpp>

#include "controller/yaml_to_json.hpp"

namespace sluice::kube {
namespace {

std::string read_file(const std::filesystem::path& p)
{
    std::ifstream in(p, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read " + p.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string base64_decode(const std::string& in, const std::string& what)
{
    namespace b64 = boost::beast::detail::base64;
    std::string out(b64::decoded_size(in.size()), '\0');
    auto [written, read] = b64::decode(out.data(), in.data(), in.size());
    if (read < in.size() && in.find_first_not_of("= \r\n", read) != std::string::npos)
        throw std::runtime_error(what + " is not base64");
    out.resize(written);
    return out;
}

void set_server(api_config& c, const std::string& server, const std::string& where)
{
    auto url = boost::urls::parse_absolute_uri(server);
    if (!url || (url->scheme() != "https" && url->scheme() != "http") || url->host().empty())
        throw std::runtime_error(where + ": server \"" + server + "\" is not an http(s) URL");
    c.scheme = std::string(url->scheme());
    c.host = std::string(url->host_address());
    if (c.host.starts_with('[') && c.host.ends_with(']'))
        c.host = c.host.substr(1, c.host.size() - 2);
    c.port = url->has_port() ? std::string(url->port()) : (c.scheme == "https" ? "443" : "80");
}

// obj[key] when it is a string, "" when absent; another type is an error naming the field.
std::string text_at(const nlohmann::json& obj, const char* key, const std::string& field)
{
    auto it = obj.find(key);  // end() when obj is not an object
    if (it == obj.end() || it->is_null())
        return {};
    if (!it->is_string())
        throw std::runtime_error(field + "." + key + " must be a string, not " + it->type_name());
    return it->get<std::string>();
}

// The same for a boolean, false when absent.
bool flag_at(const nlohmann::json& obj, const char* key, const std::string& field)
{
    auto it = obj.find(key);  // end() when obj is not an object
    if (it == obj.end() || it->is_null())
        return false;
    if (!it->is_boolean())
        throw std::runtime_error(field + "." + key + " must be true or false, not " + it->dump());
    return it->get<bool>();
}

// The entry named `name` of a kubeconfig list (clusters, users, contexts).
const nlohmann::json* named(const nlohmann::json& doc, const char* list, const std::string& name)
{
    if (!doc.contains(list) || !doc[list].is_array())
        return nullptr;
    for (const auto& e : doc[list])
        if (e.is_object() && e.contains("name") && e["name"] == name)
            return &e;
    return nullptr;
}

}  // namespace

std::string api_config::bearer_token() const
{
    if (token_file.empty())
        return token;
    std::ifstream in(token_file, std::ios::binary);
    std::string t((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' '))
        t.pop_back();
    return t;
}

api_config load_kubeconfig(const std::filesystem::path& path)
{
    const std::string where = "kubeconfig " + path.string();
    std::vector<manifest_document> docs;
    try {
        docs = parse_manifest_text(read_file(path), false);
    } catch (const manifest_parse_error& e) {
        throw std::runtime_error(where + ":" + std::to_string(e.line) + ":" + std::to_string(e.column) + ": " + e.what());
    }
    if (docs.size() != 1 || !docs[0].object.is_object())
        throw std::runtime_error(where + ": not a kubeconfig document");
    const nlohmann::json& doc = docs[0].object;
    const std::string context_name = text_at(doc, "current-context", where + ": the document");
    if (context_name.empty())
        throw std::runtime_error(where + ": current-context is not set");
    const nlohmann::json* context = named(doc, "contexts", context_name);
    if (!context || !context->contains("context"))
        throw std::runtime_error(where + ": context \"" + context_name + "\" not found under contexts");
    const std::string context_field = where + ": contexts[" + context_name + "].context";
    const std::string cluster_name = text_at((*context)["context"], "cluster", context_field);
    const std::string user_name = text_at((*context)["context"], "user", context_field);
    const nlohmann::json* cluster = named(doc, "clusters", cluster_name);
    if (!cluster || !cluster->contains("cluster"))
        throw std::runtime_error(where + ": cluster \"" + cluster_name + "\" of context \"" + context_name + "\" not found");
    api_config c;
    c.origin = where + " (context " + context_name + ")";
    const nlohmann::json& cl = (*cluster)["cluster"];
    const std::string cluster_field = where + ": clusters[" + cluster_name + "].cluster";
    set_server(c, text_at(cl, "server", cluster_field), where + ": clusters[" + cluster_name + "]");
    // Relative file names in a kubeconfig are relative to the file itself.
    auto file = [&](const std::string& name) {
        std::filesystem::path p(name);
        return p.is_absolute() ? p : path.parent_path() / p;
    };
    if (cl.contains("certificate-authority-data"))
        c.ca_pem = base64_decode(text_at(cl, "certificate-authority-data", cluster_field), where + ": certificate-authority-data");
    else if (cl.contains("certificate-authority"))
        c.ca_pem = read_file(file(text_at(cl, "certificate-authority", cluster_field)));
    c.insecure_skip_verify = flag_at(cl, "insecure-skip-tls-verify", cluster_field);
    if (const nlohmann::json* user = named(doc, "users", user_name); user && user->contains("user")) {
        const nlohmann::json& u = (*user)["user"];
        const std::string user_field = where + ": users[" + user_name + "].user";
        if (u.contains("exec") || u.contains("auth-provider"))
            throw std::runtime_error(where + ": users[" + user_name + "] uses an exec or auth-provider plugin, which sluice does not run; use a token or a client certificate");
        c.token = text_at(u, "token", user_field);
        if (u.contains("tokenFile"))
            c.token_file = file(text_at(u, "tokenFile", user_field));
        if (u.contains("client-certificate-data"))
            c.client_cert_pem = base64_decode(text_at(u, "client-certificate-data", user_field), where + ": client-certificate-data");
        else if (u.contains("client-certificate"))
            c.client_cert_pem = read_file(file(text_at(u, "client-certificate", user_field)));
        if (u.contains("client-key-data"))
            c.client_key_pem = base64_decode(text_at(u, "client-key-data", user_field), where + ": client-key-data");
        else if (u.contains("client-key"))
            c.client_key_pem = read_file(file(text_at(u, "client-key", user_field)));
    }
    return c;
}

std::optional<api_config> in_cluster_config(const std::filesystem::path& account_dir)
{
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
    const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host)
        return std::nullopt;
    api_config c;
    c.host = host;
    c.port = port && *port ? port : "443";
    c.token_file = account_dir / "token";
    c.ca_pem = read_file(account_dir / "ca.crt");
    c.origin = "in-cluster configuration";
    return c;
}

}  // namespace sluice::kube
