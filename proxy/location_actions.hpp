#pragma once
// The request-time actions a location compiles to: capturing groups of its path regex, and the
// rewritten request-target. Pure functions, shared by the session and the micro-benchmarks.
#include <array>
#include <string>
#include <string_view>

#include "proxy/route_snapshot.hpp"

namespace sluice {

struct path_captures {
    std::array<std::string_view, 10> groups{};  // [0]: the whole match
    size_t count = 0;                            // 0: the path regex did not match (or there is none)
    std::span<const std::string_view> span() const { return {groups.data(), count}; }
};

// Runs the location's path regex (unanchored, as nginx's rewrite) over the normalised path.
path_captures capture_path(const location& loc, std::string_view path);

// nginx's `rewrite <path> <target> break`: the whole URI is replaced, the query string kept.
// Appends to `out`; false when the location has no rewrite or its regex did not match.
bool rewrite_target(const location& loc, const template_values& values, std::string_view query, bool has_query,
                    std::string& out);

}  // namespace sluice
