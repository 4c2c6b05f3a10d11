#include "annotations/canary.hpp"

namespace sluice::annotations {
namespace {

// ingress-nginx's BasicCharsRegex: alphanumerics and -._~/:
bool is_basic_chars(std::string_view s)
{
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("-._~/:").find(c) != std::string_view::npos))
            return false;
    return true;
}

}  // namespace

void parse_canary(annotation_reader& reader, ingress_annotations& out)
{
    canary_config c;
    auto enabled = reader.boolean("canary");
    c.enabled = enabled.ok() && enabled.value;
    // ingress-nginx: a missing or invalid weight is 0, a missing or invalid total is 100.
    if (auto w = reader.integer("canary-weight"); w.ok()) {
        if (w.value < 0)
            reader.invalid("canary-weight", std::to_string(w.value) + " is negative; using 0");
        else
            c.weight = static_cast<uint32_t>(std::min<int64_t>(w.value, UINT32_MAX));
    }
    if (auto t = reader.integer("canary-weight-total"); t.ok()) {
        if (t.value <= 0)
            reader.invalid("canary-weight-total", std::to_string(t.value) + " is not positive; using 100");
        else
            c.weight_total = static_cast<uint32_t>(std::min<int64_t>(t.value, UINT32_MAX));
    }
    if (auto h = reader.string("canary-by-header", is_basic_chars, "a header name"); h.ok())
        c.header = h.value;
    if (auto v = reader.string("canary-by-header-value", is_basic_chars, "letters, digits and -._~/:"); v.ok())
        c.header_value = v.value;
    // The pattern is compiled (RE2) when the model is built; a pattern RE2 refuses is reported there.
    if (auto p = reader.string("canary-by-header-pattern", nullptr, "a regular expression"); p.ok())
        c.header_pattern = p.value;
    if (auto k = reader.string("canary-by-cookie", is_basic_chars, "a cookie name"); k.ok())
        c.cookie = k.value;
    bool configured = c.weight > 0 || !c.header.empty() || !c.header_value.empty() || !c.header_pattern.empty() ||
                      !c.cookie.empty();
    if (!c.enabled && configured)
        reader.invalid("canary", "canary-* annotations are set but canary is not \"true\"; they are ignored");
    if (c.enabled)
        out.canary = std::move(c);
}

}  // namespace sluice::annotations
