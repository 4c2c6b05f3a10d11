#pragma once
// HTTP/1.1 messages as they go on the wire: the head (start line and fields) written into one
// buffer, and body pieces framed as the message's encoding requires. The proxy relays bodies piece
// by piece as they arrive, so one write is the head (the first time), the framing and the bytes
// of the piece, gathered into a single system call.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include "proxy/message_parser.hpp"

namespace sluice {

// Appends "METHOD target HTTP/x.y\r\n", each field as "Name: value\r\n", then "\r\n".
void append_head(std::string& out, const request_head& h);
// Appends "HTTP/x.y code reason\r\n" (the standard reason when the message has none), the fields
// and "\r\n".
void append_head(std::string& out, const response_head& h);

// The buffers of one write, consumed from the front as the socket takes them.
class wire_buffers {
public:
    wire_buffers() = default;
    wire_buffers(const wire_buffers&) = delete;
    wire_buffers& operator=(const wire_buffers&) = delete;

    // Bytes sent as they are: a head, or a body piece of a message framed by Content-Length or by
    // the end of the connection.
    void add(std::string_view bytes);
    // A piece of a chunked body: "size\r\n" bytes "\r\n" (nothing for an empty piece), then the
    // last chunk "0\r\n\r\n" when `last`.
    void add_chunk(const char* data, size_t n, bool last);
    // A body piece in the message's framing.
    void add_body(const char* data, size_t n, bool last, bool chunked)
    {
        if (chunked)
            add_chunk(data, n, last);
        else
            add({data, n});
    }

    bool empty() const { return begin_ == end_; }
    void consume(size_t n);
    void clear() { begin_ = end_ = 0; }
    // The buffers not yet written, as a buffer sequence. Valid until the next add or consume.
    struct view_type {
        const boost::asio::const_buffer* first;
        const boost::asio::const_buffer* last;
        const boost::asio::const_buffer* begin() const { return first; }
        const boost::asio::const_buffer* end() const { return last; }
    };
    view_type view() const { return {bufs_.data() + begin_, bufs_.data() + end_}; }

private:
    void push(const void* data, size_t n);
    std::array<boost::asio::const_buffer, 6> bufs_;
    size_t begin_ = 0;
    size_t end_ = 0;
    char size_line_[24];  // the chunk's size in hex and CRLF
};

// Writes what the stream takes of `w` now, without waiting (sockets are non-blocking). Returns
// would_block, with the rest left in `w`, when the stream is full.
template <class Stream>
boost::system::error_code write_now(Stream& stream, wire_buffers& w, uint64_t* written = nullptr)
{
    boost::system::error_code ec;
    while (!w.empty()) {
        const size_t n = stream.write_some(w.view(), ec);
        w.consume(n);
        if (written)
            *written += n;
        if (ec)
            break;
    }
    return ec;
}

}  // namespace sluice
