#include "tls/client_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

namespace sluice::tls {

std::shared_ptr<boost::asio::ssl::context> make_client_context(const client_settings& settings, std::string& error)
{
    ERR_clear_error();
    auto ctx = std::make_shared<boost::asio::ssl::context>(SSL_CTX_new(TLS_client_method()));
    SSL_CTX* native = ctx->native_handle();
    if (!native) {
        error = "cannot create an SSL context";
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
    if (settings.verify) {
        SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
        // nginx's depth counts intermediates; OpenSSL's the same way.
        SSL_CTX_set_verify_depth(native, settings.verify_depth);
        if (settings.ca_pem.empty()) {
            SSL_CTX_set_default_verify_paths(native);
        } else {
            X509_STORE* store = SSL_CTX_get_cert_store(native);
            std::unique_ptr<BIO, decltype(&BIO_free)> bio(
                BIO_new_mem_buf(settings.ca_pem.data(), static_cast<int>(settings.ca_pem.size())), BIO_free);
            int added = 0;
            while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
                X509_STORE_add_cert(store, ca);
                X509_free(ca);
                ++added;
            }
            ERR_clear_error();
            if (added == 0) {
                error = "ca.crt holds no PEM certificate";
                return nullptr;
            }
        }
    } else {
        SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
    }
    if (const auto& cert = settings.client_certificate) {
        if (SSL_CTX_use_cert_and_key(native, cert->leaf(), cert->key(), cert->chain(), 1) != 1) {
            ERR_clear_error();
            error = "the client certificate (tls.crt, tls.key) is not usable";
            return nullptr;
        }
    }
    return ctx;
}

}  // namespace sluice::tls
