#pragma once
// A URL or path with $1..$9 captures and, where allowed, a fixed set of request variables
// ($request_uri, $uri, $host, $http_host, $scheme, $args, $query_string, $server_port). Parsed once
// at build time; expanded per request by substitution only, never evaluated.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

enum class template_variable { request_uri, uri, host, http_host, scheme, args, server_port };

struct template_values {
    std::span<const std::string_view> captures;  // [0] is the whole match
    std::string_view request_uri, uri, host, http_host, scheme, args, server_port;
};

class url_template {
public:
    // False with `error` set for an unknown variable (or any variable when they are not allowed).
    static std::optional<url_template> parse(std::string_view text, bool allow_variables, std::string& error);

    // The highest capture number used, or -1.
    int max_capture() const { return max_capture_; }
    const std::string& text() const { return text_; }
    // Appends the expansion to `out`. Captures are percent-encoded where a raw byte would not be
    // valid in a URI (they come from the decoded path).
    void expand(const template_values& values, std::string& out) const;

private:
    struct part {
        enum class kind { literal, capture, variable } k;
        std::string literal;
        int capture = 0;
        template_variable variable = template_variable::uri;
    };
    std::vector<part> parts_;
    std::string text_;
    int max_capture_ = -1;
};

// Percent-encodes the bytes of `in` that cannot stand raw in a request-target.
void append_uri_escaped(std::string_view in, std::string& out);

}  // namespace sluice
