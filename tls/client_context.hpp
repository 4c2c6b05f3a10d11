#pragma once
// The client side of TLS, for backend-protocol HTTPS: one SSL context per distinct proxy-ssl-*
// configuration, built with the snapshot.
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "tls/certificate.hpp"

namespace sluice::tls {

struct client_settings {
    bool verify = false;            // proxy-ssl-verify: the upstream's chain and name are checked
    int verify_depth = 1;           // proxy-ssl-verify-depth
    std::string ca_pem;             // ca.crt of proxy-ssl-secret; empty: the system's CAs
    std::shared_ptr<const certificate> client_certificate;  // tls.crt + tls.key of proxy-ssl-secret
};

// Null with `error` set when the CA bundle does not parse.
std::shared_ptr<boost::asio::ssl::context> make_client_context(const client_settings& settings, std::string& error);

}  // namespace sluice::tls
