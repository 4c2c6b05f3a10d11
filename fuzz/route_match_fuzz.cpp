// The route matcher against a plain reference implementation of the Kubernetes Ingress rules.
// Input lines: "E<path>" / "P<path>" add an Exact / Prefix path, "H<host>" adds a host (which
// may be "*.suffix"), "?<path>" matches a path (absolute, as normalised paths are) and "@<host>" a Host header; the answers of
// match_path and match_host must equal the reference's.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/route_snapshot.hpp"

namespace {

using namespace sluice;

struct rule {
    std::string path;  // Prefix: without trailing slashes
    path_match match;
    uint32_t id;
};

// Kubernetes: an Exact path equal to the request path wins; else the longest Prefix whose
// '/'-separated elements are a prefix of the path's elements (trailing slashes ignored); among
// equal prefixes the first added.
uint32_t reference_path(const std::vector<rule>& rules, std::string_view path)
{
    for (const auto& r : rules)
        if (r.match == path_match::exact && r.path == path)
            return r.id;
    std::string_view p = path;
    while (p.size() > 1 && p.back() == '/')
        p.remove_suffix(1);
    const rule* best = nullptr;
    for (const auto& r : rules) {
        if (r.match != path_match::prefix)
            continue;
        bool covers = r.path == "/" || r.path == p ||
                      (p.size() > r.path.size() && p.starts_with(r.path) && p[r.path.size()] == '/');
        if (covers && (!best || r.path.size() > best->path.size()))
            best = &r;
    }
    return best ? best->id : no_backend;
}

std::string lower(std::string_view s)
{
    std::string out(s);
    for (char& c : out)
        c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return out;
}

// Host header → host name: without port (or the brackets' content for IPv6) and trailing dot,
// lower-cased; an exact host first, else a wildcard covering exactly one more label.
std::string reference_host(const std::vector<std::string>& hosts, std::string_view header)
{
    std::string_view h = header;
    if (!h.empty() && h.front() == '[') {
        auto close = h.find(']');
        h = close == std::string_view::npos ? std::string_view() : h.substr(0, close + 1);
    } else if (auto colon = h.rfind(':'); colon != std::string_view::npos) {
        h = h.substr(0, colon);
    }
    if (!h.empty() && h.back() == '.')
        h.remove_suffix(1);
    if (h.empty() || h.size() > 256)
        return "";
    std::string name = lower(h);
    for (const auto& x : hosts)
        if (x == name)
            return x;
    auto dot = name.find('.');
    if (dot != std::string::npos && dot > 0)
        for (const auto& x : hosts)
            if (x.starts_with("*.") && x.substr(2) == name.substr(dot + 1))
                return x;
    return "";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::string_view input(reinterpret_cast<const char*>(data), size);
    virtual_host vh;
    route_snapshot snap;
    std::vector<rule> rules;
    std::vector<std::string> hosts;
    std::vector<std::string> paths, headers;
    uint32_t next = 0;
    while (!input.empty()) {
        auto eol = input.find('\n');
        std::string_view line = input.substr(0, eol);
        input.remove_prefix(eol == std::string_view::npos ? input.size() : eol + 1);
        if (line.empty())
            continue;
        char op = line.front();
        std::string arg(line.substr(1));
        if ((op == 'E' || op == 'P') && !arg.empty() && arg.front() == '/') {
            location loc;
            loc.path = loc.raw_path = arg;
            loc.match = op == 'E' ? path_match::exact : path_match::prefix;
            loc.backend = next;
            if (!add_location(vh, std::move(loc))) {
                rule r{arg, op == 'E' ? path_match::exact : path_match::prefix, next};
                if (r.match == path_match::prefix)
                    while (r.path.size() > 1 && r.path.back() == '/')
                        r.path.pop_back();
                bool duplicate = false;
                for (const auto& other : rules)
                    duplicate = duplicate || (other.match == r.match && other.path == r.path);
                if (!duplicate)
                    rules.push_back(r);
            }
            ++next;
        } else if (op == 'H' && !arg.empty()) {
            std::string name = lower(arg);
            bool known = false;
            for (const auto& x : hosts)
                known = known || x == name;
            if (known)
                continue;
            hosts.push_back(name);
            auto host = std::make_shared<virtual_host>();
            host->name = name;
            if (name.starts_with("*."))
                snap.wildcard_hosts.emplace(name.substr(2), std::move(host));
            else
                snap.exact_hosts.emplace(name, std::move(host));
        } else if (op == '?' && !arg.empty() && arg.front() == '/') {  // normalised paths are absolute
            paths.push_back(arg);
        } else if (op == '@') {
            headers.push_back(arg);
        }
    }
    for (const auto& p : paths)
        if (match_path(vh, p).backend != reference_path(rules, p))
            __builtin_trap();
    for (const auto& h : headers)
        if (match_host(snap, h).name != reference_host(hosts, h))
            __builtin_trap();
    return 0;
}
