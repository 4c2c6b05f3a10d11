#include "proxy/path_normalize.hpp"

#include "proxy/text.hpp"

namespace sluice {
namespace {

int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool iequals_prefix(std::string_view s, std::string_view prefix)
{
    if (s.size() < prefix.size())
        return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i])
            return false;
    }
    return true;
}

}  // namespace

bool split_request_target(std::string_view target, request_target& out)
{
    out = {};
    if (target.empty())
        return false;
    if (target.front() != '/') {
        size_t scheme_len = 0;
        if (iequals_prefix(target, "http://"))
            scheme_len = 7;
        else if (iequals_prefix(target, "https://"))
            scheme_len = 8;
        else
            return false;
        target.remove_prefix(scheme_len);
        size_t end = target.find_first_of("/?");
        out.authority = target.substr(0, end);
        // The authority becomes the upstream's Host: it must be one a Host field could carry.
        if (out.authority.empty() || !valid_host_chars(out.authority))
            return false;
        if (end == std::string_view::npos) {
            out.path = "/";
            return true;
        }
        target.remove_prefix(end);
        if (target.front() == '?') {
            out.path = "/";
            out.query = target.substr(1);
            out.has_query = true;
            return true;
        }
    }
    auto q = target.find('?');
    out.path = target.substr(0, q);
    if (q != std::string_view::npos) {
        out.query = target.substr(q + 1);
        out.has_query = true;
    }
    return true;
}

bool normalize_path(std::string_view raw, std::string& out)
{
    out.clear();
    out.reserve(raw.size());
    // Decode first; then resolve segments on the decoded form, as nginx's parser does.
    for (size_t i = 0; i < raw.size(); ++i) {
        char c = raw[i];
        if (c == '%') {
            if (i + 2 >= raw.size())
                return false;
            int hi = hex_value(raw[i + 1]);
            int lo = hex_value(raw[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = static_cast<char>(hi * 16 + lo);
            if (c == '\0')
                return false;
            i += 2;
        } else if (c == '\0') {
            return false;
        }
        if (c == '/' && !out.empty() && out.back() == '/')
            continue;  // merge_slashes
        out.push_back(c);
        // Resolve "/." and "/.." once the segment is complete (next char is '/' or end).
        bool segment_end = (i + 1 == raw.size()) || raw[i + 1] == '/' || raw[i + 1] == '?';
        if (!segment_end)
            continue;
        size_t n = out.size();
        if (n >= 2 && out[n - 1] == '.' && out[n - 2] == '/') {
            out.pop_back();  // "/." → "/"
        } else if (n >= 3 && out[n - 1] == '.' && out[n - 2] == '.' && out[n - 3] == '/') {
            out.resize(n - 3);  // drop "/.."
            if (out.empty())
                return false;  // above the root
            auto slash = out.rfind('/');
            out.resize(slash + 1);
        }
    }
    if (out.empty() || out.front() != '/')
        return false;
    return true;
}

}  // namespace sluice
