#include "proxy/url_template.hpp"

#include <array>

namespace sluice {
namespace {

struct variable_name {
    std::string_view name;
    template_variable v;
};
constexpr std::array<variable_name, 8> variables{{
    {"request_uri", template_variable::request_uri},
    {"uri", template_variable::uri},
    {"host", template_variable::host},
    {"http_host", template_variable::http_host},
    {"scheme", template_variable::scheme},
    {"args", template_variable::args},
    {"query_string", template_variable::args},
    {"server_port", template_variable::server_port},
}};

bool is_name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

}  // namespace

std::optional<url_template> url_template::parse(std::string_view text, bool allow_variables, std::string& error)
{
    url_template t;
    t.text_ = std::string(text);
    std::string literal;
    auto flush = [&] {
        if (!literal.empty())
            t.parts_.push_back({part::kind::literal, std::move(literal)});
        literal.clear();
    };
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '$' || i + 1 == text.size()) {
            literal.push_back(text[i]);
            continue;
        }
        char next = text[i + 1];
        if (next >= '0' && next <= '9') {
            flush();
            int n = next - '0';
            t.parts_.push_back({part::kind::capture, {}, n});
            t.max_capture_ = std::max(t.max_capture_, n);
            ++i;
            continue;
        }
        bool braced = next == '{';
        size_t start = i + 1 + (braced ? 1 : 0);
        size_t end = start;
        while (end < text.size() && is_name_char(text[end]))
            ++end;
        std::string_view name = text.substr(start, end - start);
        if (name.empty()) {
            literal.push_back('$');
            continue;
        }
        if (braced && (end >= text.size() || text[end] != '}')) {
            error = "unterminated ${ in \"" + std::string(text) + "\"";
            return std::nullopt;
        }
        if (!allow_variables) {
            error = "variable $" + std::string(name) + " is not allowed here (only $1..$9)";
            return std::nullopt;
        }
        const variable_name* found = nullptr;
        for (const auto& v : variables)
            if (v.name == name)
                found = &v;
        if (!found) {
            error = "variable $" + std::string(name) +
                    " is not supported (supported: $request_uri, $uri, $host, $http_host, $scheme, $args, "
                    "$query_string, $server_port)";
            return std::nullopt;
        }
        flush();
        t.parts_.push_back({part::kind::variable, {}, 0, found->v});
        i = end - 1 + (braced ? 1 : 0);
    }
    flush();
    return t;
}

void append_uri_escaped(std::string_view in, std::string& out)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    for (char ch : in) {
        auto c = static_cast<unsigned char>(ch);
        bool raw = c > 0x20 && c < 0x7f && c != '"' && c != '#' && c != '%' && c != '?' && c != '<' && c != '>' &&
                   c != '\\' && c != '^' && c != '`' && c != '{' && c != '|' && c != '}';
        if (raw) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
}

void url_template::expand(const template_values& values, std::string& out) const
{
    for (const auto& p : parts_) {
        switch (p.k) {
        case part::kind::literal:
            out += p.literal;
            break;
        case part::kind::capture:
            // A capture the match did not set expands to nothing, as in nginx.
            if (static_cast<size_t>(p.capture) < values.captures.size())
                append_uri_escaped(values.captures[static_cast<size_t>(p.capture)], out);
            break;
        case part::kind::variable:
            switch (p.variable) {
            case template_variable::request_uri: out += values.request_uri; break;
            case template_variable::uri: append_uri_escaped(values.uri, out); break;
            case template_variable::host: out += values.host; break;
            case template_variable::http_host: out += values.http_host; break;
            case template_variable::scheme: out += values.scheme; break;
            case template_variable::args: out += values.args; break;
            case template_variable::server_port: out += values.server_port; break;
            }
            break;
        }
    }
}

}  // namespace sluice
