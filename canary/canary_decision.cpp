#include "canary/canary_decision.hpp"

namespace sluice {

canary_verdict decide_canary(const canary_policy& policy, const canary_request& request, const random_source& random)
{
    if (!policy.header.empty()) {
        if (auto value = request.header(policy.header)) {
            if (!policy.header_value.empty()) {
                // A configured value replaces always/never: only equality selects the canary.
                if (*value == policy.header_value)
                    return canary_verdict::canary;
            } else if (policy.header_pattern) {
                if (re2::RE2::PartialMatch(re2::StringPiece(value->data(), value->size()), *policy.header_pattern))
                    return canary_verdict::canary;
            } else if (*value == "always") {
                return canary_verdict::canary;
            } else if (*value == "never") {
                return canary_verdict::main;  // skips cookie and weight, as ingress-nginx
            }
        }
    }
    if (!policy.cookie.empty()) {
        if (auto value = request.cookie(policy.cookie)) {
            if (*value == "always")
                return canary_verdict::canary;
            if (*value == "never")
                return canary_verdict::main;  // skips weight
        }
    }
    if (policy.weight == 0)
        return canary_verdict::main;
    if (policy.weight >= policy.weight_total)
        return canary_verdict::canary;
    return random(policy.weight_total) <= policy.weight ? canary_verdict::canary : canary_verdict::main;
}

int choose_canary(std::span<const canary_policy> policies, const canary_request& request,
                  const random_source& random)
{
    for (size_t i = 0; i < policies.size(); ++i)
        if (decide_canary(policies[i], request, random) == canary_verdict::canary)
            return static_cast<int>(i);
    return -1;
}

std::optional<std::string_view> find_cookie(std::string_view header, std::string_view name)
{
    while (!header.empty()) {
        auto semi = header.find(';');
        std::string_view pair = header.substr(0, semi);
        while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t'))
            pair.remove_prefix(1);
        auto eq = pair.find('=');
        if (eq != std::string_view::npos) {
            std::string_view key = pair.substr(0, eq);
            while (!key.empty() && (key.back() == ' ' || key.back() == '\t'))
                key.remove_suffix(1);
            if (key == name) {
                std::string_view value = pair.substr(eq + 1);
                while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
                    value.remove_prefix(1);
                while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
                    value.remove_suffix(1);
                if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
                    value = value.substr(1, value.size() - 2);
                return value;
            }
        }
        if (semi == std::string_view::npos)
            break;
        header.remove_prefix(semi + 1);
    }
    return std::nullopt;
}

}  // namespace sluice
