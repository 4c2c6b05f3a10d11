#include "tls/certificate.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>


namespace sluice::tls {
namespace {

std::string openssl_error(const char* what)
{
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0)
        return what;
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    // "error:0480006C:PEM routines::no start line" → keep the reason after the last ':'.
    const char* reason = std::strrchr(buf, ':');
    return std::string(what) + " (" + (reason && reason[1] ? reason + 1 : buf) + ")";
}

struct bio_deleter {
    void operator()(BIO* b) const { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;

bio_ptr memory_bio(std::string_view data)
{
    return bio_ptr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string name_text(const X509_NAME* name)
{
    bio_ptr out(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(out.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    long n = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<size_t>(n));
}

std::time_t asn1_time(const ASN1_TIME* t)
{
    struct tm tm{};
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

}  // namespace

std::string format_utc(std::time_t t)
{
    struct tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

certificate::~certificate()
{
    X509_free(leaf_);
    EVP_PKEY_free(key_);
    sk_X509_pop_free(chain_, X509_free);
}

bool certificate::install(SSL* ssl) const
{
    SSL_certs_clear(ssl);
    return SSL_use_cert_and_key(ssl, leaf_, key_, chain_, 1) == 1;
}

bool certificate::load(X509* leaf, EVP_PKEY* key, const std::vector<X509*>& chain, std::string& error)
{
    // A scratch context runs OpenSSL's own checks: key match, and the security level (a
    // 1024-bit RSA key or an MD5 signature is refused here, not at the first handshake).
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
    if (!ctx) {
        error = openssl_error("cannot create an SSL context");
        return false;
    }
    if (SSL_CTX_use_certificate(ctx.get(), leaf) != 1) {
        error = openssl_error("tls.crt: the certificate is not usable");
        return false;
    }
    if (SSL_CTX_use_PrivateKey(ctx.get(), key) != 1 || SSL_CTX_check_private_key(ctx.get()) != 1) {
        ERR_clear_error();
        error = "tls.key does not match the certificate in tls.crt";
        return false;
    }
    chain_ = sk_X509_new_null();
    for (X509* c : chain) {
        if (SSL_CTX_add1_chain_cert(ctx.get(), c) != 1) {
            error = openssl_error("tls.crt: an intermediate certificate is not usable");
            return false;
        }
        X509_up_ref(c);
        sk_X509_push(chain_, c);
    }
    X509_up_ref(leaf);
    leaf_ = leaf;
    EVP_PKEY_up_ref(key);
    key_ = key;
    subject_ = name_text(X509_get_subject_name(leaf));
    issuer_ = name_text(X509_get_issuer_name(leaf));
    not_before_ = asn1_time(X509_get0_notBefore(leaf));
    not_after_ = asn1_time(X509_get0_notAfter(leaf));
    if (auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr))) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
            const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
            if (n->type == GEN_DNS) {
                const ASN1_IA5STRING* s = n->d.dNSName;
                dns_names_.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                        static_cast<size_t>(ASN1_STRING_length(s)));
            }
        }
        GENERAL_NAMES_free(names);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (X509_digest(leaf, EVP_sha256(), md, &md_len) == 1) {
        static constexpr char hex[] = "0123456789abcdef";
        for (unsigned i = 0; i < md_len; ++i) {
            fingerprint_ += hex[md[i] >> 4];
            fingerprint_ += hex[md[i] & 15];
        }
    }
    return true;
}

std::shared_ptr<const certificate> certificate::from_pem(std::string_view cert_pem, std::string_view key_pem,
                                                         std::string& error)
{
    ERR_clear_error();
    std::vector<X509*> certs;
    struct free_certs {
        std::vector<X509*>& v;
        ~free_certs()
        {
            for (X509* c : v)
                X509_free(c);
        }
    } free_all{certs};
    bio_ptr cert_bio = memory_bio(cert_pem);
    while (X509* c = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr))
        certs.push_back(c);
    // The loop ends with "no start line" after the last certificate; anything else is damage.
    unsigned long last = ERR_peek_last_error();
    if (certs.empty()) {
        error = openssl_error("tls.crt holds no PEM certificate");
        return nullptr;
    }
    if (last && ERR_GET_REASON(last) != PEM_R_NO_START_LINE) {
        error = openssl_error("tls.crt: a PEM block after the first certificate does not parse");
        return nullptr;
    }
    ERR_clear_error();
    bio_ptr key_bio = memory_bio(key_pem);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, const_cast<char*>(""));
    if (!key) {
        error = openssl_error("tls.key holds no PEM private key");
        return nullptr;
    }
    std::shared_ptr<certificate> out(new certificate());
    std::vector<X509*> chain(certs.begin() + 1, certs.end());
    bool ok = out->load(certs.front(), key, chain, error);
    EVP_PKEY_free(key);
    if (!ok)
        return nullptr;
    return out;
}

std::shared_ptr<const certificate> certificate::self_signed(const std::string& common_name,
                                                            const std::vector<std::string>& dns_names, long valid_from,
                                                            long valid_for)
{
    EVP_PKEY* key = EVP_RSA_gen(2048);
    X509* x = X509_new();
    if (!key || !x)
        throw std::runtime_error("cannot generate the default certificate: " + openssl_error("out of memory"));
    X509_set_version(x, 2);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), valid_from);
    X509_gmtime_adj(X509_getm_notAfter(x), valid_from + valid_for);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("sluice"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
    std::string sans;
    for (const auto& n : dns_names.empty() ? std::vector<std::string>{"ingress.local"} : dns_names)
        sans += (sans.empty() ? "DNS:" : ",DNS:") + n;
    for (auto [nid, value] : {std::pair{NID_subject_alt_name, sans.c_str()},
                              std::pair{NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                              std::pair{NID_ext_key_usage, "serverAuth"},
                              std::pair{NID_basic_constraints, "critical,CA:FALSE"}}) {
        if (X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value)) {
            X509_add_ext(x, ext, -1);
            X509_EXTENSION_free(ext);
        }
    }
    X509_sign(x, key, EVP_sha256());
    std::shared_ptr<certificate> out(new certificate());
    std::string error;
    bool ok = out->load(x, key, {}, error);
    X509_free(x);
    EVP_PKEY_free(key);
    if (!ok)
        throw std::runtime_error("cannot load the default certificate: " + error);
    return out;
}

std::string certificate::chain_pem() const
{
    bio_ptr out(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(out.get(), leaf_);
    for (int i = 0; i < sk_X509_num(chain_); ++i)
        PEM_write_bio_X509(out.get(), sk_X509_value(chain_, i));
    char* data = nullptr;
    long n = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<size_t>(n));
}

std::string certificate::key_pem() const
{
    bio_ptr out(BIO_new(BIO_s_mem()));
    PEM_write_bio_PrivateKey(out.get(), key_, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<size_t>(n));
}

bool certificate::matches_host(std::string_view host) const
{
    // A wildcard host ("*.example.com") is covered by the same wildcard name, compared as text.
    if (host.starts_with("*.")) {
        for (const auto& name : dns_names_)
            if (name.size() == host.size() &&
                std::equal(name.begin(), name.end(), host.begin(), [](char a, char b) { return std::tolower(a) == b; }))
                return true;
        return false;
    }
    return X509_check_host(leaf_, host.data(), host.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1;
}

}  // namespace sluice::tls
