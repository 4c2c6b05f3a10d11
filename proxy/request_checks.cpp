#include "proxy/request_checks.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include <boost/beast/core/string.hpp>

#include "proxy/text.hpp"

namespace sluice {

namespace http = boost::beast::http;

unsigned check_request_header(const request_head& req)
{
    if (req.version() / 10 != 1)
        return 505;
    std::string_view method = req.method_string();
    for (char c : method)
        if (!((c >= 'A' && c <= 'Z') || c == '_' || c == '-'))
            return 400;
    if (req.method() == http::verb::connect)
        return 501;
    if (req.method() == http::verb::trace)
        return 405;

    size_t lengths = req.count(http::field::content_length);
    if (lengths > 1)
        return 400;
    if (lengths == 1) {
        std::string_view v = req[http::field::content_length];
        if (v.empty())
            return 400;
        for (char c : v)
            if (c < '0' || c > '9')
                return 400;
    }
    size_t encodings = req.count(http::field::transfer_encoding);
    if (encodings > 0) {
        if (encodings > 1 || lengths > 0 || req.version() < 11)
            return 400;
        if (!boost::beast::iequals(trim_ows(req[http::field::transfer_encoding]), "chunked"))
            return 501;
    }
    size_t hosts = req.count(http::field::host);
    if (hosts > 1)
        return 400;
    if (hosts == 1 && !valid_host_chars(req[http::field::host]))
        return 400;
    return 0;
}

header_scan scan_header(std::string_view bytes)
{
    // Leading empty lines before a request line are allowed (RFC 9112 2.2).
    size_t i = 0;
    while (i + 1 < bytes.size() && bytes[i] == '\r' && bytes[i + 1] == '\n')
        i += 2;
    // Line by line: memchr finds a line's LF and any CR before it, many bytes per step.
    const char* const data = bytes.data();
    const size_t n = bytes.size();
    for (;;) {
        if (i == n)
            return {};
        const auto* lf = static_cast<const char*>(std::memchr(data + i, '\n', n - i));
        const size_t end = lf ? static_cast<size_t>(lf - data) : n;
        // The line's only CR may be the byte before its LF (or the last byte buffered, whose LF
        // may follow); a CR anywhere else is not followed by LF.
        if (const auto* cr = static_cast<const char*>(std::memchr(data + i, '\r', end - i)); cr && cr + 1 != data + end)
            return {header_scan::malformed, 0};
        if (!lf)
            return {};
        if (end == 0 || data[end - 1] != '\r')
            return {header_scan::malformed, 0};
        if (end - 1 == i && i > 0)
            return {header_scan::complete, end + 1};  // the blank line
        if (end + 1 < n && (data[end + 1] == ' ' || data[end + 1] == '\t'))
            return {header_scan::malformed, 0};  // obs-fold, or whitespace before the first field
        i = end + 1;
    }
}

unsigned version_error_status(std::string_view received)
{
    std::string_view line = received.substr(0, received.find("\r\n"));
    auto space = line.rfind(' ');
    std::string_view version = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    // The line must be exactly METHOD SP TARGET SP VERSION.
    size_t spaces = static_cast<size_t>(std::count(line.begin(), line.end(), ' '));
    bool shaped = spaces == 2 && version.size() == 8 && version.starts_with("HTTP/") && version[6] == '.' &&
                  std::isdigit(static_cast<unsigned char>(version[5])) && std::isdigit(static_cast<unsigned char>(version[7]));
    return shaped && version[5] != '1' ? 505 : 400;
}

unsigned oversized_header_status(std::string_view received, size_t line_limit)
{
    size_t eol = received.find('\n');
    return eol == std::string_view::npos || eol > line_limit ? 414 : 431;
}

head_outcome parse_request_head(std::string_view buffered, request_parser& parser, const head_limits& limits)
{
    head_outcome out;
    header_scan scan = scan_header(buffered);
    if (scan.state == header_scan::incomplete) {
        if (buffered.size() >= limits.header) {
            out.state = head_outcome::refuse;
            out.status = oversized_header_status(buffered, limits.request_line);
        }
        return out;
    }
    out.state = head_outcome::refuse;
    if (scan.state == header_scan::malformed) {
        out.status = 400;
        return out;
    }
    boost::beast::error_code ec;
    size_t used = parser.put_head(buffered.substr(0, scan.length), ec);
    if (ec == http::error::header_limit)
        out.status = oversized_header_status(buffered, limits.request_line);
    else if (ec == http::error::bad_version)
        out.status = version_error_status(buffered);
    else if (ec || !parser.is_header_done())
        out.status = 400;
    else if (unsigned refused = check_request_header(parser.get()))
        out.status = refused;
    else {
        out.state = head_outcome::ready;
        out.consumed = used;
    }
    return out;
}

}  // namespace sluice
