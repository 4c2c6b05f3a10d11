// The canary decision as ingress-nginx's balancer.lua takes it, branch by branch.
#include <cmath>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "canary/canary_decision.hpp"

namespace sluice {
namespace {

class fake_request final : public canary_request {
public:
    fake_request(std::map<std::string, std::string> headers, std::map<std::string, std::string> cookies)
        : headers_(std::move(headers)), cookies_(std::move(cookies))
    {
    }
    std::optional<std::string_view> header(std::string_view name) const override
    {
        auto it = headers_.find(std::string(name));
        return it == headers_.end() ? std::nullopt : std::optional<std::string_view>(it->second);
    }
    std::optional<std::string_view> cookie(std::string_view name) const override
    {
        auto it = cookies_.find(std::string(name));
        return it == cookies_.end() ? std::nullopt : std::optional<std::string_view>(it->second);
    }

private:
    std::map<std::string, std::string> headers_, cookies_;
};

// A random source that always draws the same value: makes the weight branch deterministic.
random_source fixed(uint32_t value)
{
    return [value](uint32_t n) { return std::min(value, n); };
}

constexpr auto C = canary_verdict::canary;
constexpr auto M = canary_verdict::main;

TEST(canary_decision, table)
{
    auto pattern = std::make_shared<re2::RE2>("^(beta|canary)-[0-9]+$");
    struct row {
        const char* name;
        canary_policy policy;
        std::map<std::string, std::string> headers, cookies;
        uint32_t draw;
        canary_verdict want;
    };
    const row rows[] = {
        {"no policy: weight 0 keeps main", {}, {}, {}, 1, M},
        {"header always", {"X-Canary"}, {{"X-Canary", "always"}}, {}, 1, C},
        {"header never", {"X-Canary"}, {{"X-Canary", "never"}}, {}, 1, M},
        {"header never skips cookie", {"X-Canary", "", nullptr, "c"}, {{"X-Canary", "never"}}, {{"c", "always"}}, 1, M},
        {"header never skips weight", {"X-Canary", "", nullptr, "", 100}, {{"X-Canary", "never"}}, {}, 1, M},
        {"header other value falls to weight", {"X-Canary", "", nullptr, "", 100}, {{"X-Canary", "maybe"}}, {}, 1, C},
        {"header absent falls to cookie", {"X-Canary", "", nullptr, "c"}, {}, {{"c", "always"}}, 1, C},
        {"header value equal", {"X-Canary", "v2"}, {{"X-Canary", "v2"}}, {}, 1, C},
        {"header value differs", {"X-Canary", "v2"}, {{"X-Canary", "v3"}}, {}, 1, M},
        {"with a value, always is not special", {"X-Canary", "v2"}, {{"X-Canary", "always"}}, {}, 1, M},
        {"with a value, never is not special", {"X-Canary", "v2", nullptr, "c"}, {{"X-Canary", "never"}}, {{"c", "always"}}, 1, C},
        {"pattern matches", {"X-Canary", "", pattern}, {{"X-Canary", "beta-7"}}, {}, 1, C},
        {"pattern does not match", {"X-Canary", "", pattern}, {{"X-Canary", "alpha-7"}}, {}, 1, M},
        {"pattern: always not special", {"X-Canary", "", pattern}, {{"X-Canary", "always"}}, {}, 1, M},
        {"value wins over pattern", {"X-Canary", "v2", pattern}, {{"X-Canary", "beta-7"}}, {}, 1, M},
        {"cookie always", {"", "", nullptr, "c"}, {}, {{"c", "always"}}, 1, C},
        {"cookie never skips weight", {"", "", nullptr, "c", 100}, {}, {{"c", "never"}}, 1, M},
        {"cookie other falls to weight", {"", "", nullptr, "c", 100}, {}, {{"c", "x"}}, 1, C},
        {"weight 0", {"", "", nullptr, "", 0}, {}, {}, 1, M},
        {"weight 100 of 100", {"", "", nullptr, "", 100}, {}, {}, 100, C},
        {"weight 30: draw 30 is canary", {"", "", nullptr, "", 30}, {}, {}, 30, C},
        {"weight 30: draw 31 is main", {"", "", nullptr, "", 30}, {}, {}, 31, M},
        {"weight 1 of total 4: draw 1", {"", "", nullptr, "", 1, 4}, {}, {}, 1, C},
        {"weight 1 of total 4: draw 2", {"", "", nullptr, "", 1, 4}, {}, {}, 2, M},
        {"weight over total", {"", "", nullptr, "", 500, 1000}, {}, {}, 1000, M},
        {"weight at least total", {"", "", nullptr, "", 1000, 1000}, {}, {}, 1000, C},
    };
    for (const auto& r : rows)
        EXPECT_EQ(decide_canary(r.policy, fake_request(r.headers, r.cookies), fixed(r.draw)), r.want) << r.name;
}

TEST(canary_decision, several_canaries_are_asked_in_order)
{
    canary_policy a{"X-A"};
    canary_policy b{"X-B"};
    std::vector<canary_policy> both{a, b};
    EXPECT_EQ(choose_canary(both, fake_request({{"X-B", "always"}}, {}), fixed(1)), 1);
    EXPECT_EQ(choose_canary(both, fake_request({{"X-A", "always"}, {"X-B", "always"}}, {}), fixed(1)), 0);
    // "never" keeps the first canary out; the second is still asked.
    EXPECT_EQ(choose_canary(both, fake_request({{"X-A", "never"}, {"X-B", "always"}}, {}), fixed(1)), 1);
    EXPECT_EQ(choose_canary(both, fake_request({}, {}), fixed(1)), -1);
}

// 10,000 seeded draws at weight w of total t: the canary share is binomial(n, p = w/t). The
// bound is five standard deviations, sqrt(n p (1-p)); the seed makes the run repeatable.
void expect_share(uint32_t weight, uint32_t total)
{
    std::mt19937_64 rng(20261126);
    random_source random = [&rng](uint32_t n) { return std::uniform_int_distribution<uint32_t>(1, n)(rng); };
    canary_policy p{"", "", nullptr, "", weight, total};
    const int n = 10000;
    int canary = 0;
    for (int i = 0; i < n; ++i)
        canary += decide_canary(p, fake_request({}, {}), random) == C;
    double share = double(weight) / total;
    double bound = 5 * std::sqrt(n * share * (1 - share));
    EXPECT_NEAR(canary, n * share, bound) << weight << "/" << total;
}

TEST(canary_decision, weights_split_traffic_statistically)
{
    expect_share(30, 100);
    expect_share(1, 100);
    expect_share(50, 100);
    expect_share(333, 1000);
    // Totals below 100 are honoured (ingress-nginx silently raises them to 100).
    expect_share(1, 4);
    expect_share(2, 3);
}

TEST(canary_decision, find_cookie)
{
    EXPECT_EQ(find_cookie("a=1; canary=always; b=2", "canary"), "always");
    EXPECT_EQ(find_cookie("canary=never", "canary"), "never");
    EXPECT_EQ(find_cookie("xcanary=always", "canary"), std::nullopt);
    EXPECT_EQ(find_cookie("canary=\"always\"", "canary"), "always");
    EXPECT_EQ(find_cookie("a=1;canary = always ", "canary"), "always");
    EXPECT_EQ(find_cookie("", "canary"), std::nullopt);
}

}  // namespace
}  // namespace sluice
