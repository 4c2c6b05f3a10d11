#pragma once
// Checks on a request header that Beast's parser accepts but a proxy must not pass on: anything
// whose framing or meaning two HTTP implementations could read differently (request smuggling),
// and what nginx refuses. Run once the header is in, before any body byte is read.
#include <string_view>

#include "proxy/message_parser.hpp"

namespace sluice {

// 0 when the request may proceed, else the status to answer (and close) with:
// 505 for a major version other than 1; 400 for a method that is not upper-case letters, '_' or
// '-', a repeated Content-Length, a Content-Length that is not only digits, Transfer-Encoding
// with Content-Length, repeated or in HTTP/1.0, a repeated Host, or a Host with characters no
// host name has; 501 for CONNECT and for any Transfer-Encoding other than "chunked" (as nginx);
// 405 for TRACE (as nginx).
unsigned check_request_header(const request_head& req);

// Where a request header ends in buffered bytes, checked as raw bytes: lines end in CRLF (a bare
// CR or LF is malformed), and no header line is folded onto the previous one (obs-fold).
struct header_scan {
    enum state_t { incomplete, complete, malformed } state = incomplete;
    size_t length = 0;  // bytes up to and including the blank line, when complete
};
header_scan scan_header(std::string_view bytes);

// For a request line whose version Beast refused: 505 when it ends in a well-formed
// "HTTP/x.y" with a major version other than 1 (HTTP/2.0 sent in clear text, say), else 400.
unsigned version_error_status(std::string_view received);

// The status for a header over the size limit: 414 when the request line alone does not fit in
// `line_limit` bytes, else 431. `received` is what was buffered when the limit was hit.
unsigned oversized_header_status(std::string_view received, size_t line_limit);

// The header stage of a downstream request, on the bytes buffered so far (the proxy calls it after
// every read, the request-path fuzzer on its input): the raw-byte scan, the size limits, Beast's
// parse of the complete header and the checks above.
struct head_limits {
    size_t header = 32 * 1024;        // the whole header, request line included
    size_t request_line = 8 * 1024;   // the request line alone (414 beyond it)
};
struct head_outcome {
    enum state_t { need_more, ready, refuse } state = need_more;
    unsigned status = 0;   // refuse: the status to answer (and close) with
    size_t consumed = 0;   // ready: the header's bytes, which the parser has taken
};
// `parser` must be fresh, with its header limit set to `limits.header`.
head_outcome parse_request_head(std::string_view buffered, request_parser& parser, const head_limits& limits);

}  // namespace sluice
