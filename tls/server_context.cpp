#include "tls/server_context.hpp"

#include <cstring>
#include <stdexcept>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "tls/ticket_keys.hpp"

namespace sluice::tls {

const char* const default_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

namespace {

int on_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen, void*)
{
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, outlen, http11, sizeof http11 - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = chosen;
        return SSL_TLSEXT_ERR_OK;
    }
    // A client offering only h2 goes on without ALPN, as with nginx without http2.
    return SSL_TLSEXT_ERR_NOACK;
}

bool set_mac_key(EVP_MAC_CTX* mac, ticket_key& key)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac.data(), key.hmac.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(mac, params) == 1;
}

// OpenSSL's ticket key callback: 1 = use (fresh), 2 = use and renew, 0 = unknown key (full
// handshake), -1 = failure.
int on_ticket_key(SSL*, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc)
{
    auto now = ticket_keys::clock::now();
    if (enc) {
        ticket_key key = ticket_keys::process().current(now);
        int iv_len = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());
        if (RAND_bytes(iv, iv_len) != 1)
            return -1;
        std::memcpy(key_name, key.name.data(), key.name.size());
        if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1 || !set_mac_key(mac, key))
            return -1;
        return 1;
    }
    bool is_current = false;
    auto key = ticket_keys::process().find(key_name, now, is_current);
    if (!key)
        return 0;
    if (!set_mac_key(mac, *key) || EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes.data(), iv) != 1)
        return -1;
    return is_current ? 1 : 2;
}

std::string last_openssl_error()
{
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    return buf;
}

}  // namespace

bool parse_protocols(std::string_view value, server_settings& out, std::string& error)
{
    int lo = 0, hi = 0;
    size_t i = 0;
    while (i < value.size()) {
        while (i < value.size() && (value[i] == ' ' || value[i] == '\t'))
            ++i;
        size_t j = i;
        while (j < value.size() && value[j] != ' ' && value[j] != '\t')
            ++j;
        std::string_view word = value.substr(i, j - i);
        i = j;
        if (word.empty())
            continue;
        int v = 0;
        if (word == "TLSv1.2")
            v = TLS1_2_VERSION;
        else if (word == "TLSv1.3")
            v = TLS1_3_VERSION;
        else if (word == "TLSv1" || word == "TLSv1.1" || word == "SSLv2" || word == "SSLv3") {
            error = std::string(word) + " is not offered by sluice: only TLSv1.2 and TLSv1.3";
            return false;
        } else {
            error = "unknown protocol \"" + std::string(word) + "\" (TLSv1.2, TLSv1.3)";
            return false;
        }
        lo = lo ? std::min(lo, v) : v;
        hi = std::max(hi, v);
    }
    if (!lo) {
        error = "no protocol named";
        return false;
    }
    out.min_version = lo;
    out.max_version = hi;
    return true;
}

bool valid_cipher_list(const std::string& ciphers, std::string& error)
{
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        error = "cannot create an SSL context";
        return false;
    }
    bool ok = SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) == 1;
    if (!ok)
        error = "OpenSSL selects no cipher from \"" + ciphers + "\" (" + last_openssl_error() + ")";
    SSL_CTX_free(ctx);
    return ok;
}

server_context::server_context(const server_settings& settings, std::shared_ptr<const certificate> default_certificate,
                               certificate_lookup lookup, const void* lookup_arg)
    : context_(SSL_CTX_new(TLS_server_method())),
      default_(std::move(default_certificate)),
      lookup_(lookup),
      lookup_arg_(lookup_arg)
{
    SSL_CTX* ctx = context_.native_handle();
    if (!ctx)
        throw std::runtime_error("cannot create an SSL context");
    SSL_CTX_set_min_proto_version(ctx, settings.min_version);
    SSL_CTX_set_max_proto_version(ctx, settings.max_version);
    uint64_t options = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF;
    if (settings.prefer_server_ciphers)
        options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
    if (!settings.session_tickets)
        options |= SSL_OP_NO_TICKET;
    SSL_CTX_set_options(ctx, options);
    // Idle keep-alive connections give their read and write buffers back.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, settings.ciphers.empty() ? default_ciphers : settings.ciphers.c_str()) != 1)
        throw std::runtime_error("ssl-ciphers: " + last_openssl_error());
    // Resumption is by ticket only: a per-context session cache would not survive a swap.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_timeout(ctx, static_cast<long>(settings.session_timeout.count()));
    if (settings.session_tickets)
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    SSL_CTX_set_tlsext_servername_arg(ctx, this);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, nullptr);

    // The default certificate sits in the context, for clients that send no SNI.
    if (SSL_CTX_use_cert_and_key(ctx, default_->leaf(), default_->key(), default_->chain(), 1) != 1)
        throw std::runtime_error("cannot load the default certificate: " + last_openssl_error());
}

int server_context::on_servername(SSL* ssl, int* alert, void* arg)
{
    const auto* self = static_cast<const server_context*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name || !*name)
        return SSL_TLSEXT_ERR_NOACK;
    // SNI host names are case-insensitive; the table is lower-case.
    char lowered[256];
    size_t n = std::strlen(name);
    if (n >= sizeof lowered)
        return SSL_TLSEXT_ERR_NOACK;
    for (size_t i = 0; i < n; ++i)
        lowered[i] = (name[i] >= 'A' && name[i] <= 'Z') ? static_cast<char>(name[i] - 'A' + 'a') : name[i];
    // The certificate is installed on this handshake only; protocols, ciphers, tickets and ALPN
    // stay this context's. (Switching to a context per certificate, as nginx does, would need
    // every ConfigMap setting mirrored into every certificate's context.)
    const certificate* chosen = self->lookup_(self->lookup_arg_, std::string_view(lowered, n));
    if (chosen && chosen != self->default_.get() && !chosen->install(ssl)) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace sluice::tls
