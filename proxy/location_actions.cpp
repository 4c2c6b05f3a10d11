#include "proxy/location_actions.hpp"

#include <algorithm>

namespace sluice {

path_captures capture_path(const location& loc, std::string_view path)
{
    path_captures c;
    if (!loc.path_regex)
        return c;
    std::array<re2::StringPiece, 10> groups;
    int n = std::min(loc.path_regex->NumberOfCapturingGroups() + 1, 10);
    if (!loc.path_regex->Match(re2::StringPiece(path.data(), path.size()), 0, path.size(), re2::RE2::UNANCHORED,
                               groups.data(), n))
        return c;
    c.count = static_cast<size_t>(n);
    for (size_t i = 0; i < c.count; ++i)
        c.groups[i] = std::string_view(groups[i].data(), groups[i].size());
    return c;
}

bool rewrite_target(const location& loc, const template_values& values, std::string_view query, bool has_query,
                    std::string& out)
{
    if (!loc.rewrite || values.captures.empty())
        return false;
    size_t start = out.size();
    loc.rewrite->expand(values, out);
    if (out.size() == start || out[start] != '/')
        out.insert(out.begin() + static_cast<std::ptrdiff_t>(start), '/');
    if (has_query) {
        out += '?';
        out += query;
    }
    return true;
}

}  // namespace sluice
