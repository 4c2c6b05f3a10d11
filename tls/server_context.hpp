#pragma once
// The server side of TLS: one SSL context per routing snapshot, built from the ConfigMap's ssl-*
// settings, whose SNI callback installs the certificate of the host the client names.
// Certificates (tls::certificate) are parsed once per Secret and shared between snapshots;
// session tickets are encrypted with process-wide keys that rotate.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/ssl/context.hpp>

#include "tls/certificate.hpp"
#include "tls/settings.hpp"

namespace sluice::tls {

// Picks the certificate for a server name (lower-case), or null for the default. Called on the
// handshaking worker's thread, with the argument given to create().
using certificate_lookup = const certificate* (*)(const void* arg, std::string_view server_name);

class server_context {
public:
    // `default_certificate` answers handshakes without SNI and names nothing else matches.
    // Throws std::runtime_error when OpenSSL refuses the settings (checked beforehand by the
    // builder, so not expected).
    server_context(const server_settings& settings, std::shared_ptr<const certificate> default_certificate,
                   certificate_lookup lookup, const void* lookup_arg);

    boost::asio::ssl::context& asio_context() const { return context_; }
    const certificate& default_certificate() const { return *default_; }

private:
    static int on_servername(SSL* ssl, int* alert, void* arg);

    mutable boost::asio::ssl::context context_;
    std::shared_ptr<const certificate> default_;
    certificate_lookup lookup_;
    const void* lookup_arg_;
};

}  // namespace sluice::tls
