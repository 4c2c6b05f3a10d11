#include "proxy/cors.hpp"

#include <boost/beast/core/string.hpp>

namespace sluice {
namespace {

bool label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool origin_matches(std::string_view pattern, std::string_view origin)
{
    auto star = pattern.find("*.");
    if (star == std::string_view::npos)
        return boost::beast::iequals(pattern, origin);
    // scheme:// + one label + the rest of the pattern after '*'.
    std::string_view scheme = pattern.substr(0, star);
    std::string_view suffix = pattern.substr(star + 1);  // ".example.com[:port]"
    if (origin.size() <= scheme.size() + suffix.size() || !boost::beast::iequals(origin.substr(0, scheme.size()), scheme) ||
        !boost::beast::iequals(origin.substr(origin.size() - suffix.size()), suffix))
        return false;
    std::string_view label = origin.substr(scheme.size(), origin.size() - scheme.size() - suffix.size());
    for (char c : label)
        if (!label_char(c))
            return false;
    return !label.empty();
}

}  // namespace

std::string_view cors_policy::allow_origin(std::string_view origin) const
{
    if (any_origin)
        return "*";
    if (origin.empty())
        return {};
    for (const auto& pattern : origins)
        if (origin_matches(pattern, origin))
            return origin;
    return {};
}

}  // namespace sluice
