#include "proxy/balancer.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>

namespace sluice {

uint64_t stable_hash(std::string_view s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : s)
        h = (h ^ c) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

hash_ring::hash_ring(const std::vector<std::string>& members) : members_(members.size())
{
    ring_.reserve(members.size() * points);
    for (uint32_t m = 0; m < members.size(); ++m)
        for (unsigned i = 0; i < points; ++i)
            ring_.emplace_back(stable_hash(members[m] + "-" + std::to_string(i)), m);
    std::sort(ring_.begin(), ring_.end());
}

uint32_t hash_ring::find(uint64_t key) const
{
    auto it = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(key, uint32_t{0}));
    if (it == ring_.end())
        it = ring_.begin();
    return it->second;
}

std::vector<uint32_t> hash_ring::walk(uint64_t key) const
{
    std::vector<uint32_t> order;
    std::vector<bool> seen(members_, false);
    auto start = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(key, uint32_t{0}));
    size_t at = static_cast<size_t>(start - ring_.begin());
    for (size_t step = 0; step < ring_.size() && order.size() < members_; ++step) {
        uint32_t m = ring_[(at + step) % ring_.size()].second;
        if (!seen[m]) {
            seen[m] = true;
            order.push_back(m);
        }
    }
    return order;
}

std::string endpoint_name(const boost::asio::ip::tcp::endpoint& ep)
{
    const auto a = ep.address();
    return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

std::optional<request_template> request_template::parse(std::string_view text, std::string& error)
{
    request_template t;
    t.text_ = std::string(text);
    auto name_char = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    };
    size_t i = 0;
    while (i < text.size()) {
        if (text[i] != '$') {
            size_t end = text.find('$', i);
            t.parts_.push_back({var::literal, std::string(text.substr(i, end - i))});
            i = end == std::string_view::npos ? text.size() : end;
            continue;
        }
        size_t start = ++i;
        bool braces = i < text.size() && text[i] == '{';
        if (braces)
            start = ++i;
        while (i < text.size() && name_char(text[i]))
            ++i;
        std::string name(text.substr(start, i - start));
        if (braces) {
            if (i >= text.size() || text[i] != '}') {
                error = "unterminated ${ in \"" + std::string(text) + "\"";
                return std::nullopt;
            }
            ++i;
        }
        auto prefixed = [&](std::string_view prefix, var kind) {
            if (!name.starts_with(prefix) || name.size() == prefix.size())
                return false;
            std::string rest = name.substr(prefix.size());
            if (kind == var::http)
                std::replace(rest.begin(), rest.end(), '_', '-');
            t.parts_.push_back({kind, rest});
            return true;
        };
        static const std::pair<std::string_view, var> simple[] = {
            {"request_uri", var::request_uri}, {"uri", var::uri},       {"document_uri", var::uri},
            {"args", var::args},               {"query_string", var::args}, {"remote_addr", var::remote_addr},
            {"binary_remote_addr", var::remote_addr}, {"host", var::host}, {"scheme", var::scheme},
            {"request_method", var::method}};
        bool known = false;
        for (const auto& [n, kind] : simple) {
            if (name == n) {
                t.parts_.push_back({kind, {}});
                known = true;
                break;
            }
        }
        if (!known && !prefixed("http_", var::http) && !prefixed("cookie_", var::cookie) && !prefixed("arg_", var::arg)) {
            error = "unsupported variable $" + name + " (supported: $request_uri, $uri, $args, $remote_addr, $host, "
                                                      "$scheme, $request_method, $http_NAME, $cookie_NAME, $arg_NAME)";
            return std::nullopt;
        }
    }
    return t;
}

namespace {

// The value of argument `name` in a query string, as nginx's $arg_NAME (first match, raw).
std::string_view query_argument(std::string_view args, std::string_view name)
{
    while (!args.empty()) {
        auto amp = args.find('&');
        std::string_view pair = args.substr(0, amp);
        args = amp == std::string_view::npos ? std::string_view() : args.substr(amp + 1);
        auto eq = pair.find('=');
        std::string_view key = pair.substr(0, eq);
        if (key.size() == name.size() && std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
            }))
            return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    return {};
}

}  // namespace

void request_template::expand(const request_values& v, std::string& out) const
{
    out.clear();
    for (const auto& p : parts_) {
        switch (p.kind) {
        case var::literal: out += p.text; break;
        case var::request_uri: out += v.request_uri; break;
        case var::uri: out += v.uri; break;
        case var::args: out += v.args; break;
        case var::remote_addr: out += v.remote_addr; break;
        case var::host: out += v.host; break;
        case var::scheme: out += v.scheme; break;
        case var::method: out += v.method; break;
        case var::http:
            if (v.header)
                out += v.header(v.request, p.text).value_or(std::string_view());
            break;
        case var::cookie:
            if (v.cookie)
                out += v.cookie(v.request, p.text).value_or(std::string_view());
            break;
        case var::arg: out += query_argument(v.args, p.text); break;
        }
    }
}

std::string affinity_cookie::render(std::string_view value, std::string_view location_path, bool https,
                                    std::chrono::system_clock::time_point now) const
{
    std::string c = name + "=" + std::string(value);
    if (expires) {
        std::time_t t = std::chrono::system_clock::to_time_t(now) + static_cast<std::time_t>(*expires);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char buf[64];
        std::strftime(buf, sizeof buf, "%a, %d-%b-%y %H:%M:%S GMT", &tm);  // ngx.cookie_time
        c += "; Expires=";
        c += buf;
    }
    if (max_age)
        c += "; Max-Age=" + std::to_string(*max_age);
    if (!domain.empty())
        c += "; Domain=" + domain;
    c += "; Path=";
    c += path.empty() ? location_path : std::string_view(path);
    if (secure || https)
        c += "; Secure";
    c += "; HttpOnly";
    if (!samesite.empty())
        c += "; SameSite=" + samesite;
    return c;
}

double decayed_ewma(const endpoint_stats& st, std::chrono::steady_clock::time_point now)
{
    double td = std::chrono::duration<double>(now - st.touched).count();
    if (td <= 0)
        return st.ewma;
    return st.ewma * std::exp(-td / 10.0);
}

void record_latency(endpoint_stats& st, double seconds, std::chrono::steady_clock::time_point now)
{
    if (st.touched == std::chrono::steady_clock::time_point{}) {
        st.ewma = seconds;  // the first sample is the average
        st.touched = now;
        return;
    }
    double td = std::max(0.0, std::chrono::duration<double>(now - st.touched).count());
    double weight = std::exp(-td / 10.0);
    st.ewma = st.ewma * weight + seconds * (1.0 - weight);
    st.touched = now;
}

}  // namespace sluice
