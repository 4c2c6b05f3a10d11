#pragma once
// A TLS connection (a client's to sluice, or sluice's to an HTTPS upstream), driven directly on
// its non-blocking socket, as nginx drives OpenSSL: the SSL object reads and writes the file
// descriptor itself, and an operation that cannot go on waits for the socket to become readable
// or writable and tries again.
//
// Against Asio's ssl::stream this keeps no buffers of its own (Asio's keeps two 17 KiB vectors
// and a 2 × 17 KiB BIO pair per connection, about 70 KiB even while idle; with
// SSL_MODE_RELEASE_BUFFERS an idle connection here holds only OpenSSL's state), copies nothing
// twice, and offers non-blocking synchronous reads and writes, so that a read or write the
// socket can take at once costs no suspension, as on a plain socket.
//
// Reads and writes may be outstanding at the same time (a tunnel), both on one thread.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include <openssl/ssl.h>

#include <boost/asio/append.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include "tls/ssl_ptr.hpp"

namespace sluice {

enum class tls_role : uint8_t { client, server };

class tls_socket {
public:
    using socket_type = boost::asio::ip::tcp::socket;
    using executor_type = socket_type::executor_type;
    using error_code = boost::system::error_code;

    // Takes a connected socket, made non-blocking, for the server side of a handshake with
    // `ctx` (whose reference count the connection holds from then on).
    tls_socket(socket_type socket, SSL_CTX* ctx) : socket_(std::move(socket)) { start(ctx, tls_role::server); }
    // A socket still to be connected; start() follows once it is.
    explicit tls_socket(socket_type socket) noexcept : socket_(std::move(socket)) {}
    // Takes a connection back from release(): established, nothing buffered for the reader, and
    // the socket just found readable.
    tls_socket(socket_type socket, ssl_ptr ssl) noexcept : socket_(std::move(socket)), ssl_(std::move(ssl))
    {
        readiness_seen();
    }
    tls_socket(tls_socket&& other) noexcept = default;
    tls_socket& operator=(tls_socket&&) = delete;

    // Sets up the SSL object on the connected, non-blocking socket. Throws std::bad_alloc.
    void start(SSL_CTX* ctx, tls_role role);

    executor_type get_executor() { return socket_.get_executor(); }
    socket_type& next_layer() { return socket_; }
    SSL* native_handle() const { return ssl_.get(); }

    // Gives up the socket and the SSL object (whose buffers OpenSSL has released when empty),
    // for a connection parked between requests: valid after a read that waited for the socket
    // and was cancelled, so that nothing decrypted is pending.
    std::pair<socket_type, ssl_ptr> release() && { return {std::move(socket_), std::move(ssl_)}; }
    // Whether OpenSSL holds bytes already read from the socket (a record, or part of one), so
    // that a read may make progress without the socket becoming readable.
    bool has_buffered_input() const noexcept { return SSL_has_pending(ssl_.get()) == 1; }
    // Whether the last call that would block was waiting for the socket to become writable.
    bool wants_write() const noexcept { return want_ == want::write; }

    // Non-blocking, like a non-blocking socket's: would_block when the socket is not ready, and
    // then the asynchronous form waits for it. The end of the stream (close_notify, or a close
    // without one) is asio::error::eof; a TLS failure has Asio's SSL error category.
    template <class MutableBufferSequence>
    size_t read_some(const MutableBufferSequence& buffers, error_code& ec)
    {
        for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
            boost::asio::mutable_buffer b = *it;
            if (b.size() != 0)
                return read(b.data(), b.size(), ec);
        }
        ec = {};
        return 0;
    }

    // Writes a prefix of `buffers`. Small leading buffers (a header and the start of a body) are
    // gathered into one record. After would_block the same bytes must be offered again (or more
    // after them): OpenSSL has already sealed the record.
    template <class ConstBufferSequence>
    size_t write_some(const ConstBufferSequence& buffers, error_code& ec)
    {
        std::array<boost::asio::const_buffer, max_gather> pieces;
        size_t count = 0;
        for (auto it = boost::asio::buffer_sequence_begin(buffers);
             it != boost::asio::buffer_sequence_end(buffers) && count < pieces.size(); ++it) {
            boost::asio::const_buffer b = *it;
            if (b.size() != 0)
                pieces[count++] = b;
        }
        return write(pieces.data(), count, ec);
    }

    // Throwing forms, for Beast's synchronous stream concepts.
    template <class MutableBufferSequence>
    size_t read_some(const MutableBufferSequence& buffers)
    {
        return or_throw([&](error_code& ec) { return read_some(buffers, ec); });
    }
    template <class ConstBufferSequence>
    size_t write_some(const ConstBufferSequence& buffers)
    {
        return or_throw([&](error_code& ec) { return write_some(buffers, ec); });
    }

    void handshake_step(error_code& ec);
    // Sends close_notify, then reads (and drops) what the peer still sends until its close_notify
    // or the end of the stream.
    void shutdown_step(error_code& ec);

    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token)
    {
        return initiate<void(error_code, size_t)>(
            [this, buffers](error_code& ec) { return read_some(buffers, ec); }, std::forward<Token>(token));
    }
    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token)
    {
        return initiate<void(error_code, size_t)>(
            [this, buffers](error_code& ec) { return write_some(buffers, ec); }, std::forward<Token>(token));
    }
    // Waits for the socket to become readable or writable, as a socket's async_wait does, for a
    // caller that reads or writes with the non-blocking forms (a tunnel).
    template <class Token>
    auto async_wait(socket_type::wait_type what, Token&& token)
    {
        return boost::asio::async_compose<Token, void(error_code)>(
            [this, what, started = false](auto& self, error_code ec = {}) mutable {
                if (!started) {
                    started = true;
                    socket_.async_wait(what, std::move(self));
                    return;
                }
                if (!ec)
                    readiness_seen();
                self.complete(ec);
            },
            token, socket_);
    }
    template <class Token>
    auto async_handshake(Token&& token)
    {
        return initiate<void(error_code)>([this](error_code& ec) { handshake_step(ec); return size_t{0}; },
                                       std::forward<Token>(token));
    }
    template <class Token>
    auto async_shutdown(Token&& token)
    {
        return initiate<void(error_code)>([this](error_code& ec) { shutdown_step(ec); return size_t{0}; },
                                       std::forward<Token>(token));
    }

private:
    static constexpr size_t max_gather = 16;
    enum class want : uint8_t { read, write };

    template <class Step>
    static size_t or_throw(Step step)
    {
        error_code ec;
        size_t n = step(ec);
        if (ec)
            throw boost::system::system_error(ec);
        return n;
    }

    // Reads track readiness: a read that emptied the socket (TCP_INQ, set by the owner of the
    // socket) makes the next read_some would_block at once, without a system call, until a wait
    // reports the socket ready again.
    void readiness_seen() noexcept;
    size_t read(void* data, size_t size, error_code& ec);
    size_t write(const boost::asio::const_buffer* pieces, size_t count, error_code& ec);
    // Maps the result of an SSL call that did not succeed; records which readiness to wait for.
    error_code failure(int result, int saved_errno);

    // Runs `step` until it stops asking to wait. A step that finishes at once completes through
    // the executor, never inside the initiating call.
    template <class Step, bool Sized>
    struct op {
        tls_socket& s;
        Step step;
        enum { starting, waiting, finishing } state = starting;

        template <class Self>
        void operator()(Self& self, error_code ec = {}, size_t n = 0)
        {
            if (state == finishing)
                return finish(self, ec, n);
            if (state == waiting && ec)
                return finish(self, ec, 0);  // cancelled, or the socket failed
            if (state == waiting)
                s.readiness_seen();
            n = step(ec);
            if (ec == boost::asio::error::would_block) {
                state = waiting;
                s.socket_.async_wait(s.want_ == want::write ? socket_type::wait_write : socket_type::wait_read,
                                     std::move(self));
                return;
            }
            if (state == starting) {
                state = finishing;
                boost::asio::post(s.socket_.get_executor(), boost::asio::append(std::move(self), ec, n));
                return;
            }
            finish(self, ec, n);
        }

        template <class Self>
        void finish(Self& self, error_code ec, size_t n)
        {
            if constexpr (Sized)
                self.complete(ec, n);
            else
                self.complete(ec);
        }
    };

    template <class Signature, class Step, class Token>
    auto initiate(Step step, Token&& token)
    {
        constexpr bool sized = std::is_same_v<Signature, void(error_code, size_t)>;
        return boost::asio::async_compose<Token, Signature>(op<Step, sized>{*this, std::move(step)}, token, socket_);
    }

    socket_type socket_;
    ssl_ptr ssl_;
    want want_ = want::read;
    bool close_sent_ = false;
};

}  // namespace sluice
