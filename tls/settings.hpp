#pragma once
// TLS settings from the ConfigMap (ssl-protocols, ssl-ciphers, ...), with ingress-nginx's
// defaults except where noted.
#include <chrono>
#include <string>
#include <string_view>

namespace sluice::tls {

struct server_settings {
    int min_version = 0x0303;  // TLS1_2_VERSION
    int max_version = 0x0304;  // TLS1_3_VERSION
    std::string ciphers;       // TLS 1.2 cipher list (OpenSSL syntax), empty: default_ciphers
    bool prefer_server_ciphers = true;
    // ingress-nginx turns tickets off because nginx's ticket key never changes; sluice's keys
    // rotate (tls/ticket_keys.hpp), so they are on by default.
    bool session_tickets = true;
    std::chrono::seconds session_timeout{600};
    bool operator==(const server_settings&) const = default;
};

// ingress-nginx's default ssl-ciphers.
extern const char* const default_ciphers;

// Parses ssl-protocols ("TLSv1.2 TLSv1.3"): only TLS 1.2 and 1.3 may be named. False with
// `error` set for an older or unknown name, or an empty list.
bool parse_protocols(std::string_view value, server_settings& out, std::string& error);
// Whether OpenSSL accepts `ciphers` as a TLS 1.2 cipher list that selects at least one cipher.
bool valid_cipher_list(const std::string& ciphers, std::string& error);

}  // namespace sluice::tls
