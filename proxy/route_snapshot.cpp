#include "proxy/route_snapshot.hpp"

#include <algorithm>

namespace sluice {

std::optional<uint16_t> parse_next_upstream(std::string_view words)
{
    static const std::pair<std::string_view, uint16_t> names[] = {
        {"error", retry_on_error},       {"timeout", retry_on_timeout},
        {"invalid_header", retry_on_invalid_header}, {"http_500", retry_on_http_500},
        {"http_502", retry_on_http_502}, {"http_503", retry_on_http_503},
        {"http_504", retry_on_http_504}, {"http_403", retry_on_http_403},
        {"http_404", retry_on_http_404}, {"http_429", retry_on_http_429},
        {"non_idempotent", retry_on_non_idempotent}, {"off", 0}};
    uint16_t mask = 0;
    bool any = false, off = false;
    while (!words.empty()) {
        auto space = words.find_first_of(" \t");
        std::string_view w = words.substr(0, space);
        words = space == std::string_view::npos ? std::string_view() : words.substr(space + 1);
        if (w.empty())
            continue;
        bool known = false;
        for (const auto& [name, bit] : names) {
            if (w == name) {
                known = true;
                mask |= bit;
                off = off || name == "off";
            }
        }
        if (!known)
            return std::nullopt;
        any = true;
    }
    if (!any || (off && mask != 0))
        return std::nullopt;
    return mask;
}


std::string diagnostic::str() const
{
    std::string s = object;
    if (!field.empty())
        s += ": " + field;
    s += ": " + message;
    return s;
}

bool normalize_host(std::string_view in, std::string& out)
{
    out.clear();
    if (!in.empty() && in.front() == '[') {
        // IPv6 literal, "[::1]:80": keep the bracketed address.
        auto close = in.find(']');
        if (close == std::string_view::npos)
            return false;
        in = in.substr(0, close + 1);
    } else if (auto colon = in.rfind(':'); colon != std::string_view::npos) {
        in = in.substr(0, colon);
    }
    if (!in.empty() && in.back() == '.')
        in.remove_suffix(1);
    out.reserve(in.size());
    for (char c : in) {
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
        else if (static_cast<unsigned char>(c) <= 0x20 || c == '/' || c == '\\' || c == 0x7f)
            return false;
        out.push_back(c);
    }
    return true;
}

const virtual_host& match_host(const route_snapshot& snap, std::string_view host_header)
{
    // Host names are at most 253 bytes; longer values cannot match anything.
    char buf[256];
    size_t n = 0;
    std::string_view in = host_header;
    if (!in.empty() && in.front() != '[') {
        if (auto colon = in.rfind(':'); colon != std::string_view::npos)
            in = in.substr(0, colon);
    } else if (!in.empty()) {
        auto close = in.find(']');
        in = close == std::string_view::npos ? std::string_view() : in.substr(0, close + 1);
    }
    if (!in.empty() && in.back() == '.')
        in.remove_suffix(1);
    if (in.empty() || in.size() > sizeof buf)
        return snap.catch_all;
    for (char c : in)
        buf[n++] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    std::string_view host(buf, n);
    if (auto it = snap.exact_hosts.find(host); it != snap.exact_hosts.end())
        return *it->second;
    // "*.example.com" covers exactly one label in front of "example.com".
    if (!snap.wildcard_hosts.empty()) {
        auto dot = host.find('.');
        if (dot != std::string_view::npos && dot > 0) {
            if (auto it = snap.wildcard_hosts.find(host.substr(dot + 1)); it != snap.wildcard_hosts.end())
                return *it->second;
        }
    }
    return snap.catch_all;
}

const location& match_path(const virtual_host& host, std::string_view path)
{
    if (host.regex) {
        // One pass of RE2's set over the path finds every matching entry; the first in order wins.
        const re2::RE2::Set* set = host.regex->set.get();
        thread_local std::vector<int> hits;
        hits.clear();
        if (set && set->Match(re2::StringPiece(path.data(), path.size()), &hits) && !hits.empty()) {
            int first = *std::min_element(hits.begin(), hits.end());
            return host.locations[host.regex->order[static_cast<size_t>(first)]];
        }
        return host.fallback;
    }
    if (!host.exact.empty()) {
        if (auto it = host.exact.find(path); it != host.exact.end())
            return host.locations[it->second];
    }
    if (!host.prefix.empty()) {
        // Element-wise prefix match, longest first: "/a/b/c" tries "/a/b/c", "/a/b", "/a", "/".
        std::string_view candidate = path;
        while (candidate.size() > 1 && candidate.back() == '/')
            candidate.remove_suffix(1);
        for (;;) {
            if (auto it = host.prefix.find(candidate); it != host.prefix.end())
                return host.locations[it->second];
            if (candidate.size() <= 1)
                break;
            auto slash = candidate.rfind('/');
            if (slash == std::string_view::npos)
                break;
            candidate = candidate.substr(0, slash == 0 ? 1 : slash);
            while (candidate.size() > 1 && candidate.back() == '/')
                candidate.remove_suffix(1);
        }
    }
    return host.fallback;
}

const location* add_location(virtual_host& host, location loc)
{
    auto& index = loc.match == path_match::exact ? host.exact : host.prefix;
    if (loc.match == path_match::prefix) {
        while (loc.path.size() > 1 && loc.path.back() == '/')
            loc.path.pop_back();
    }
    auto it = index.find(loc.path);
    if (it != index.end()) {
        // The same path and type as written: a conflict. "/foo" and "/foo/" as Prefix are two
        // locations to ingress-nginx; on a plain host the first serves both, on a regex host
        // each has its own pattern.
        const location& existing = host.locations[it->second];
        if (existing.raw_path == loc.raw_path)
            return &existing;
        for (const auto& other : host.locations)
            if (other.match == loc.match && other.raw_path == loc.raw_path)
                return &other;
        host.locations.push_back(std::move(loc));
        return nullptr;
    }
    index.emplace(loc.path, static_cast<uint32_t>(host.locations.size()));
    host.locations.push_back(std::move(loc));
    return nullptr;
}

}  // namespace sluice

namespace sluice {

const tls::certificate* certificate_for(const void* p, std::string_view server_name)
{
    const auto& snap = *static_cast<const route_snapshot*>(p);
    const virtual_host& vh = match_host(snap, server_name);
    return vh.certificate ? vh.certificate.get() : snap.default_certificate.get();
}

}  // namespace sluice
