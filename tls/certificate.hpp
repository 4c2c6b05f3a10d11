#pragma once
// A server certificate: the chain and key of a kubernetes.io/tls Secret (or the generated
// default), parsed and checked once (key match, OpenSSL's security level), then installed on
// each handshake whose SNI names one of its hosts.
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/safestack.h>
#include <openssl/types.h>
#include <openssl/x509.h>

namespace sluice::tls {

class certificate {
public:
    ~certificate();
    certificate(const certificate&) = delete;
    certificate& operator=(const certificate&) = delete;

    // `cert_pem`: the leaf first, then any intermediates. `key_pem`: its private key (PKCS#1,
    // PKCS#8 or SEC1). Returns null with `error` set when either does not parse or they do not
    // belong together. Expiry is not an error here: see valid_at().
    static std::shared_ptr<const certificate> from_pem(std::string_view cert_pem, std::string_view key_pem,
                                                       std::string& error);
    // A self-signed certificate for `common_name` (and `dns_names`, else "ingress.local"), valid
    // from `valid_from` (seconds from now, may be negative) for `valid_for` seconds: the
    // fallback when no default certificate is configured (ingress-nginx's "Fake Certificate",
    // RSA-2048 for the widest client support), and test material.
    static std::shared_ptr<const certificate> self_signed(const std::string& common_name,
                                                          const std::vector<std::string>& dns_names = {},
                                                          long valid_from = 0, long valid_for = 10L * 365 * 24 * 3600);

    // PEM of the chain (leaf first) and of the private key (PKCS#8).
    std::string chain_pem() const;
    std::string key_pem() const;

    X509* leaf() const { return leaf_; }
    EVP_PKEY* key() const { return key_; }
    STACK_OF(X509)* chain() const { return chain_; }  // intermediates, may be empty
    // Makes this the certificate `ssl` presents (replacing any other).
    bool install(SSL* ssl) const;
    // Whether `host` (lower-case, no port) is one of the names the leaf certifies, wildcards
    // as RFC 6125 (one label), falling back to the subject CN when there are no DNS names.
    bool matches_host(std::string_view host) const;
    bool valid_at(std::time_t now) const { return now >= not_before_ && now <= not_after_; }

    const std::string& subject() const { return subject_; }
    const std::string& issuer() const { return issuer_; }
    const std::vector<std::string>& dns_names() const { return dns_names_; }
    std::time_t not_before() const { return not_before_; }
    std::time_t not_after() const { return not_after_; }
    const std::string& sha256_fingerprint() const { return fingerprint_; }  // hex of the leaf's DER

private:
    certificate() = default;
    bool load(X509* leaf, EVP_PKEY* key, const std::vector<X509*>& chain, std::string& error);

    X509* leaf_ = nullptr;
    EVP_PKEY* key_ = nullptr;
    STACK_OF(X509)* chain_ = nullptr;
    std::string subject_;
    std::string issuer_;
    std::vector<std::string> dns_names_;
    std::time_t not_before_ = 0;
    std::time_t not_after_ = 0;
    std::string fingerprint_;
};

// Formats a time as "2026-11-27T02:09:23Z".
std::string format_utc(std::time_t t);

}  // namespace sluice::tls
