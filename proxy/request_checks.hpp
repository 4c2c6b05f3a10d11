#pragma once
// Checks on a request header that Beast's parser accepts but a proxy must not pass on: anything
// whose framing or meaning two HTTP implementations could read differently (request smuggling),
// and what nginx refuses. Run once the header is in, before any body byte is read.
#include <string_view>

#include <boost/beast/http/message.hpp>

namespace sluice {

// 0 when the request may proceed, else the status to answer (and close) with:
// 505 for a major version other than 1; 400 for a method that is not upper-case letters, '_' or
// '-', a repeated Content-Length, a Content-Length that is not only digits, Transfer-Encoding
// with Content-Length, repeated or in HTTP/1.0, a repeated Host, or a Host with characters no
// host name has; 501 for CONNECT and for any Transfer-Encoding other than "chunked" (as nginx);
// 405 for TRACE (as nginx).
unsigned check_request_header(const boost::beast::http::request_header<>& req);

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

}  // namespace sluice
