// An upstream response's bytes, arriving in pieces, through parse_buffered as the proxy reads
// them (a whole header parsed from the message's own copy, the end of a header looked for only
// where new bytes could complete it, the body into a small buffer), against Beast's parser given
// all the bytes at once: the same verdict, status line, fields, framing and body bytes.
//
// Input: the first byte seeds the sizes of the pieces; the rest is what the upstream sends.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "proxy/message_parser.hpp"

namespace {

using namespace sluice;
namespace http = boost::beast::http;
using boost::beast::error_code;

constexpr size_t header_limit = 8192;

struct outcome {
    bool failed = false;
    bool header_done = false;
    bool done = false;
    unsigned status = 0, version = 0;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> fields;
    bool chunked = false, keep_alive = false;
    std::optional<uint64_t> content_length;
    std::string body;
};

void prepare(response_parser& p)
{
    p.header_limit(header_limit);
    p.body_limit(boost::none);
}

// The body goes through a buffer this small, so that need_buffer comes up as it does in the proxy.
struct body_room {
    char bytes[61];
    void give(response_parser& p)
    {
        p.get().body().data = bytes;
        p.get().body().size = sizeof bytes;
    }
    void take(response_parser& p, std::string& body)
    {
        body.append(bytes, sizeof bytes - p.get().body().size);
    }
};

// After the last byte: the end of the stream, as read_some_parsed treats it.
void end_of_stream(response_parser& p, outcome& out)
{
    if (out.failed || p.is_done() || !p.got_some())
        return;
    error_code ec;
    p.put_eof(ec);
    out.failed = out.failed || ec;
}

void finish(response_parser& p, outcome& out)
{
    out.header_done = p.is_header_done();
    out.done = p.is_done();
    if (!out.header_done || out.failed)
        return;
    const auto& m = p.get();
    out.status = m.result_int();
    out.version = m.version();
    out.reason = std::string(m.reason());
    for (const auto& f : m)
        out.fields.emplace_back(f.name_string(), f.value());
    out.chunked = p.chunked();
    out.keep_alive = p.keep_alive();
    if (auto n = p.content_length())
        out.content_length = *n;
}

// The proxy's way: each piece appended to the buffer as a read would, then parsed until the
// parser needs more bytes.
outcome in_pieces(const char* data, size_t size, uint8_t seed)
{
    response_parser p;
    prepare(p);
    boost::beast::flat_buffer buffer;
    body_room room;
    outcome out;
    uint32_t state = seed * 2654435761u + 1;
    for (size_t at = 0; at < size && !out.failed && !p.is_done();) {
        state = state * 1103515245u + 12345u;
        const size_t piece = std::min<size_t>(size - at, 1 + (state >> 16) % 97);
        auto into = buffer.prepare(piece);
        std::memcpy(into.data(), data + at, piece);
        buffer.commit(piece);
        at += piece;
        size_t fresh = piece;
        for (;;) {
            const size_t buffered = buffer.size(), body = out.body.size();
            const bool header_done = p.is_header_done();
            room.give(p);
            error_code ec = parse_buffered(buffer, p, fresh);
            fresh = SIZE_MAX;
            room.take(p, out.body);
            if (ec == boost::asio::error::would_block)
                break;
            if (ec && ec != http::error::need_buffer) {
                out.failed = true;
                break;
            }
            if (p.is_done())
                break;
            // The proxy calls again at once when the parser neither failed nor asked for bytes:
            // a call that took nothing would spin it.
            if (buffer.size() == buffered && out.body.size() == body && p.is_header_done() == header_done)
                __builtin_trap();
        }
    }
    end_of_stream(p, out);
    finish(p, out);
    return out;
}

// Beast's parser given every byte at once.
outcome at_once(const char* data, size_t size)
{
    response_parser p;
    prepare(p);
    body_room room;
    outcome out;
    size_t at = 0;
    while (!p.is_done()) {
        room.give(p);
        error_code ec;
        const size_t used = p.put(boost::asio::const_buffer(data + at, size - at), ec);
        at += used;
        const size_t body = out.body.size();
        room.take(p, out.body);
        if (ec == http::error::need_more || (!ec && used == 0 && out.body.size() == body))
            break;
        if (ec && ec != http::error::need_buffer) {
            out.failed = true;
            break;
        }
    }
    end_of_stream(p, out);
    finish(p, out);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size < 2 || size > 4 * header_limit)
        return 0;
    const char* bytes = reinterpret_cast<const char*>(data + 1);
    const outcome pieces = in_pieces(bytes, size - 1, data[0]);
    const outcome whole = at_once(bytes, size - 1);
    // Where Beast accepts the bytes at once, the proxy's piecewise reading must see the same
    // response; where Beast refuses them, so must the proxy (the byte at which it notices may
    // differ, the verdict may not).
    if (pieces.failed != whole.failed)
        __builtin_trap();
    if (whole.failed)
        return 0;
    if (pieces.header_done != whole.header_done || pieces.done != whole.done || pieces.status != whole.status ||
        pieces.version != whole.version || pieces.reason != whole.reason || pieces.fields != whole.fields ||
        pieces.chunked != whole.chunked || pieces.keep_alive != whole.keep_alive ||
        pieces.content_length != whole.content_length || pieces.body != whole.body)
        __builtin_trap();
    return 0;
}
