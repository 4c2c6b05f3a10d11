#include "tls/tls_socket.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include <openssl/err.h>

#include <boost/asio/ssl/error.hpp>

namespace sluice {

namespace asio = boost::asio;

namespace {

// The largest TLS record's payload: leading small buffers are gathered up to this.
constexpr size_t record_size = 16384;

}  // namespace

void tls_socket::start(SSL_CTX* ctx, tls_role role)
{
    ssl_.reset(SSL_new(ctx));
    if (!ssl_ || SSL_set_fd(ssl_.get(), socket_.native_handle()) != 1)
        throw std::bad_alloc();
    SSL* ssl = ssl_.get();
    if (role == tls_role::server)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // Whole socket reads into OpenSSL's buffer instead of one for a record's header and one for
    // its body. Every wait follows a call that found too few bytes, so nothing read ahead is
    // left waiting for a readiness that will not come.
    SSL_set_read_ahead(ssl, 1);
}

tls_socket::error_code tls_socket::failure(int result, int saved_errno)
{
    switch (SSL_get_error(ssl_.get(), result)) {
    case SSL_ERROR_WANT_READ:
        want_ = want::read;
        return asio::error::would_block;
    case SSL_ERROR_WANT_WRITE:
        want_ = want::write;
        return asio::error::would_block;
    case SSL_ERROR_ZERO_RETURN:
        return asio::error::eof;
    case SSL_ERROR_SYSCALL:
        if (unsigned long queued = ERR_get_error())
            return {static_cast<int>(queued), asio::error::get_ssl_category()};
        if (saved_errno == 0)
            return asio::error::eof;
        return {saved_errno, boost::system::system_category()};
    case SSL_ERROR_SSL:
        return {static_cast<int>(ERR_get_error()), asio::error::get_ssl_category()};
    default:  // no callbacks here can ask to be called again
        return asio::ssl::error::unspecified_system_error;
    }
}

size_t tls_socket::read(void* data, size_t size, error_code& ec)
{
    ERR_clear_error();
    size_t got = 0;
    int r = SSL_read_ex(ssl_.get(), data, size, &got);
    if (r == 1) {
        ec = {};
        return got;
    }
    ec = failure(r, errno);
    return 0;
}

size_t tls_socket::write(const asio::const_buffer* pieces, size_t count, error_code& ec)
{
    ec = {};
    if (count == 0)
        return 0;
    const void* data = pieces[0].data();
    size_t size = pieces[0].size();
    if (count > 1 && size < record_size) {
        // One record for a header and the body after it, instead of a record each. A retry
        // after would_block offers the same buffers, so it gathers the same bytes.
        static thread_local char gathered[record_size];
        size = 0;
        for (size_t i = 0; i < count && size < record_size; ++i) {
            size_t take = std::min(pieces[i].size(), record_size - size);
            std::memcpy(gathered + size, pieces[i].data(), take);
            size += take;
        }
        data = gathered;
    }
    ERR_clear_error();
    size_t written = 0;
    int r = SSL_write_ex(ssl_.get(), data, size, &written);
    if (r == 1)
        return written;
    ec = failure(r, errno);
    return 0;
}

void tls_socket::handshake_step(error_code& ec)
{
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_.get());
    ec = r == 1 ? error_code{} : failure(r, errno);
}

void tls_socket::shutdown_step(error_code& ec)
{
    if (!close_sent_) {
        ERR_clear_error();
        int r = SSL_shutdown(ssl_.get());
        if (r < 0) {
            ec = failure(r, errno);
            return;
        }
        close_sent_ = true;
        if (r == 1) {  // the peer's close_notify had already come
            ec = {};
            return;
        }
    }
    char sink[1024];
    for (;;) {
        ERR_clear_error();
        size_t got = 0;
        int r = SSL_read_ex(ssl_.get(), sink, sizeof sink, &got);
        if (r == 1)
            continue;  // what the client still sent is dropped
        ec = failure(r, errno);
        if (ec == asio::error::eof)
            ec = {};  // its close_notify, or the end of the stream
        return;
    }
}

}  // namespace sluice
