#pragma once
// An HTTP/1 parser that fills a message with `header_fields` and a `buffer_body`: Beast's parsing
// engine (basic_parser: start line, fields, framing, chunked decoding, limits) with the proxy's
// own field storage. Beast's `http::parser` always stores `basic_fields`.
#include <cstdint>
#include <string_view>

#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>

#include "proxy/header_fields.hpp"

namespace sluice {

using request_head = boost::beast::http::request_header<header_fields>;
using response_head = boost::beast::http::response_header<header_fields>;

template <bool isRequest>
class message_parser final : public boost::beast::http::basic_parser<isRequest> {
public:
    using message_type = boost::beast::http::message<isRequest, boost::beast::http::buffer_body, header_fields>;

    message_parser() = default;
    message_parser(const message_parser&) = delete;
    message_parser& operator=(const message_parser&) = delete;

    message_type& get() noexcept { return m_; }
    const message_type& get() const noexcept { return m_; }

    // Parses a whole header (the bytes up to and including its blank line) from a copy in the
    // message's own storage, so that its fields are views into that copy instead of a copy each.
    std::size_t put_head(std::string_view head, boost::beast::error_code& ec)
    {
        const std::string_view held = m_.adopt(head);
        return this->put(boost::asio::const_buffer(held.data(), held.size()), ec);
    }

private:
    using verb = boost::beast::http::verb;
    using field = boost::beast::http::field;
    using string_view = boost::beast::string_view;
    using error_code = boost::beast::error_code;

    void on_request_impl(verb method, string_view method_str, string_view target, int version,
                         error_code&) override
    {
        if constexpr (isRequest) {
            m_.target(target);
            if (method != verb::unknown)
                m_.method(method);
            else
                m_.method_string(method_str);
            m_.version(static_cast<unsigned>(version));
        }
    }

    void on_response_impl(int code, string_view reason, int version, error_code&) override
    {
        if constexpr (!isRequest) {
            m_.result(static_cast<unsigned>(code));
            m_.version(static_cast<unsigned>(version));
            m_.reason(reason);
        }
    }

    void on_field_impl(field name, string_view name_string, string_view value, error_code&) override
    {
        m_.insert(name, name_string, value);
    }

    void on_header_impl(error_code& ec) override { ec = {}; }

    void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code& ec) override
    {
        body_.init(content_length, ec);
    }

    std::size_t on_body_impl(string_view body, error_code& ec) override
    {
        return body_.put(boost::asio::const_buffer(body.data(), body.size()), ec);
    }

    void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}

    std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) override
    {
        return body_.put(boost::asio::const_buffer(body.data(), body.size()), ec);
    }

    void on_finish_impl(error_code& ec) override { body_.finish(ec); }

    message_type m_;
    boost::beast::http::buffer_body::reader body_{m_.base(), m_.body()};
};

using request_parser = message_parser<true>;
using response_parser = message_parser<false>;

// Parses what `buffer` holds into `parser`, consuming what it took; would_block when the parser
// needs more bytes from the stream. A whole header is parsed from the message's own copy
// (put_head); a partial or malformed one from the buffer, where Beast finds what is wrong with
// it. `fresh` is how many of the buffered bytes arrived since the last call (all, by default):
// the end of a header is looked for only where new bytes could complete it, so a header trickled
// in is not scanned again and again.
template <bool isRequest>
boost::beast::error_code parse_buffered(boost::beast::flat_buffer& buffer, message_parser<isRequest>& parser,
                                        std::size_t fresh = SIZE_MAX)
{
    if (buffer.size() == 0)
        return boost::asio::error::would_block;
    boost::beast::error_code ec;
    if (!parser.is_header_done()) {
        const std::string_view bytes(static_cast<const char*>(buffer.data().data()), buffer.size());
        const std::size_t from = fresh < bytes.size() && bytes.size() - fresh > 3 ? bytes.size() - fresh - 3 : 0;
        if (const std::size_t end = bytes.find("\r\n\r\n", from); end != std::string_view::npos) {
            const std::size_t used = parser.put_head(bytes.substr(0, end + 4), ec);
            if (ec != boost::beast::http::error::need_more) {
                buffer.consume(used);
                return ec;
            }
            ec = {};
        }
    }
    buffer.consume(parser.put(buffer.data(), ec));
    return ec == boost::beast::http::error::need_more ? boost::beast::error_code(boost::asio::error::would_block) : ec;
}

}  // namespace sluice
