#include "proxy/http_wire.hpp"

#include <algorithm>
#include <cassert>
#include <cstdio>

namespace sluice {

namespace http = boost::beast::http;

namespace {

void append_version(std::string& out, unsigned version)
{
    out += "HTTP/";
    out += static_cast<char>('0' + version / 10);
    out += '.';
    out += static_cast<char>('0' + version % 10);
}

void append_fields(std::string& out, const header_fields& fields)
{
    // Sized once, then copied into: one capacity check instead of four per field.
    size_t size = 2;
    for (const auto& f : fields)
        size += f.name_string().size() + f.value().size() + 4;
    const size_t at = out.size();
    out.resize(at + size);
    char* p = out.data() + at;
    for (const auto& f : fields) {
        const auto name = f.name_string();
        const auto value = f.value();
        p = std::copy(name.begin(), name.end(), p);
        *p++ = ':';
        *p++ = ' ';
        p = std::copy(value.begin(), value.end(), p);
        *p++ = '\r';
        *p++ = '\n';
    }
    *p++ = '\r';
    *p++ = '\n';
}

}  // namespace

void append_head(std::string& out, const request_head& h)
{
    const auto method = h.method_string();
    const auto target = h.target();
    out.append(method.data(), method.size());
    out += ' ';
    out.append(target.data(), target.size());
    out += ' ';
    append_version(out, h.version());
    out += "\r\n";
    append_fields(out, h);
}

void append_head(std::string& out, const response_head& h)
{
    append_version(out, h.version());
    const unsigned code = h.result_int();
    const char digits[] = {' ', static_cast<char>('0' + code / 100 % 10), static_cast<char>('0' + code / 10 % 10),
                           static_cast<char>('0' + code % 10), ' '};
    out.append(digits, sizeof digits);
    auto reason = h.reason();
    if (reason.empty())
        reason = http::obsolete_reason(h.result());
    out.append(reason.data(), reason.size());
    out += "\r\n";
    append_fields(out, h);
}

void wire_buffers::push(const void* data, size_t n)
{
    assert(end_ < bufs_.size());
    if (n)
        bufs_[end_++] = boost::asio::const_buffer(data, n);
}

void wire_buffers::add(std::string_view bytes)
{
    push(bytes.data(), bytes.size());
}

void wire_buffers::add_chunk(const char* data, size_t n, bool last)
{
    static constexpr std::string_view crlf_last = "\r\n0\r\n\r\n";
    if (n) {
        const int len = std::snprintf(size_line_, sizeof size_line_, "%zx\r\n", n);
        push(size_line_, static_cast<size_t>(len));
        push(data, n);
        // The CRLF that ends this chunk, and the last chunk with it when the body ends here.
        push(crlf_last.data(), last ? crlf_last.size() : 2);
    } else if (last) {
        push(crlf_last.data() + 2, crlf_last.size() - 2);
    }
}

void wire_buffers::consume(size_t n)
{
    while (n && begin_ != end_) {
        boost::asio::const_buffer& b = bufs_[begin_];
        if (n < b.size()) {
            b += n;
            return;
        }
        n -= b.size();
        ++begin_;
    }
    if (begin_ == end_)
        begin_ = end_ = 0;
}

}  // namespace sluice
