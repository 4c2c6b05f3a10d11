#pragma once
// Which client-supplied forwarding headers are believed: ConfigMap use-forwarded-headers,
// enable-real-ip, compute-full-forwarded-for, forwarded-for-header, proxy-real-ip-cidr.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

namespace sluice {

// An address range of proxy-real-ip-cidr.
struct ip_network {
    boost::asio::ip::address base;
    unsigned prefix = 0;
    static std::optional<ip_network> parse(std::string_view text);  // "10.0.0.0/8", "::1", "1.2.3.4"
    // "10.0.0.0/8, 192.168.1.1": nothing if any item is not an address or CIDR.
    static std::optional<std::vector<ip_network>> parse_list(std::string_view list);
    bool contains(const boost::asio::ip::address& a) const;
};

// How much of what the client says about itself is believed (ConfigMap keys of the same names).
struct forwarding_policy {
    bool use_forwarded_headers = false;       // X-Forwarded-Proto/-Port/-Host and the client address
    bool enable_real_ip = false;              // the client address only
    bool compute_full_forwarded_for = false;  // append to X-Forwarded-For instead of replacing it
    std::string forwarded_for_header = "X-Forwarded-For";
    std::vector<ip_network> trusted{ip_network{boost::asio::ip::address_v4::any(), 0}};  // proxy-real-ip-cidr
};

}  // namespace sluice
