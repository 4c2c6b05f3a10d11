#pragma once
// Ownership of an OpenSSL connection object.
#include <memory>

#include <openssl/ssl.h>

namespace sluice {

struct ssl_free {
    void operator()(SSL* ssl) const noexcept { SSL_free(ssl); }
};
using ssl_ptr = std::unique_ptr<SSL, ssl_free>;

}  // namespace sluice
