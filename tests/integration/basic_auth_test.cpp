// Basic authentication through the real binary, with htpasswd files made by Apache's htpasswd.
#include <cstdio>

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

std::string basic(const std::string& user, const std::string& password) { return "Basic " + base64_encode(user + ":" + password); }

std::string secret_yaml(const std::string& name, const std::string& key, const std::string& content)
{
    return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\ntype: Opaque\ndata:\n  " + key + ": " +
           base64_encode(content) + "\n";
}

std::string auth_ingress(const std::string& name, const std::string& host, const std::string& annotations)
{
    return "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name + "\n  annotations:\n" +
           annotations + "spec:\n  ingressClassName: nginx\n  rules:\n  - host: " + host +
           "\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n"
           "        backend: {service: {name: echo, port: {number: 80}}}\n";
}

class basic_auth_test : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        echo_ = new echo_backend("echo");
        s_ = new sluice_instance();
        // One user per hash format, each made by htpasswd (or openssl passwd where htpasswd has none).
        std::string file = "# users\n";
        file += run_command("htpasswd -nbm apr1user pw-apr1");
        file += run_command("htpasswd -nbB -C 10 bcryptuser pw-bcrypt");
        file += run_command("htpasswd -nbs shauser pw-sha");
        file += run_command("htpasswd -nb2 sha256user pw-sha256");
        file += run_command("htpasswd -nb5 sha512user pw-sha512");
        file += run_command("htpasswd -nbd desuser pw-des");
        file += "md5user:" + run_command("openssl passwd -1 pw-md5");
        file += "plainuser:{PLAIN}pw-plain\n";
        s_->write("class.yaml", ingress_class_yaml());
        s_->write("svc.yaml", service_yaml("echo", {echo_->port()}));
        s_->write("secrets.yaml", secret_yaml("htpasswd", "auth", file) + "---\n" +
                                      secret_yaml("wrong-key", "users", "x:{PLAIN}y\n") + "---\n" +
                                      "apiVersion: v1\nkind: Secret\nmetadata: {name: by-map}\nstringData:\n"
                                      "  mapuser: \"{PLAIN}pw-map\"\n");
        s_->write("auth.yaml", auth_ingress("auth", "auth.test",
                                            "    nginx.ingress.kubernetes.io/auth-type: basic\n"
                                            "    nginx.ingress.kubernetes.io/auth-secret: htpasswd\n"
                                            "    nginx.ingress.kubernetes.io/auth-realm: Authentication Required - foo\n"));
        s_->write("map.yaml", auth_ingress("map", "map.test",
                                           "    nginx.ingress.kubernetes.io/auth-type: basic\n"
                                           "    nginx.ingress.kubernetes.io/auth-secret: by-map\n"
                                           "    nginx.ingress.kubernetes.io/auth-secret-type: auth-map\n"));
        s_->write("broken.yaml", auth_ingress("missing", "missing.test",
                                              "    nginx.ingress.kubernetes.io/auth-type: basic\n"
                                              "    nginx.ingress.kubernetes.io/auth-secret: no-such-secret\n") +
                                     "---\n" +
                                     auth_ingress("wrongkey", "wrongkey.test",
                                                  "    nginx.ingress.kubernetes.io/auth-type: basic\n"
                                                  "    nginx.ingress.kubernetes.io/auth-secret: wrong-key\n"));
        s_->start();
    }
    static void TearDownTestSuite()
    {
        delete s_;
        delete echo_;
    }
    static response get(const std::string& host, const std::string& authorization)
    {
        std::map<std::string, std::string> h;
        if (!authorization.empty())
            h["Authorization"] = authorization;
        return http_get(s_->port(), "/", host, h);
    }
    static sluice_instance* s_;
    static echo_backend* echo_;
};
sluice_instance* basic_auth_test::s_;
echo_backend* basic_auth_test::echo_;

TEST_F(basic_auth_test, every_hash_format_made_by_htpasswd)
{
    for (auto [user, password] : std::initializer_list<std::pair<const char*, const char*>>{
             {"apr1user", "pw-apr1"}, {"bcryptuser", "pw-bcrypt"}, {"shauser", "pw-sha"}, {"sha256user", "pw-sha256"},
             {"sha512user", "pw-sha512"}, {"desuser", "pw-des"}, {"md5user", "pw-md5"}, {"plainuser", "pw-plain"}}) {
        auto ok = get("auth.test", basic(user, password));
        EXPECT_EQ(ok.status, 200u) << user;
        if (ok.status == 200) {
            EXPECT_FALSE(ok.json()["headers"].contains("authorization")) << "credentials must not reach the upstream";
        }
        EXPECT_EQ(get("auth.test", basic(user, std::string(password) + "x")).status, 401u) << user;
    }
}

TEST_F(basic_auth_test, missing_wrong_and_malformed_credentials_get_401_with_the_realm)
{
    for (const std::string& header :
         {std::string(), basic("nobody", "pw-apr1"), basic("apr1user", "wrong"), std::string("Basic ") + base64_encode("apr1user"),
          std::string("Basic not*base64"), std::string("Basic "), std::string("Bearer abc"),
          std::string("Basic ") + std::string(6000, 'A')}) {
        auto r = get("auth.test", header);
        EXPECT_EQ(r.status, 401u) << header.substr(0, 30);
        EXPECT_EQ(r.headers["www-authenticate"], "Basic realm=\"Authentication Required - foo\"");
    }
}

TEST_F(basic_auth_test, auth_map_secret)
{
    EXPECT_EQ(get("map.test", basic("mapuser", "pw-map")).status, 200u);
    EXPECT_EQ(get("map.test", basic("mapuser", "nope")).status, 401u);
    EXPECT_EQ(get("map.test", "").headers["www-authenticate"], "Basic realm=\"\"");
}

TEST_F(basic_auth_test, missing_secret_or_key_is_503_and_never_reaches_the_backend)
{
    EXPECT_EQ(get("missing.test", basic("apr1user", "pw-apr1")).status, 503u);
    EXPECT_EQ(get("wrongkey.test", basic("x", "y")).status, 503u);
    auto config = s_->debug_config();
    int found = 0;
    for (const auto& d : config["diagnostics"]) {
        std::string m = d["message"];
        found += m.find("Secret default/no-such-secret not found; the location answers 503") != std::string::npos;
        found += m.find("Secret default/wrong-key has no key \"auth\"") != std::string::npos;
    }
    EXPECT_EQ(found, 2) << config["diagnostics"].dump(1);
}

TEST_F(basic_auth_test, a_secret_change_revokes_a_user_at_once)
{
    http_connection c(s_->port());
    auto authorized = [&] { return c.request("GET", "/", "map.test", {{"Authorization", basic("mapuser", "pw-map")}}).status; };
    ASSERT_EQ(authorized(), 200u);
    ASSERT_EQ(authorized(), 200u);  // now remembered by the worker
    uint64_t g = s_->generation();
    s_->write("secrets.yaml", secret_yaml("htpasswd", "auth", "plainuser:{PLAIN}pw-plain\n") + "---\n" +
                                  secret_yaml("wrong-key", "users", "x:{PLAIN}y\n") + "---\n" +
                                  "apiVersion: v1\nkind: Secret\nmetadata: {name: by-map}\nstringData:\n"
                                  "  mapuser: \"{PLAIN}new-password\"\n");
    s_->wait_for_generation_after(g);
    EXPECT_EQ(authorized(), 401u);
    EXPECT_EQ(c.request("GET", "/", "map.test", {{"Authorization", basic("mapuser", "new-password")}}).status, 200u);
    EXPECT_EQ(get("auth.test", basic("apr1user", "pw-apr1")).status, 401u);
}

}  // namespace
}  // namespace sluice::test
