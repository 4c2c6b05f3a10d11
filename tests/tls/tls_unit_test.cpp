// Certificates, protocol settings, ticket-key rotation and the builder's choice of certificate
// per host. The network side is in tests/integration/tls_test.cpp.
#include <gtest/gtest.h>

#include "controller/k8s_objects.hpp"
#include "controller/model_builder.hpp"
#include "controller/yaml_to_json.hpp"
#include "tests/controller/store_from.hpp"
#include "tls/certificate.hpp"
#include "tls/settings.hpp"
#include "tls/ticket_keys.hpp"

namespace sluice {
namespace {

using tls::certificate;

const std::shared_ptr<const certificate>& fake()
{
    static auto c = certificate::self_signed("fake");
    return c;
}

TEST(certificate, pem_round_trip_keeps_names_and_dates)
{
    auto made = certificate::self_signed("web", {"web.test", "*.apps.test"});
    std::string error;
    auto parsed = certificate::from_pem(made->chain_pem(), made->key_pem(), error);
    ASSERT_TRUE(parsed) << error;
    EXPECT_EQ(parsed->subject(), "CN=web,O=sluice");
    EXPECT_EQ(parsed->dns_names(), (std::vector<std::string>{"web.test", "*.apps.test"}));
    EXPECT_EQ(parsed->not_after(), made->not_after());
    EXPECT_EQ(parsed->sha256_fingerprint(), made->sha256_fingerprint());
    EXPECT_EQ(parsed->sha256_fingerprint().size(), 64u);
}

TEST(certificate, refuses_what_cannot_be_served)
{
    auto a = certificate::self_signed("a", {"a.test"});
    auto b = certificate::self_signed("b", {"b.test"});
    std::string error;
    EXPECT_FALSE(certificate::from_pem(a->chain_pem(), b->key_pem(), error));
    EXPECT_EQ(error, "tls.key does not match the certificate in tls.crt");
    EXPECT_FALSE(certificate::from_pem("", a->key_pem(), error));
    EXPECT_NE(error.find("tls.crt holds no PEM certificate"), std::string::npos) << error;
    EXPECT_FALSE(certificate::from_pem(a->chain_pem(), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", error));
    EXPECT_NE(error.find("tls.key holds no PEM private key"), std::string::npos) << error;
    // A damaged second certificate is not silently dropped from the chain.
    EXPECT_FALSE(certificate::from_pem(a->chain_pem() + "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
                                       a->key_pem(), error));
    EXPECT_NE(error.find("after the first certificate"), std::string::npos) << error;
}

TEST(certificate, host_matching_follows_rfc_6125)
{
    auto c = certificate::self_signed("c", {"exact.test", "*.wild.test"});
    EXPECT_TRUE(c->matches_host("exact.test"));
    EXPECT_TRUE(c->matches_host("x.wild.test"));
    EXPECT_FALSE(c->matches_host("wild.test"));
    EXPECT_FALSE(c->matches_host("a.b.wild.test")) << "a wildcard covers one label";
    EXPECT_FALSE(c->matches_host("other.test"));
    EXPECT_TRUE(c->matches_host("*.wild.test")) << "a wildcard host is covered by the same wildcard name";
    EXPECT_FALSE(c->matches_host("*.other.test"));
}

TEST(certificate, validity_window)
{
    auto expired = certificate::self_signed("old", {"old.test"}, -7200, 3600);
    auto now = std::time(nullptr);
    EXPECT_FALSE(expired->valid_at(now));
    EXPECT_TRUE(expired->valid_at(now - 5000));
    auto future = certificate::self_signed("new", {"new.test"}, 3600, 3600);
    EXPECT_FALSE(future->valid_at(now));
}

TEST(tls_settings, protocols)
{
    tls::server_settings s;
    std::string error;
    ASSERT_TRUE(tls::parse_protocols("TLSv1.3", s, error));
    EXPECT_EQ(s.min_version, 0x0304);
    EXPECT_EQ(s.max_version, 0x0304);
    ASSERT_TRUE(tls::parse_protocols("  TLSv1.3   TLSv1.2 ", s, error));
    EXPECT_EQ(s.min_version, 0x0303);
    EXPECT_EQ(s.max_version, 0x0304);
    EXPECT_FALSE(tls::parse_protocols("TLSv1 TLSv1.2", s, error));
    EXPECT_EQ(error, "TLSv1 is not offered by sluice: only TLSv1.2 and TLSv1.3");
    EXPECT_FALSE(tls::parse_protocols("TLSv9", s, error));
    EXPECT_FALSE(tls::parse_protocols("", s, error));
    EXPECT_TRUE(tls::valid_cipher_list(tls::default_ciphers, error));
    EXPECT_FALSE(tls::valid_cipher_list("NO-SUCH-CIPHER", error));
}

TEST(ticket_keys, rotate_and_accept_the_previous_key_for_one_period)
{
    tls::ticket_keys keys(std::chrono::seconds(3600));
    auto t0 = tls::ticket_keys::clock::time_point(std::chrono::hours(1000));
    auto first = keys.current(t0);
    EXPECT_EQ(keys.current(t0 + std::chrono::minutes(59)).name, first.name);
    bool is_current = false;
    ASSERT_TRUE(keys.find(first.name.data(), t0 + std::chrono::minutes(30), is_current));
    EXPECT_TRUE(is_current);

    auto second = keys.current(t0 + std::chrono::minutes(61));
    EXPECT_NE(second.name, first.name);
    EXPECT_NE(second.aes, first.aes);
    auto found = keys.find(first.name.data(), t0 + std::chrono::minutes(62), is_current);
    ASSERT_TRUE(found) << "tickets of the previous period still resume";
    EXPECT_FALSE(is_current) << "and are renewed";
    EXPECT_EQ(found->hmac, first.hmac);

    keys.current(t0 + std::chrono::minutes(125));
    EXPECT_FALSE(keys.find(first.name.data(), t0 + std::chrono::minutes(125), is_current)) << "two periods old: gone";
    ASSERT_TRUE(keys.find(second.name.data(), t0 + std::chrono::minutes(125), is_current));
    // After a long silence nothing old is accepted.
    EXPECT_FALSE(keys.find(second.name.data(), t0 + std::chrono::hours(10), is_current));
}

using test::store_from;

// The builder's certificate choice, with certificates made in memory.

std::string secret(const std::string& name, const certificate& c)
{
    auto b64 = [](const std::string& s) {
        std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
        int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
        out.resize(static_cast<size_t>(n));
        return out;
    };
    return "---\napiVersion: v1\nkind: Secret\nmetadata: {name: " + name + "}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: " +
           b64(c.chain_pem()) + "\n  tls.key: " + b64(c.key_pem()) + "\n";
}

std::string tls_ingress(const std::string& name, const std::string& created, const std::vector<std::string>& hosts,
                        const std::string& tls, const std::string& annotations = "")
{
    std::string y = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
                    "\n  creationTimestamp: \"" + created + "\"\n" + annotations +
                    "spec:\n  ingressClassName: nginx\n  tls:\n" + tls + "  rules:\n";
    for (const auto& h : hosts)
        y += "  - host: \"" + h + "\"\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}\n";
    return y;
}

const char* base = R"(
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
)";

class tls_builder_test : public ::testing::Test {
protected:
    std::shared_ptr<route_snapshot> build(const std::string& yaml, std::time_t now = std::time(nullptr))
    {
        store_ = store_from(std::string(base) + yaml);
        builder_options options;
        options.generated_certificate = fake();
        options.now = now;
        options.configmap = "default/cfg";
        return build_snapshot(store_, options, 1);
    }
    static bool has_diagnostic(const route_snapshot& snap, const std::string& needle)
    {
        for (const auto& d : snap.diagnostics)
            if (d.str().find(needle) != std::string::npos)
                return true;
        return false;
    }
    static const certificate* cert_of(const route_snapshot& snap, const std::string& host)
    {
        return certificate_for(&snap, host);
    }
    object_store store_;
};

TEST_F(tls_builder_test, listed_hosts_san_fallback_and_default)
{
    auto a = certificate::self_signed("a", {"a.test"});
    auto b = certificate::self_signed("b", {"b.test"});
    auto snap = build(secret("a-tls", *a) + secret("b-tls", *b) +
                      tls_ingress("one", "2026-01-01T00:00:00Z", {"a.test", "b.test", "c.test"},
                                  "  - hosts: [a.test]\n    secretName: a-tls\n  - secretName: b-tls\n"));
    EXPECT_EQ(cert_of(*snap, "a.test")->sha256_fingerprint(), a->sha256_fingerprint());
    EXPECT_EQ(cert_of(*snap, "b.test")->sha256_fingerprint(), b->sha256_fingerprint()) << "b-tls's SAN covers b.test";
    EXPECT_EQ(cert_of(*snap, "c.test"), fake().get()) << "a rule host not covered: the default certificate";
    EXPECT_TRUE(snap->exact_hosts.at("c.test")->tls) << "but TLS all the same, as ingress-nginx";
    EXPECT_EQ(cert_of(*snap, "unknown.test"), fake().get());
    EXPECT_EQ(snap->exact_hosts.at("a.test")->tls_secret, "default/a-tls");
    ASSERT_TRUE(snap->tls_context);
}

TEST_F(tls_builder_test, oldest_ingress_keeps_the_host_certificate)
{
    auto old_cert = certificate::self_signed("old", {"x.test"});
    auto new_cert = certificate::self_signed("new", {"x.test"});
    auto snap = build(secret("old", *old_cert) + secret("new", *new_cert) +
                      tls_ingress("newer", "2026-02-01T00:00:00Z", {"x.test"}, "  - hosts: [x.test]\n    secretName: new\n") +
                      tls_ingress("older", "2026-01-01T00:00:00Z", {"x.test"}, "  - hosts: [x.test]\n    secretName: old\n"));
    EXPECT_EQ(cert_of(*snap, "x.test")->sha256_fingerprint(), old_cert->sha256_fingerprint());
}

TEST_F(tls_builder_test, unusable_certificates_fall_back_with_diagnostics)
{
    auto wrong_host = certificate::self_signed("w", {"other.test"});
    auto expiring = certificate::self_signed("e", {"e.test"}, 0, 3600);
    auto snap = build(secret("wrong", *wrong_host) + secret("expiring", *expiring) +
                          tls_ingress("ing", "2026-01-01T00:00:00Z", {"w.test", "e.test"},
                                      "  - hosts: [w.test]\n    secretName: wrong\n  - hosts: [e.test]\n    secretName: expiring\n"),
                      std::time(nullptr) + 7200);
    EXPECT_EQ(cert_of(*snap, "w.test"), fake().get());
    EXPECT_EQ(cert_of(*snap, "e.test"), fake().get());
    EXPECT_TRUE(has_diagnostic(*snap, "Ingress default/ing: spec.tls[0].secretName: the certificate of Secret default/wrong "
                                      "(CN=w,O=sluice) is not valid for host w.test; host w.test uses the default certificate"));
    EXPECT_TRUE(has_diagnostic(*snap, "spec.tls[1].secretName: the certificate of Secret default/expiring (CN=e,O=sluice) expired on"));
}

TEST_F(tls_builder_test, exact_hosts_under_a_tls_wildcard_share_its_certificate)
{
    auto wild = certificate::self_signed("wild", {"*.apps.test"});
    auto snap = build(secret("wild", *wild) +
                      tls_ingress("wild", "2026-01-01T00:00:00Z", {"*.apps.test"}, "  - hosts: ['*.apps.test']\n    secretName: wild\n") +
                      "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: plain}\nspec:\n"
                      "  ingressClassName: nginx\n  rules:\n  - host: one.apps.test\n"
                      "    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}\n");
    EXPECT_EQ(cert_of(*snap, "two.apps.test")->sha256_fingerprint(), wild->sha256_fingerprint());
    EXPECT_EQ(cert_of(*snap, "one.apps.test")->sha256_fingerprint(), wild->sha256_fingerprint());
    EXPECT_TRUE(snap->exact_hosts.at("one.apps.test")->tls) << "so it is redirected to HTTPS too (ingress-nginx's lookup)";
}

TEST_F(tls_builder_test, redirect_annotations_and_configmap_defaults)
{
    auto snap = build(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata:\n  ssl-redirect: \"false\"\n"
        "  http-redirect-code: \"302\"\n  hsts-preload: \"true\"\n  hsts-max-age: \"100\"\n" +
        tls_ingress("ing", "2026-01-01T00:00:00Z", {"r.test"}, "  - hosts: [r.test]\n",
                    "  annotations:\n    nginx.ingress.kubernetes.io/force-ssl-redirect: \"true\"\n"
                    "    nginx.ingress.kubernetes.io/preserve-trailing-slash: \"true\"\n"
                    "    nginx.ingress.kubernetes.io/use-port-in-redirects: \"true\"\n") +
        tls_ingress("other", "2026-01-01T00:00:00Z", {"o.test"}, "  - hosts: [o.test]\n"));
    const location& r = *match_route(*snap, "r.test", "/").loc;
    EXPECT_TRUE(r.policy.force_ssl_redirect);
    EXPECT_TRUE(r.policy.preserve_trailing_slash);
    EXPECT_TRUE(r.policy.use_port_in_redirects);
    EXPECT_FALSE(r.policy.ssl_redirect) << "the ConfigMap default";
    EXPECT_FALSE(match_route(*snap, "o.test", "/").loc->policy.force_ssl_redirect);
    EXPECT_EQ(snap->settings.http_redirect_code, 302u);
    EXPECT_EQ(snap->settings.hsts_header, "max-age=100; includeSubDomains; preload");
}

}  // namespace
}  // namespace sluice
