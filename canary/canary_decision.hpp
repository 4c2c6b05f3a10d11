#pragma once
// The request-time canary decision, as ingress-nginx's balancer.lua route_to_alternative_balancer
// takes it: header (value, then pattern, then always/never), cookie (always/never), weight.
// Pure: the request's fields and the random source are passed in.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <re2/re2.h>

namespace sluice {

struct canary_policy {
    std::string header;                          // canary-by-header; empty: not used
    std::string header_value;                    // canary-by-header-value
    std::shared_ptr<const re2::RE2> header_pattern;  // canary-by-header-pattern (used when no value)
    std::string cookie;                          // canary-by-cookie
    uint32_t weight = 0;                         // canary-weight
    uint32_t weight_total = 100;                 // canary-weight-total, honoured as given
};

// What the decision reads from a request.
class canary_request {
public:
    virtual ~canary_request() = default;
    virtual std::optional<std::string_view> header(std::string_view name) const = 0;
    virtual std::optional<std::string_view> cookie(std::string_view name) const = 0;
};

// Uniform integer in [1, n].
using random_source = std::function<uint32_t(uint32_t n)>;

enum class canary_verdict { canary, main };

// One canary policy's verdict for a request.
canary_verdict decide_canary(const canary_policy& policy, const canary_request& request, const random_source& random);

// Several canaries on one location are asked in order; the first that takes the request wins.
// Returns its index, or -1 for the main backend.
int choose_canary(std::span<const canary_policy> policies, const canary_request& request,
                  const random_source& random);

// The value of cookie `name` in a Cookie header value ("a=1; b=2"), if present.
std::optional<std::string_view> find_cookie(std::string_view cookie_header, std::string_view name);

}  // namespace sluice
