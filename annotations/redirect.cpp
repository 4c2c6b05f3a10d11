#include "annotations/redirect.hpp"

namespace sluice::annotations {
namespace {

bool is_http_url(std::string_view url)
{
    auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos)
        return false;
    std::string_view scheme = url.substr(0, scheme_end);
    return scheme.starts_with("http") && url.size() > scheme_end + 3;
}

// A redirect code annotation: an integer; outside 300..308 the default is used.
std::optional<unsigned> redirect_code(annotation_reader& reader, const char* name, unsigned fallback, bool& broken)
{
    auto code = reader.integer(name);
    if (code.state == value_state::invalid) {
        broken = true;
        return std::nullopt;
    }
    if (!code.ok())
        return fallback;
    if (code.value < 300 || code.value > 308) {
        reader.invalid(name, std::to_string(code.value) + " is not a redirect code (300-308); using " +
                                 std::to_string(fallback));
        return fallback;
    }
    return static_cast<unsigned>(code.value);
}

}  // namespace

void parse_redirect(annotation_reader& reader, ingress_annotations& out)
{
    auto www = reader.boolean("from-to-www-redirect");
    out.redirect.from_to_www = www.ok() && www.value;

    for (auto [name, code_name, fallback] : {std::tuple{"temporal-redirect", "temporal-redirect-code", 302u},
                                            std::tuple{"permanent-redirect", "permanent-redirect-code", 301u}}) {
        bool broken = false;
        auto code = redirect_code(reader, code_name, fallback, broken);
        auto url = reader.string(name, is_url_with_variables, "an http(s) URL");
        if (!out.redirect.url.empty() || !url.ok())
            continue;  // the temporal redirect, read first, wins
        if (!is_http_url(url.value)) {
            reader.invalid(name, "\"" + url.value + "\": only http and https URLs are valid; ignored");
            continue;
        }
        if (broken) {
            // ingress-nginx drops the whole redirect when its code does not parse.
            reader.invalid(name, std::string("ignored because ") + code_name + " is not an integer");
            continue;
        }
        out.redirect.url = url.value;
        out.redirect.code = *code;
    }
}

}  // namespace sluice::annotations
