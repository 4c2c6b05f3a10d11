#pragma once
// Request-target handling as nginx does it before location matching: the path is percent-decoded,
// runs of slashes merged and "." / ".." segments resolved. The upstream still receives the
// request-target exactly as the client sent it.
#include <string>
#include <string_view>

namespace sluice {

struct request_target {
    std::string_view authority;  // from an absolute-form target, else empty
    std::string_view path;       // raw path, starts with '/'
    std::string_view query;      // without '?', may be empty
    bool has_query = false;
};

// Splits origin-form ("/a?b") and absolute-form ("http://h/a?b") targets. False for anything
// else (asterisk-form, authority-form, garbage).
bool split_request_target(std::string_view target, request_target& out);

// Decodes and normalises a raw path into `out`. False when the path is invalid: a bad escape,
// an encoded NUL, or ".." climbing above the root.
bool normalize_path(std::string_view raw_path, std::string& out);

}  // namespace sluice
