#include "tls/tls_socket.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>

#include <boost/asio/detail/reactive_socket_recv_op.hpp>
#include <boost/asio/ssl/error.hpp>

namespace sluice {

namespace asio = boost::asio;

namespace {

// The largest TLS record's payload: leading small buffers are gathered up to this.
constexpr size_t record_size = 16384;

// The state of sluice's socket BIO: OpenSSL's socket BIO, plus what its last read learned.
struct socket_bio_state {
    int fd;
    // The last read took everything the socket held (TCP_CM_INQ said 0, or it found nothing):
    // until the socket is reported readable again, a read would only fail with EAGAIN.
    bool drained = false;
    bool eof = false;  // a read returned the end of the stream (BIO_eof)
};

socket_bio_state& state_of(BIO* b) { return *static_cast<socket_bio_state*>(BIO_get_data(b)); }

int socket_bio_read(BIO* b, char* out, int size)
{
    namespace detail = boost::asio::detail;
    socket_bio_state& st = state_of(b);
    BIO_clear_retry_flags(b);
    iovec buf{out, static_cast<size_t>(size)};
    boost::system::error_code ec;
    size_t got = 0;
    // The read of Asio's receive operation as sluice replaces it (third_party/asio/): done and
    // exhausted when TCP_CM_INQ says nothing is left, a received FIN counting as one byte left.
    detail::reactor_op::status status = detail::recv_reporting_inq(st.fd, &buf, 1, 0, ec, got);
    if (status == detail::reactor_op::not_done) {  // EAGAIN
        st.drained = true;
        BIO_set_retry_read(b);
        return -1;
    }
    if (got > 0) {
        st.drained = status == detail::reactor_op::done_and_exhausted;
        return static_cast<int>(got);
    }
    if (ec == asio::error::eof) {
        st.eof = true;
        return 0;
    }
    return -1;  // errno stays as recvmsg left it, for SSL_ERROR_SYSCALL
}

int socket_bio_write(BIO* b, const char* in, int size)
{
    BIO_clear_retry_flags(b);
    for (;;) {
        ssize_t n = ::send(state_of(b).fd, in, static_cast<size_t>(size), MSG_NOSIGNAL);
        if (n >= 0)
            return static_cast<int>(n);
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_write(b);
        return -1;
    }
}

// The controls OpenSSL's socket BIO answers that an SSL object asks of its BIO.
long socket_bio_ctrl(BIO* b, int cmd, long, void* ptr)
{
    switch (cmd) {
    case BIO_CTRL_EOF:
        return state_of(b).eof ? 1 : 0;
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_C_GET_FD:
        if (ptr)
            *static_cast<int*>(ptr) = state_of(b).fd;
        return state_of(b).fd;
    case BIO_CTRL_GET_CLOSE:
        return BIO_NOCLOSE;  // the descriptor is the socket object's
    case BIO_CTRL_SET_CLOSE:
        return 1;
    default:
        return 0;
    }
}

int socket_bio_destroy(BIO* b)
{
    delete static_cast<socket_bio_state*>(BIO_get_data(b));
    BIO_set_data(b, nullptr);
    return 1;
}

// OpenSSL's socket BIO, except that reads use recvmsg and learn from TCP_CM_INQ whether the
// socket is drained (third_party/asio/README.md explains the same for plain sockets).
BIO_METHOD* socket_bio_method()
{
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "sluice socket");
        if (!m || BIO_meth_set_read(m, socket_bio_read) != 1 || BIO_meth_set_write(m, socket_bio_write) != 1 ||
            BIO_meth_set_ctrl(m, socket_bio_ctrl) != 1 || BIO_meth_set_destroy(m, socket_bio_destroy) != 1)
            throw std::bad_alloc();
        return m;
    }();
    return method;
}

}  // namespace

void tls_socket::start(SSL_CTX* ctx, tls_role role)
{
    ssl_.reset(SSL_new(ctx));
    if (!ssl_)
        throw std::bad_alloc();
    auto state = std::make_unique<socket_bio_state>(socket_bio_state{socket_.native_handle()});
    BIO* bio = BIO_new(socket_bio_method());
    if (!bio)
        throw std::bad_alloc();
    BIO_set_data(bio, state.release());
    BIO_set_init(bio, 1);
    SSL* ssl = ssl_.get();
    SSL_set_bio(ssl, bio, bio);  // one reference, for both directions
    if (role == tls_role::server)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // Whole socket reads into OpenSSL's buffer instead of one for a record's header and one for
    // its body. Every wait follows a call that found too few bytes, or a read skipped because
    // the socket was drained while OpenSSL held nothing, so nothing read ahead is left waiting
    // for a readiness that will not come.
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

void tls_socket::readiness_seen() noexcept
{
    state_of(SSL_get_rbio(ssl_.get())).drained = false;
}

size_t tls_socket::read(void* data, size_t size, error_code& ec)
{
    if (state_of(SSL_get_rbio(ssl_.get())).drained && SSL_has_pending(ssl_.get()) != 1) {
        // The last read emptied the socket and OpenSSL holds nothing: SSL_read would only
        // fail with EAGAIN. Wait for readability instead.
        want_ = want::read;
        ec = asio::error::would_block;
        return 0;
    }
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
