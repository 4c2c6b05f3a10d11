#pragma once
// Small text helpers for header values and configuration lists.
#include <string_view>
#include <vector>

namespace sluice {

// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
inline std::string_view trim_ows(std::string_view v)
{
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
        v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
        v.remove_suffix(1);
    return v;
}

// Whether a Host value or a request line's authority has only the characters a host has: letters,
// digits, '.', '-', '_', ':' (a port), '[' and ']' (an IPv6 literal), and bytes of UTF-8 names.
// No list separator, no userinfo, no path, no whitespace or control byte (nginx refuses them too).
inline bool valid_host_chars(std::string_view host)
{
    for (char c : host) {
        const auto u = static_cast<unsigned char>(c);
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '-' || c == '_' || c == ':' || c == '[' || c == ']' || u >= 0x80;
        if (!ok)
            return false;
    }
    return true;
}

// Calls `fn` with each item of a `separator`-separated list, trimmed, empty items skipped
// ("a, ,b" → a, b).
template <class Fn>
void for_each_item(std::string_view list, Fn&& fn, char separator = ',')
{
    while (!list.empty()) {
        auto at = list.find(separator);
        auto item = trim_ows(list.substr(0, at));
        list = at == std::string_view::npos ? std::string_view() : list.substr(at + 1);
        if (!item.empty())
            fn(item);
    }
}

// The items of a list as for_each_item finds them.
inline std::vector<std::string_view> split_list(std::string_view list, char separator = ',')
{
    std::vector<std::string_view> out;
    for_each_item(list, [&](std::string_view item) { out.push_back(item); }, separator);
    return out;
}

}  // namespace sluice
