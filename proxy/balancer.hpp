#pragma once
// Choosing an endpoint of a backend, as ingress-nginx's Lua balancers do it: round robin, EWMA
// (power of two choices on a decaying latency average), consistent hashing on a request value
// (upstream-hash-by, optionally over subsets), and cookie session affinity (balanced or
// persistent). Plus passive health: an endpoint that keeps failing is left out for a while.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace sluice {

// A stable 64-bit hash (FNV-1a with a final mix): the same on every replica and every restart,
// so cookies and hash keys mean the same endpoint everywhere.
uint64_t stable_hash(std::string_view s);

// A ketama ring: `points` per member, each at the hash of "<member>-<i>". Removing a member only
// moves the keys that were on it.
class hash_ring {
public:
    static constexpr unsigned points = 160;  // as nginx's consistent upstream hash
    explicit hash_ring(const std::vector<std::string>& members);
    // The member owning `key`; the ring must not be empty.
    uint32_t find(uint64_t key) const;
    // The members in ring order from `key` on, each once (for retries).
    std::vector<uint32_t> walk(uint64_t key) const;
    size_t members() const { return members_; }

private:
    std::vector<std::pair<uint64_t, uint32_t>> ring_;  // sorted by point
    size_t members_ = 0;
};

// The endpoint name used by rings and persistent cookies: "ip:port" ("[v6]:port").
std::string endpoint_name(const boost::asio::ip::tcp::endpoint& ep);

// The values a hash key can name, for one request.
struct request_values {
    std::string_view request_uri;  // $request_uri, as sent
    std::string_view uri;          // $uri: the normalised path
    std::string_view args;         // $args / $query_string
    std::string_view remote_addr;  // $remote_addr (after realip)
    std::string_view host;         // $host
    std::string_view scheme;       // $scheme
    std::string_view method;       // $request_method
    // $http_NAME (NAME lower-case with '_' for '-'), $cookie_NAME, $arg_NAME
    std::optional<std::string_view> (*header)(const void* request, std::string_view name) = nullptr;
    std::optional<std::string_view> (*cookie)(const void* request, std::string_view name) = nullptr;
    const void* request = nullptr;
};

// Text with nginx variables ("$request_uri", "$host$uri", "$cookie_user"): upstream-hash-by, and
// the values of proxy-set-headers.
class request_template {
public:
    static std::optional<request_template> parse(std::string_view text, std::string& error);
    void expand(const request_values& values, std::string& out) const;
    const std::string& text() const { return text_; }

private:
    enum class var : uint8_t { literal, request_uri, uri, args, remote_addr, host, scheme, method, http, cookie, arg };
    struct part {
        var kind = var::literal;
        std::string text;  // the literal, or the header/cookie/argument name
    };
    std::vector<part> parts_;
    std::string text_;
};

// session-cookie-*: the affinity cookie.
struct affinity_cookie {
    std::string name = "INGRESSCOOKIE";
    std::string path;  // session-cookie-path; empty: the location's path
    std::string domain;
    std::string samesite;  // None, Lax, Strict or empty
    std::optional<uint64_t> expires;  // seconds from now
    std::optional<uint64_t> max_age;
    bool secure = false;  // also set on HTTPS requests
    bool change_on_failure = false;
    bool persistent = false;  // affinity-mode persistent: the cookie names the endpoint
    // "NAME=value; Expires=...; Max-Age=...; Domain=...; Path=...; Secure; HttpOnly; SameSite=..."
    std::string render(std::string_view value, std::string_view location_path, bool https,
                       std::chrono::system_clock::time_point now) const;
};

enum class balance_kind : uint8_t { round_robin, ewma, hash, sticky };

struct balance_policy {
    balance_kind kind = balance_kind::round_robin;
    std::shared_ptr<const request_template> key;  // hash
    uint32_t subset_size = 0;                      // hash: upstream-hash-by-subset; 0: off
    std::shared_ptr<const affinity_cookie> cookie; // sticky
    bool needs_ring() const { return kind == balance_kind::hash || (kind == balance_kind::sticky && !cookie->persistent); }
};

// The rings of one backend, built once per snapshot for backends that a hashing location uses.
struct backend_rings {
    std::optional<hash_ring> endpoints;  // over endpoint names
    // Over subset numbers, per upstream-hash-by-subset-size in use: endpoint i is in subset
    // i mod (number of subsets).
    std::vector<std::pair<uint32_t, hash_ring>> subsets;
    std::vector<uint64_t> endpoint_ids;  // stable_hash(endpoint_name): persistent cookies
    const hash_ring* subsets_of(uint32_t size) const
    {
        for (const auto& [n, ring] : subsets)
            if (n == size)
                return &ring;
        return nullptr;
    }
};

// What a worker remembers about one endpoint: the EWMA of its response times and its recent
// failures.
struct endpoint_stats {
    double ewma = 0;  // seconds
    std::chrono::steady_clock::time_point touched{};
    uint32_t fails = 0;
    std::chrono::steady_clock::time_point first_fail{};
    std::chrono::steady_clock::time_point down_until{};
};

// ingress-nginx's ewma.lua: the average decays with a 10 s time constant.
double decayed_ewma(const endpoint_stats& st, std::chrono::steady_clock::time_point now);
void record_latency(endpoint_stats& st, double seconds, std::chrono::steady_clock::time_point now);

}  // namespace sluice
