#include "proxy/downstream_session.hpp"

#include <array>
#include <charconv>
#include <optional>

#include <netinet/tcp.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "controller/log.hpp"
#include "proxy/access_control.hpp"
#include "proxy/cors.hpp"
#include "proxy/deadline.hpp"
#include "proxy/error_pages.hpp"
#include "proxy/forward_headers.hpp"
#include "proxy/htpasswd.hpp"
#include "proxy/http_wire.hpp"
#include "proxy/location_actions.hpp"
#include "proxy/path_normalize.hpp"
#include "proxy/request_checks.hpp"
#include "proxy/worker.hpp"
#include "tls/server_context.hpp"
#include "tls/tls_socket.hpp"

namespace sluice {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
// A request body this small is read and dropped after a local answer, so that the connection
// can stay open; a larger one closes it.
constexpr uint64_t discard_body_limit = 64 * 1024;
// The first read of a request header; also what an idle keep-alive connection keeps allocated.
constexpr size_t idle_read_size = 1024;
// Request bodies are read this much at a time (Beast sizes a read by the buffer's capacity).
constexpr size_t body_read_size = 16 * 1024;

// An operation cancelled by the deadline sweep ran out of time.
bool timed_out(const error_code& ec, const deadline_slot& deadline)
{
    return ec == asio::error::operation_aborted && deadline.fired();
}

// Sockets are in non-blocking mode, so these return would_block instead of waiting. A step that
// completes at once then costs no suspension and no posted completion; only one that would
// block goes through the reactor.
bool would_block(const error_code& ec) { return ec == asio::error::would_block || ec == asio::error::try_again; }

using tls_stream = tls_socket;

// The rest of one step of parsing from a stream, as Beast's http::async_read_some, once
// parse_buffered said the parser needs more than is buffered: bytes are read and parsed until the
// parser takes a step. The end of the stream is end_of_stream before any byte of the message,
// else the parser's verdict (a close-delimited body ends; a message cut short is
// partial_message). Written out here because Beast's composed operation costs a work guard and
// several handler layers per read, and a posted completion when the buffer already held enough.
template <class Stream, class Parser>
asio::awaitable<error_code> read_some_parsed(Stream& stream, beast::flat_buffer& buffer, Parser& parser)
{
    error_code ec = asio::error::would_block;
    while (would_block(ec)) {
        const size_t size = beast::read_size(buffer, 65536);  // at most what the buffer may grow by
        if (size == 0)
            co_return http::error::buffer_overflow;
        auto [rec, n] = co_await stream.async_read_some(buffer.prepare(size), nothrow);
        buffer.commit(n);
        if (rec == asio::error::eof) {
            if (!parser.got_some())
                co_return http::error::end_of_stream;
            ec = {};
            parser.put_eof(ec);
            co_return ec;
        }
        if (rec)
            co_return rec;
        ec = parse_buffered(buffer, parser, n);
    }
    co_return ec;
}

tcp::socket& lowest(tcp::socket& s) { return s; }
tcp::socket& lowest(tls_stream& s) { return s.next_layer(); }
bool has_buffered_input(const tcp::socket&) { return false; }
bool has_buffered_input(const tls_stream& s) { return s.has_buffered_input(); }
bool wants_write(const tcp::socket&) { return false; }
bool wants_write(const tls_stream& s) { return s.wants_write(); }

// Has every read on the socket report whether bytes remain (TCP_INQ), so that a read that
// emptied it makes the next one wait for the next readiness event instead of first failing
// with EAGAIN (third_party/asio/README.md). Without it (a kernel before 4.18) reads only cost
// that extra system call.
void report_unread_bytes(tcp::socket& socket)
{
    int on = 1;
    ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_INQ, &on, sizeof on);
}

// "example.com:8080" → "example.com", "[::1]:8080" → "[::1]".
std::string_view host_without_port(std::string_view host)
{
    if (host.starts_with('['))
        return host.substr(0, std::min(host.size(), host.find(']') + 1));
    return host.substr(0, host.find(':'));
}

template <class Stream>
struct session {
    session(worker& wk, Stream stream)
        : w(wk), client(std::move(stream)), client_deadline(wk.deadlines(), lowest(client))
    {
    }
    static constexpr bool tls = std::is_same_v<Stream, tls_stream>;
    static constexpr std::string_view scheme = tls ? "https" : "http";
    worker& w;
    Stream client;
    deadline_slot client_deadline;
    beast::flat_buffer client_buf;
    beast::flat_buffer upstream_buf;
    std::string client_ip;
    std::string server_port;
    std::string path;  // scratch: the normalised path of the current request
    std::string head_out;  // scratch: the head of the message being written (upstream request, response)
    // The current request's HTTP version as the client sent it (the header is rewritten to 1.1
    // for the upstream): a 1.0 client gets no chunked body and an explicit keep-alive.
    unsigned client_version = 11;
    // The current request, for the metrics: what answered and how much was sent.
    const location* loc = nullptr;
    std::string_view canary;
    // Headers sluice adds to the current response, whoever answers it.
    std::string_view hsts;              // Strict-Transport-Security, if any
    const cors_policy* cors = nullptr;  // set with cors_origin when the request's Origin is allowed
    std::string cors_origin;
    const std::vector<std::pair<std::string, std::string>>* custom_headers = nullptr;  // add-headers, custom-headers
    std::string set_cookie;             // the session-affinity cookie, when one is issued
    double upstream_seconds = -1;  // time spent on upstreams for the current request, -1: none
    // For the access log, reset per request (strings keep their capacity).
    struct request_log {
        std::string remote_addr, target, host, user, request_id;
        std::string upstream_addr, upstream_status, upstream_time, upstream_length;
        uint64_t request_length = 0;
        uint64_t body_bytes = 0;
        unsigned attempt_status = 0;  // the current try's response status, once its header is in
        uint64_t attempt_bytes = 0;   // the current try's response body bytes
        void reset()
        {
            for (auto* str : {&remote_addr, &target, &host, &user, &request_id, &upstream_addr, &upstream_status,
                              &upstream_time, &upstream_length})
                str->clear();
            request_length = body_bytes = attempt_bytes = 0;
            attempt_status = 0;
        }
        // One try of an upstream, appended as nginx lists them: "a, b".
        void add_attempt(const tcp::endpoint& ep, unsigned status, double seconds, uint64_t length)
        {
            auto sep = [](std::string& str) {
                if (!str.empty())
                    str += ", ";
            };
            sep(upstream_addr);
            upstream_addr += ep.address().to_string() + ":" + std::to_string(ep.port());
            sep(upstream_status);
            upstream_status += std::to_string(status);
            char t[32];
            sep(upstream_time);
            upstream_time.append(t, static_cast<size_t>(std::snprintf(t, sizeof t, "%.3f", seconds)));
            sep(upstream_length);
            upstream_length += std::to_string(length);
        }
    } log;
    unsigned status = 0;
    uint64_t bytes_out = 0;
    uint32_t served = 0;  // requests answered on this connection
    // The first header is due by then (client-header-timeout after accept, or after the TLS
    // handshake), whether or not the connection was parked meanwhile.
    std::chrono::steady_clock::time_point first_header_by;
    bool parked = false;  // serve_connection left to park the idle connection with the worker
};

// The headers the location adds to every response (more_set_headers in ingress-nginx: they
// replace the upstream's fields of the same name), and the affinity cookie (added).
template <class Stream, bool isRequest, class Fields>
void add_response_headers(const session<Stream>& s, http::header<isRequest, Fields>& res)
{
    if (!s.hsts.empty())
        res.set(http::field::strict_transport_security, s.hsts);
    if (s.custom_headers)
        for (const auto& [name, value] : *s.custom_headers)
            res.set(name, value);
    if (s.cors) {
        res.set(http::field::access_control_allow_origin, s.cors_origin);
        for (const auto& [name, value] : s.cors->headers)
            res.set(name, value);
    }
    if (!s.set_cookie.empty())
        res.insert(http::field::set_cookie, s.set_cookie);
}

// The request fields the canary decision reads.
class request_fields final : public canary_request {
public:
    explicit request_fields(const request_parser::message_type& req) : req_(req) {}
    std::optional<std::string_view> header(std::string_view name) const override
    {
        auto it = req_.find(name);
        if (it == req_.end())
            return std::nullopt;
        return std::string_view(it->value());
    }
    std::optional<std::string_view> cookie(std::string_view name) const override
    {
        for (const auto& f : req_)
            if (f.name() == http::field::cookie)
                if (auto v = find_cookie(f.value(), name))
                    return v;
        return std::nullopt;
    }

private:
    const request_parser::message_type& req_;
};

// Reads and drops a small remaining request body so that the connection can be reused.
template <class Stream>
asio::awaitable<bool> discard_body(session<Stream>& s, request_parser& parser, std::chrono::milliseconds timeout)
{
    if (parser.is_done())
        co_return true;
    auto length = parser.content_length_remaining();
    if (!length || *length > discard_body_limit || parser.get()[http::field::expect].size())
        co_return false;
    char scratch[4096];
    while (!parser.is_done()) {
        parser.get().body().data = scratch;
        parser.get().body().size = sizeof scratch;
        error_code ec = parse_buffered(s.client_buf, parser);
        if (would_block(ec)) {
            s.client_deadline.arm(timeout);
            ec = co_await read_some_parsed(s.client, s.client_buf, parser);
        }
        if (ec && ec != http::error::need_buffer)
            co_return false;
    }
    co_return true;
}

// The rest of a write that would block (write_now took what the stream had room for): waits
// for the stream to take it all, for `timeout` at most.
template <class Out>
asio::awaitable<error_code> finish_write(Out& out, wire_buffers& wire, deadline_slot& deadline,
                                         std::chrono::milliseconds timeout, uint64_t* written = nullptr)
{
    deadline.arm(timeout);
    auto [ec, n] = co_await asio::async_write(out, wire.view(), nothrow);
    if (written)
        *written += n;
    co_return ec;
}

// Writes a response head this session built, and a short body with it: the local answers and
// the 101 of a tunnel.
template <class Stream>
asio::awaitable<error_code> send_head(session<Stream>& s, const response_head& res, std::string_view body,
                                      std::chrono::milliseconds timeout)
{
    s.head_out.clear();
    append_head(s.head_out, res);
    wire_buffers wire;
    wire.add(s.head_out);
    wire.add(body);
    error_code ec = write_now(s.client, wire, &s.bytes_out);
    if (would_block(ec))
        ec = co_await finish_write(s.client, wire, s.client_deadline, timeout, &s.bytes_out);
    if (!ec)
        s.log.body_bytes += body.size();
    co_return ec;
}

// Answers with a status sluice generates itself. Returns whether the connection stays open.
template <class Stream>
asio::awaitable<bool> send_local(session<Stream>& s, request_parser* parser, unsigned status, bool keep_alive, bool head,
                                 std::chrono::milliseconds timeout, http::field extra_name = http::field::unknown,
                                 std::string_view extra_value = {})
{
    if (parser && !parser->is_done())
        keep_alive = keep_alive && co_await discard_body(s, *parser, timeout);
    std::string_view page = error_page(status);
    http::response<http::empty_body, header_fields> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, "text/html");
    if (extra_name != http::field::unknown)
        res.set(extra_name, extra_value);
    add_response_headers(s, res);
    res.content_length(page.size());
    res.keep_alive(keep_alive);
    if (keep_alive && s.client_version < 11)
        res.set(http::field::connection, "keep-alive");
    s.status = status;
    error_code ec = co_await send_head(s, res.base(), head ? std::string_view() : page, timeout);
    co_return !ec && keep_alive;
}

// A CORS preflight: 204 with the Access-Control-* headers (added by add_response_headers).
template <class Stream>
asio::awaitable<bool> send_preflight(session<Stream>& s, request_parser& parser, bool keep_alive,
                                     std::chrono::milliseconds timeout)
{
    if (!parser.is_done())
        keep_alive = keep_alive && co_await discard_body(s, parser, timeout);
    http::response<http::empty_body, header_fields> res{http::status::no_content, 11};
    res.set(http::field::content_type, "text/plain charset=UTF-8");
    res.set(http::field::content_length, "0");
    add_response_headers(s, res);
    res.keep_alive(keep_alive);
    if (keep_alive && s.client_version < 11)
        res.set(http::field::connection, "keep-alive");
    s.status = 204;
    error_code ec = co_await send_head(s, res.base(), {}, timeout);
    co_return !ec && keep_alive;
}

enum class attempt_outcome {
    done,             // response relayed (fully or as far as the client let us)
    retry,            // nothing reached the client and the request may go to another endpoint
    retry_same,       // a reused connection was stale: try again on a fresh one
    failed,           // answer with `status`
    abort,            // close the client connection without an answer
    intercepted,      // the upstream answered one of the location's custom-http-errors (`status`)
};

struct attempt_result {
    attempt_outcome outcome = attempt_outcome::failed;
    unsigned status = 502;
    bool keep_alive = false;
    bool endpoint_failed = false;  // counts against the endpoint's passive health
};

struct request_state {
    const route_snapshot& snap;
    const location& loc;
    uint32_t backend;  // the location's, or the canary's it chose
    request_parser& parser;
    bool head = false;
    bool idempotent = false;
    bool keep_alive = false;
    bool expect_continue = false;
    bool sent_continue = false;
    bool body_started = false;  // some body bytes were taken from the client
    bool no_body = false;       // send no body (the custom-error request)
    bool no_intercept = false;  // relay every status (the custom-error request itself)
    std::string original_target;  // $request_uri, kept when the location has custom-http-errors
    std::string upgrade;          // the client's Upgrade value: a 101 from the upstream opens a tunnel
    const struct balance_inputs* inputs = nullptr;  // request values for templates (proxy-set-headers)
    uint64_t balance_key = 0;     // the request's hash, affinity key or endpoint id (pick_endpoint)
    bool new_affinity = false;    // the request had no usable affinity cookie: issue one
    bool last_try = true;         // no other try follows this one: relay whatever the upstream says
    uint64_t body_bytes = 0;
    lent_buffer buffer;  // the body buffer of the request and its response
};

// After a 101: bytes both ways until either side is done. An idle tunnel holds no buffer: it
// waits for readability and borrows the worker's buffer only to move bytes.
// The tunnel closes when nothing moves in either direction for proxy-read-timeout (a client
// write that stalls for proxy-send-timeout also ends it). A routing swap does not touch it: the
// request pinned its snapshot, and nothing here looks at the current one.
struct tunnel_state {
    deadline_slot& idle;           // the upstream's slot: re-armed whenever bytes move
    std::chrono::milliseconds idle_timeout;
    uint64_t to_client = 0;
    bool closing = false;          // one side failed: the other pump stops too
};

template <class S>
bool is_plain(const S&)
{
    return std::is_same_v<S, tcp::socket>;
}

template <class Stream, class To>
asio::awaitable<error_code> tunnel_send(session<Stream>& s, To& to, deadline_slot& to_deadline, tunnel_state& t,
                                        bool toward_client, std::chrono::milliseconds send_timeout, const char* data,
                                        size_t n)
{
    t.idle.arm(t.idle_timeout);
    to_deadline.arm(send_timeout);
    auto [ec, written] = co_await asio::async_write(to, asio::buffer(data, n), nothrow);
    if (toward_client) {
        t.to_client += written;
        s.bytes_out += written;
    }
    t.idle.arm(t.idle_timeout);
    co_return ec;
}

// Copies `from` to `to` (after the bytes already read into `pending`) until end of stream or
// error. On end of stream a plain `to` is half-closed so the other direction can finish; any
// other ending stops the whole tunnel.
template <class Stream, class From, class To>
asio::awaitable<void> pump(session<Stream>& s, From& from, To& to, deadline_slot& to_deadline, beast::flat_buffer& pending,
                           tunnel_state& t, bool toward_client, std::chrono::milliseconds send_timeout)
{
    error_code ec;
    bool must_wait = !has_buffered_input(from);
    if (pending.size()) {
        std::string first(static_cast<const char*>(pending.data().data()), pending.size());
        pending.consume(pending.size());
        ec = co_await tunnel_send(s, to, to_deadline, t, toward_client, send_timeout, first.data(), first.size());
    }
    while (!ec && !t.closing) {
        // TLS: bytes OpenSSL has already read (read-ahead) may be read without a wait, unless
        // the last read found only part of a record. An SSL_read can also need the socket
        // writable (a TLS 1.3 key update answered while the send buffer is full).
        if (must_wait) {
            std::tie(ec) = co_await from.async_wait(
                wants_write(from) ? tcp::socket::wait_write : tcp::socket::wait_read, nothrow);
            if (ec)
                break;
        }
        lent_buffer lent = s.w.take_buffer();
        size_t n = from.read_some(asio::buffer(lent.data(), lent.size()), ec);
        if (would_block(ec)) {
            ec = {};
            must_wait = true;
            continue;
        }
        must_wait = !has_buffered_input(from);
        if (n) {
            // Bytes that came with the end of stream still go through.
            error_code wec = co_await tunnel_send(s, to, to_deadline, t, toward_client, send_timeout, lent.data(), n);
            if (!ec)
                ec = wec;
        }
    }
    if (ec == asio::error::eof && is_plain(to) && !t.closing) {
        error_code ignored;  // the peer may be gone already
        lowest(to).shutdown(tcp::socket::shutdown_send, ignored);
        co_return;
    }
    t.closing = true;
    error_code ignored;
    lowest(from).cancel(ignored);
    lowest(to).cancel(ignored);
}

// Relays the upstream's 101 and tunnels both ways; the connections end with the tunnel.
template <class Stream, class Up>
asio::awaitable<attempt_result> open_tunnel(session<Stream>& s, request_state& rs, Up& up, deadline_slot& up_deadline,
                                            response_head& res)
{
    using namespace asio::experimental::awaitable_operators;
    const location_policy& policy = rs.loc.policy;
    std::string protocol(res[http::field::upgrade]);
    prepare_downstream_response(res);
    res.set(http::field::upgrade, protocol.empty() ? rs.upgrade : protocol);
    res.set(http::field::connection, "upgrade");
    add_response_headers(s, res);
    s.status = 101;
    s.log.attempt_status = 101;
    error_code ec = co_await send_head(s, res, {}, policy.send_timeout);
    if (ec)
        co_return attempt_result{attempt_outcome::abort};
    s.w.counters().tunnels_open.fetch_add(1, std::memory_order_relaxed);
    // The request's body buffer goes back: the pumps borrow one only while they move bytes.
    rs.buffer.reset();
    tunnel_state t{up_deadline, policy.read_timeout};
    up_deadline.arm(policy.read_timeout);
    s.client_deadline.disarm();
    co_await (pump(s, up, s.client, s.client_deadline, s.upstream_buf, t, true, policy.send_timeout) &&
              pump(s, s.client, up, up_deadline, s.client_buf, t, false, policy.send_timeout));
    s.w.counters().tunnels_open.fetch_sub(1, std::memory_order_relaxed);
    s.log.attempt_bytes = t.to_client;
    s.log.body_bytes = t.to_client;
    up_deadline.disarm();
    co_return attempt_result{attempt_outcome::done, 101, false};
}

// One try of one endpoint: connect (or reuse), send the request, relay the response. `Up` is
// the upstream stream: a plain socket, or TLS for backend-protocol HTTPS.
template <class Stream, class Up>
asio::awaitable<attempt_result> try_endpoint(session<Stream>& s, request_state& rs, const tcp::endpoint& ep, bool allow_reuse)
{
    constexpr bool tls_up = std::is_same_v<Up, tls_socket>;
    const location_policy& policy = rs.loc.policy;
    const global_settings& settings = rs.snap.settings;
    auto& req = rs.parser.get();

    // TLS: the name sent as SNI and verified, and the identity pooled connections must match.
    std::string tls_name, tls_identity;
    if constexpr (tls_up) {
        const upstream_tls& t = *rs.loc.tls_upstream;
        tls_name = t.name.empty() ? std::string(host_without_port(req[http::field::host])) : t.name;
        tls_identity = t.profile + "|" + tls_name;
    }
    std::optional<pooled_connection> pooled;
    if (allow_reuse)
        pooled = s.w.pool().take(ep, upstream_pool::clock::now(), settings.upstream_keepalive_timeout, tls_identity);
    const bool reused = pooled.has_value();
    uint32_t served_on_connection = reused ? pooled->requests : 0;
    std::unique_ptr<Up> up_ptr;
    if constexpr (tls_up)
        up_ptr = reused ? std::move(pooled->tls) : std::make_unique<Up>(tcp::socket(s.w.io()));
    else
        up_ptr = reused ? std::move(pooled->socket) : std::make_unique<Up>(s.w.io());
    Up& up = *up_ptr;
    deadline_slot up_deadline(s.w.deadlines(), lowest(up));
    if (reused) {
        s.w.counters().upstream_reuses.fetch_add(1, std::memory_order_relaxed);
    } else {
        up_deadline.arm(policy.connect_timeout);
        s.w.counters().upstream_connects.fetch_add(1, std::memory_order_relaxed);
        auto [ec] = co_await lowest(up).async_connect(ep, nothrow);
        if (ec) {
            // Nothing was sent: any method may go to the next endpoint, as proxy-next-upstream allows.
            const bool timeout = timed_out(ec, up_deadline);
            const bool next = policy.next_upstream & (timeout ? retry_on_timeout : retry_on_error);
            co_return attempt_result{next ? attempt_outcome::retry : attempt_outcome::failed, timeout ? 504u : 502u, false, true};
        }
        error_code ignored;  // Nagle only delays small writes; failing to disable it is harmless
        lowest(up).set_option(tcp::no_delay(true), ignored);
        report_unread_bytes(lowest(up));
        lowest(up).non_blocking(true, ec);
        if (ec)
            co_return attempt_result{attempt_outcome::retry, 502u};
        if constexpr (tls_up) {
            // The handshake counts against proxy-connect-timeout, as in nginx.
            const upstream_tls& t = *rs.loc.tls_upstream;
            up.start(t.context->native_handle(), tls_role::client);
            SSL* ssl = up.native_handle();
            if (t.send_sni && !tls_name.empty())
                SSL_set_tlsext_host_name(ssl, tls_name.c_str());
            if (t.verify)
                SSL_set1_host(ssl, tls_name.c_str());
            std::tie(ec) = co_await up.async_handshake(nothrow);
            if (ec) {
                log_line(log_level::warning, "TLS handshake with upstream " + ep.address().to_string() + ":" +
                                                 std::to_string(ep.port()) + " (" + tls_name + ") failed: " + ec.message());
                const bool timeout = timed_out(ec, up_deadline);
                const bool next = policy.next_upstream & (timeout ? retry_on_timeout : retry_on_error);
                co_return attempt_result{next ? attempt_outcome::retry : attempt_outcome::failed, timeout ? 504u : 502u,
                                         false, true};
            }
        }
    }
    s.upstream_buf.clear();

    // Whether a request that reached the upstream may go to the next endpoint: `condition` is
    // in proxy-next-upstream, the body was not consumed, and the method is idempotent (or
    // non_idempotent is listed).
    const bool may_resend = !rs.body_started && (rs.idempotent || (policy.next_upstream & retry_on_non_idempotent));
    auto next_allowed = [&](uint16_t condition) { return may_resend && (policy.next_upstream & condition); };
    // A failure before any response byte. A pooled connection the upstream had closed is tried
    // again on a fresh one whatever the conditions say: that is not the endpoint's failure.
    auto early_failure = [&](const error_code& ec) {
        const bool timeout = timed_out(ec, up_deadline);
        unsigned status = timeout ? 504u : 502u;
        if (reused && !timeout && rs.idempotent && !rs.body_started)
            return attempt_result{attempt_outcome::retry_same, status};
        return attempt_result{next_allowed(timeout ? retry_on_timeout : retry_on_error) ? attempt_outcome::retry
                                                                                                   : attempt_outcome::failed,
                              status, false, true};
    };

    // Request: header, then the body streamed from the client as it arrives, each piece written
    // (after the header, the first time) as soon as it is read.
    std::string& head = s.head_out;
    head.clear();
    append_head(head, req.base());
    const bool chunked_up = req.chunked();
    wire_buffers wire;
    for (bool head_sent = false;;) {
        size_t got = 0;
        bool last = rs.no_body || rs.parser.is_done();
        if (!last) {
            if (rs.expect_continue && !rs.sent_continue) {
                static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
                s.client_deadline.arm(policy.send_timeout);
                auto [ec, n] = co_await asio::async_write(s.client, asio::buffer(cont.data(), cont.size()), nothrow);
                if (ec)
                    co_return attempt_result{attempt_outcome::abort};
                rs.sent_continue = true;
            }
            req.body().data = rs.buffer.data();
            req.body().size = rs.buffer.size();
            if (s.client_buf.capacity() < body_read_size)
                s.client_buf.reserve(body_read_size);
            error_code ec = parse_buffered(s.client_buf, rs.parser);
            if (would_block(ec)) {
                s.client_deadline.arm(settings.client_body_timeout);
                ec = co_await read_some_parsed(s.client, s.client_buf, rs.parser);
            }
            if (ec == http::error::need_buffer)
                ec = {};
            // A client that stops sending its body for client-body-timeout gets nginx's 408; one
            // that went away gets nothing; a body that does not parse, 400.
            if (ec && timed_out(ec, s.client_deadline))
                co_return attempt_result{attempt_outcome::failed, 408};
            if (ec)
                co_return attempt_result{ec == http::error::end_of_stream || ec == asio::error::eof ||
                                                 ec == asio::error::connection_reset
                                             ? attempt_outcome::abort
                                             : attempt_outcome::failed,
                                         400};
            got = rs.buffer.size() - req.body().size;
            last = rs.parser.is_done();
            if (got == 0 && !last && head_sent)
                continue;
            rs.body_started = rs.body_started || got > 0;
            rs.body_bytes += got;
            s.log.request_length += got;
            if (policy.max_body_size && rs.body_bytes > policy.max_body_size)
                co_return attempt_result{attempt_outcome::failed, 413};
        }
        wire.clear();
        if (!head_sent)
            wire.add(head);
        if (!rs.no_body)
            wire.add_body(rs.buffer.data(), got, last, chunked_up);
        error_code ec = write_now(up, wire);
        if (would_block(ec))
            ec = co_await finish_write(up, wire, up_deadline, policy.send_timeout);
        if (ec)
            co_return early_failure(ec);
        head_sent = true;
        if (last)
            break;
    }

    // Response header; interim 1xx responses (other than 101) are dropped.
    std::optional<response_parser> rp;
    for (;;) {
        rp.emplace();
        rp->header_limit(settings.upstream_header_limit);
        rp->body_limit(boost::none);
        if (rs.head)
            rp->skip(true);
        up_deadline.arm(policy.read_timeout);
        error_code ec = parse_buffered(s.upstream_buf, *rp);
        if (would_block(ec))
            ec = co_await read_some_parsed(up, s.upstream_buf, *rp);
        if (ec) {
            if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
                timed_out(ec, up_deadline))
                co_return early_failure(ec);
            // A malformed response.
            co_return attempt_result{next_allowed(retry_on_invalid_header) ? attempt_outcome::retry : attempt_outcome::failed,
                                     502, false, true};
        }
        unsigned code = rp->get().result_int();
        if (code < 100 || code >= 200 || code == 101)
            break;
    }
    if (rp->get().result_int() == 101) {
        // Switching protocols only when the client asked to: otherwise the upstream is broken.
        if (rs.upgrade.empty())
            co_return attempt_result{attempt_outcome::failed, 502};
        co_return co_await open_tunnel(s, rs, up, up_deadline, rp->get().base());
    }
    // proxy-next-upstream http_XXX: another endpoint gets the request unless this is the last
    // try, whose answer is relayed. 403 and 404 do not count as the endpoint's failures (nginx).
    if (const unsigned code = rp->get().result_int(); !rs.last_try && next_allowed(next_upstream_bit(code))) {
        s.log.attempt_status = code;
        co_return attempt_result{attempt_outcome::retry, code, false, code != 403 && code != 404};
    }
    // custom-http-errors: the status is answered elsewhere; the upstream's body is not read, so
    // its connection is closed rather than pooled.
    if (const auto& codes = policy.custom_errors;
        !rs.no_intercept && std::binary_search(codes.begin(), codes.end(), rp->get().result_int())) {
        s.log.attempt_status = rp->get().result_int();
        co_return attempt_result{attempt_outcome::intercepted, rp->get().result_int()};
    }

    auto& res = rp->get();
    s.log.attempt_status = res.result_int();
    prepare_downstream_response(res);
    add_response_headers(s, res);
    // A drain that began while the request was in flight closes the connection after it.
    bool keep_alive = rs.keep_alive && !s.w.draining();
    const bool client_11 = s.client_version >= 11;
    const bool has_body = !rp->is_done();
    if (rp->chunked()) {
        res.erase(http::field::content_length);
        if (client_11) {
            res.chunked(true);
        } else {
            keep_alive = false;
        }
    } else if (!rp->content_length() && has_body) {
        // Close-delimited upstream body: chunk it for HTTP/1.1 clients, else end with the connection.
        if (client_11)
            res.chunked(true);
        else
            keep_alive = false;
    }
    res.version(11);
    res.keep_alive(keep_alive);
    if (keep_alive && !client_11)
        res.set(http::field::connection, "keep-alive");

    // Body: relayed piece by piece as it arrives; the header goes out with the first piece. A
    // response to HEAD, a 204 and a 304 have no body whatever their header says.
    s.status = res.result_int();
    head.clear();
    append_head(head, res.base());
    const bool chunked_down = res.chunked();
    const bool body_follows = !rs.head && s.status != 204 && s.status != 304;
    bool header_sent = false;
    for (;;) {
        size_t got = 0;
        bool last = rp->is_done();
        if (!last) {
            res.body().data = rs.buffer.data();
            res.body().size = rs.buffer.size();
            error_code ec = parse_buffered(s.upstream_buf, *rp);
            if (would_block(ec)) {
                up_deadline.arm(policy.read_timeout);
                ec = co_await read_some_parsed(up, s.upstream_buf, *rp);
            }
            // need_buffer: our buffer is full. An error with the parser done is the close that
            // ended a close-delimited body.
            if (ec == http::error::need_buffer || (ec && rp->is_done()))
                ec = {};
            if (ec) {
                if (!header_sent)
                    co_return attempt_result{attempt_outcome::failed, timed_out(ec, up_deadline) ? 504u : 502u};
                co_return attempt_result{attempt_outcome::abort};  // truncated: the client must see it
            }
            got = rs.buffer.size() - res.body().size;
            last = rp->is_done();
            s.log.attempt_bytes += got;
            s.log.body_bytes += got;
            if (got == 0 && !last)
                continue;
        }
        wire.clear();
        if (!header_sent)
            wire.add(head);
        if (body_follows)
            wire.add_body(rs.buffer.data(), got, last, chunked_down);
        error_code ec = write_now(s.client, wire, &s.bytes_out);
        if (would_block(ec))
            ec = co_await finish_write(s.client, wire, s.client_deadline, policy.send_timeout, &s.bytes_out);
        if (ec)
            co_return attempt_result{attempt_outcome::abort};
        header_sent = true;
        if (last)
            break;
    }

    // The upstream connection goes back to the pool only after a clean, complete exchange, with
    // nothing left over: no byte in the buffer, nor in OpenSSL's for a TLS one.
    ++served_on_connection;
    if (rp->is_done() && rp->keep_alive() && s.upstream_buf.size() == 0 && !has_buffered_input(up) &&
        served_on_connection < settings.upstream_keepalive_requests && settings.upstream_keepalive_connections > 0) {
        up_deadline.disarm();
        pooled_connection idle;
        if constexpr (tls_up)
            idle.tls = std::move(up_ptr);
        else
            idle.socket = std::move(up_ptr);
        idle.tls_identity = std::move(tls_identity);
        idle.requests = served_on_connection;
        s.w.pool().give_back(ep, std::move(idle), settings.upstream_keepalive_connections);
    }
    co_return attempt_result{attempt_outcome::done, res.result_int(), keep_alive};
}

// One try over the right upstream stream, noted for the access log as nginx's $upstream_* do.
template <class Stream>
asio::awaitable<attempt_result> try_logged(session<Stream>& s, request_state& rs, const tcp::endpoint& ep, bool allow_reuse)
{
    auto started = std::chrono::steady_clock::now();
    s.log.attempt_status = 0;
    s.log.attempt_bytes = 0;
    attempt_result r = rs.loc.tls_upstream ? co_await try_endpoint<Stream, tls_socket>(s, rs, ep, allow_reuse)
                                           : co_await try_endpoint<Stream, tcp::socket>(s, rs, ep, allow_reuse);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    s.upstream_seconds = (s.upstream_seconds < 0 ? 0 : s.upstream_seconds) + seconds;
    if (r.outcome != attempt_outcome::retry_same)
        s.w.record_attempt(ep, seconds, r.endpoint_failed, rs.snap.settings);
    if (s.w.has_access_log() && r.outcome != attempt_outcome::retry_same)
        s.log.add_attempt(ep, s.log.attempt_status ? s.log.attempt_status : r.status, seconds, s.log.attempt_bytes);
    co_return r;
}

// The affinity cookie for the request's endpoint `index`: persistent mode names the endpoint;
// balanced mode needs a key that hashes to it (ingress-nginx's sticky_balanced draws random keys
// the same way). False when no key was found.
template <class Stream>
bool issue_affinity(session<Stream>& s, request_state& rs, const backend& be, size_t index)
{
    const affinity_cookie& cookie = *rs.loc.policy.balance.cookie;
    if (!be.rings)
        return false;
    char value[17];
    if (cookie.persistent) {
        std::snprintf(value, sizeof value, "%016llx", static_cast<unsigned long long>(be.rings->endpoint_ids[index]));
    } else {
        bool found = false;
        const size_t attempts = std::max<size_t>(64, 8 * be.endpoints.size());
        for (size_t attempt = 0; attempt < attempts && !found; ++attempt) {
            std::snprintf(value, sizeof value, "%016llx", static_cast<unsigned long long>(s.w.random64()));
            found = be.rings->endpoints && be.rings->endpoints->find(stable_hash(value)) == index;
        }
        if (!found)
            return false;
    }
    std::string_view path = rs.loc.raw_path.empty() ? std::string_view("/") : std::string_view(rs.loc.raw_path);
    s.set_cookie = cookie.render(value, path, s.tls, std::chrono::system_clock::now());
    return true;
}

// Tries the endpoints of `backend_index` in turn, as proxy-next-upstream-tries and
// proxy-next-upstream-timeout allow.
template <class Stream>
asio::awaitable<attempt_result> try_backend(session<Stream>& s, request_state& rs, uint32_t backend_index)
{
    const backend& be = rs.snap.backends[backend_index];
    const location_policy& policy = rs.loc.policy;
    std::vector<bool> tried(be.endpoints.size(), false);
    const uint32_t max_tries = policy.next_upstream_tries ? policy.next_upstream_tries : static_cast<uint32_t>(be.endpoints.size());
    const auto started = std::chrono::steady_clock::now();
    const bool sticky = policy.balance.kind == balance_kind::sticky;
    attempt_result last{attempt_outcome::failed, 502};
    for (uint32_t tries = 0; tries < max_tries; ++tries) {
        if (tries > 0 && policy.next_upstream_timeout.count() &&
            std::chrono::steady_clock::now() - started >= policy.next_upstream_timeout)
            break;
        size_t index = s.w.pick_endpoint(rs.snap, backend_index, policy.balance, rs.balance_key, tried);
        if (index == SIZE_MAX)
            break;
        tried[index] = true;
        // The affinity cookie: issued for a request that had none (or whose endpoint is gone),
        // and after a failure with session-cookie-change-on-failure.
        if (sticky && !rs.no_intercept) {
            const bool moved = policy.balance.cookie->persistent && be.rings && be.rings->endpoint_ids[index] != rs.balance_key;
            if (tries == 0 ? (rs.new_affinity || moved) : policy.balance.cookie->change_on_failure)
                issue_affinity(s, rs, be, index);
        }
        rs.last_try = tries + 1 >= max_tries || std::count(tried.begin(), tried.end(), false) == 0;
        last = co_await try_logged(s, rs, be.endpoints[index], true);
        // A pooled connection the upstream had closed: once more on a fresh connection to the
        // same endpoint, not counted as a try (a fresh attempt never answers retry_same).
        if (last.outcome == attempt_outcome::retry_same)
            last = co_await try_logged(s, rs, be.endpoints[index], false);
        if (last.outcome != attempt_outcome::retry)
            break;
    }
    co_return last;
}

// The Ingress and Service a location belongs to, as ingress-nginx's $namespace, $ingress_name,
// $service_name and $service_port (empty for the controller's own locations). Views into the
// snapshot.
struct location_names {
    std::string_view ns, ingress, service, port;
};

location_names names_of(const route_snapshot& snap, const location& loc)
{
    location_names n;
    std::string_view ingress = loc.ingress;  // namespace/name
    if (auto slash = ingress.find('/'); slash != std::string_view::npos) {
        n.ns = ingress.substr(0, slash);
        n.ingress = ingress.substr(slash + 1);
    }
    if (loc.backend != no_backend) {
        std::string_view key = snap.backends[loc.backend].key;  // namespace/service:port
        auto slash = key.find('/');
        auto colon = key.rfind(':');
        n.service = key.substr(slash + 1, colon - slash - 1);
        n.port = key.substr(colon + 1);
    }
    return n;
}

// custom-http-errors, as ingress-nginx's @custom_ locations: the error backend gets GET / with
// X-Code, X-Format, X-Original-URI, X-Namespace, X-Ingress-Name, X-Service-Name, X-Service-Port
// (X-Request-ID and the forwarded headers are already set) and its answer, status included, goes
// to the client. The client's body is not sent again. Without an error backend, sluice's own page
// for the status.
template <class Stream>
asio::awaitable<bool> answer_custom_error(session<Stream>& s, request_state& rs, unsigned status)
{
    const location& loc = rs.loc;
    rs.keep_alive = rs.keep_alive && rs.parser.is_done();
    if (loc.error_backend == no_backend || rs.snap.backends[loc.error_backend].state != backend_state::ready)
        co_return co_await send_local(s, &rs.parser, status, rs.keep_alive, rs.head, loc.policy.send_timeout);
    auto& req = rs.parser.get();
    const location_names names = names_of(rs.snap, loc);
    std::string accept(req[http::field::accept]);
    req.method(rs.head ? http::verb::head : http::verb::get);
    req.target("/");
    req.chunked(false);
    req.erase(http::field::transfer_encoding);
    req.content_length(0);
    req.set("X-Code", std::to_string(status));
    req.set("X-Format", accept);
    req.set("X-Original-URI", rs.original_target);
    req.set("X-Namespace", names.ns);
    req.set("X-Ingress-Name", names.ingress);
    req.set("X-Service-Name", names.service);
    req.set("X-Service-Port", names.port);
    rs.no_body = true;
    rs.no_intercept = true;
    rs.expect_continue = false;
    attempt_result r = co_await try_backend(s, rs, loc.error_backend);
    if (r.outcome == attempt_outcome::done)
        co_return r.keep_alive;
    if (r.outcome == attempt_outcome::abort)
        co_return false;
    co_return co_await send_local(s, &rs.parser, status, false, rs.head, loc.policy.send_timeout);
}

// `answer_now`: skip the location's backend and answer this custom-http-errors status at once.
template <class Stream>
asio::awaitable<bool> forward(session<Stream>& s, request_state& rs, const client_view& client, unsigned answer_now)
{
    auto& req = rs.parser.get();

    char generated_id[32];
    // The client's value stays readable when the field is rewritten below (header_fields keeps it).
    std::string_view request_id = req["X-Request-ID"];
    if (request_id.empty() && rs.snap.settings.generate_request_id) {
        s.w.make_request_id(generated_id);
        request_id = std::string_view(generated_id, sizeof generated_id);
    }
    const bool chunked = rs.parser.chunked();
    // WebSocket and any other Upgrade, as ingress-nginx's "Upgrade $http_upgrade" and
    // "Connection $connection_upgrade". A request with a body is not upgraded: its bytes after the
    // header would be both body and tunnel.
    if (auto it = req.find(http::field::upgrade); it != req.end() && req.version() >= 11 && rs.parser.is_done())
        rs.upgrade = std::string(it->value());
    if (s.w.has_access_log())
        s.log.request_id.assign(request_id);
    prepare_upstream_request(req, forward_context{client.remote_addr, client.best_host, client.port, client.scheme,
                                                  request_id, rs.loc.upstream_vhost, client.forwarded_for, chunked});
    if (rs.loc.policy.set_request_headers && rs.inputs)
        set_request_headers(s, rs, *rs.loc.policy.set_request_headers);
    if (!rs.upgrade.empty())
        req.set(http::field::upgrade, rs.upgrade);
    // connection-proxy-header replaces the Connection value in every case, as in ingress-nginx.
    if (!rs.loc.policy.connection_header.empty())
        req.set(http::field::connection, rs.loc.policy.connection_header);
    else if (!rs.upgrade.empty())
        req.set(http::field::connection, "upgrade");

    rs.buffer = s.w.take_buffer();

    if (answer_now)
        co_return co_await answer_custom_error(s, rs, answer_now);
    attempt_result last = co_await try_backend(s, rs, rs.backend);
    if (last.outcome == attempt_outcome::done)
        co_return last.keep_alive;
    if (last.outcome == attempt_outcome::abort)
        co_return false;
    const auto& codes = rs.loc.policy.custom_errors;
    if (last.outcome == attempt_outcome::intercepted || std::binary_search(codes.begin(), codes.end(), last.status))
        co_return co_await answer_custom_error(s, rs, last.status);
    // The client's body may be half read when the answer is an error: do not reuse the connection.
    bool keep = rs.keep_alive && rs.parser.is_done() && last.status != 413 && last.status != 400 && last.status != 408;
    co_return co_await send_local(s, &rs.parser, last.status, keep, rs.head, rs.loc.policy.send_timeout);
}

struct balance_inputs {
    std::string_view request_uri, args, remote_addr, host;
};

std::optional<std::string_view> header_of(const void* fields, std::string_view name)
{
    return static_cast<const request_fields*>(fields)->header(name);
}
std::optional<std::string_view> cookie_of(const void* fields, std::string_view name)
{
    return static_cast<const request_fields*>(fields)->cookie(name);
}

// The key pick_endpoint balances on: the hash of upstream-hash-by's value, or the affinity
// cookie (balanced: its value is hashed onto the ring; persistent: it names an endpoint). A
// request without a usable cookie gets a new one.
// Expands `t` with the request's values (nginx variables).
template <class Stream>
void expand_template(const session<Stream>& s, request_state& rs, const balance_inputs& in, const request_template& t,
                     std::string& out)
{
    auto& req = rs.parser.get();
    request_fields fields{req};
    std::string host(host_without_port(in.host));
    for (char& c : host)
        c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    request_values v{in.request_uri, s.path, in.args, in.remote_addr, host, s.scheme, req.method_string(),
                     header_of, cookie_of, &fields};
    t.expand(v, out);
}

// proxy-set-headers, after sluice's own headers (so they can be overridden); an empty value
// removes the header, as nginx's proxy_set_header does.
template <class Stream>
void set_request_headers(const session<Stream>& s, request_state& rs,
                         const std::vector<std::pair<std::string, request_template>>& headers)
{
    std::string value;
    for (const auto& [name, t] : headers) {
        expand_template(s, rs, *rs.inputs, t, value);
        if (value.empty())
            rs.parser.get().erase(name);
        else
            rs.parser.get().set(name, value);
    }
}

template <class Stream>
void choose_balance_key(session<Stream>& s, request_state& rs, const balance_inputs& in)
{
    const balance_policy& bp = rs.loc.policy.balance;
    auto& req = rs.parser.get();
    if (bp.kind == balance_kind::hash && bp.key) {
        std::string key;
        expand_template(s, rs, in, *bp.key, key);
        rs.balance_key = stable_hash(key);
    } else if (bp.kind == balance_kind::sticky && bp.cookie) {
        auto value = request_fields{req}.cookie(bp.cookie->name);
        uint64_t id = 0;
        if (bp.cookie->persistent) {
            if (value && value->size() == 16 && std::from_chars(value->data(), value->data() + 16, id, 16).ptr == value->data() + 16)
                rs.balance_key = id;
            else
                rs.new_affinity = true;
        } else if (value && !value->empty()) {
            rs.balance_key = stable_hash(*value);
        } else {
            // ingress-nginx: a random key; the cookie carries it and the ring maps it.
            char fresh[17];
            std::snprintf(fresh, sizeof fresh, "%016llx", static_cast<unsigned long long>(s.w.random64()));
            rs.balance_key = stable_hash(fresh);
            std::string_view path = rs.loc.raw_path.empty() ? std::string_view("/") : std::string_view(rs.loc.raw_path);
            s.set_cookie = bp.cookie->render(fresh, path, s.tls, std::chrono::system_clock::now());
        }
    }
}

// Runs on the slow-work pool. Parameters by value: a coroutine must own what it reads.
asio::awaitable<password_check> verify_elsewhere(std::string password, std::string stored)
{
    co_return verify_password(password, stored);
}

template <class Stream>
asio::awaitable<bool> serve_request(session<Stream>& s, request_parser& parser, bool last_allowed,
                                    const std::shared_ptr<const route_snapshot>& snap)
{
    auto& req = parser.get();
    const bool head = req.method() == http::verb::head;
    const bool keep_alive = req.keep_alive() && !last_allowed && !s.w.draining();
    const auto send_timeout = snap->catch_all.fallback.policy.send_timeout;
    s.w.counters().requests.fetch_add(1, std::memory_order_relaxed);

    request_target target;
    if (!split_request_target(req.target(), target) || !normalize_path(target.path, s.path))
        co_return co_await send_local(s, &parser, 400, false, head, send_timeout);
    if (req.count(http::field::host) > 1 || (req.version() >= 11 && target.authority.empty() && req.count(http::field::host) == 0))
        co_return co_await send_local(s, &parser, 400, false, head, send_timeout);
    std::string_view host_header = req[http::field::host];
    std::string_view route_host = target.authority.empty() ? host_header : target.authority;

    route_match m = match_route(*snap, route_host, s.path);
    const location& loc = *m.loc;
    const virtual_host& vh = *m.host;
    s.loc = &loc;
    s.custom_headers = loc.policy.response_headers.get();
    if (s.tls && vh.tls)
        s.hsts = snap->settings.hsts_header;
    // Copied now: the views into the request line die when a rewrite replaces the target.
    std::string best_host(route_host.empty() ? std::string_view(m.host->name) : route_host);
    client_view client;
    resolve_client(snap->settings.forwarding, req, s.client_ip, s.scheme, s.server_port, best_host, client);
    if (s.w.has_access_log()) {
        s.log.remote_addr.assign(client.remote_addr);
        s.log.target.assign(req.target());
        std::string_view h = host_without_port(route_host.empty() ? std::string_view(vh.name) : route_host);
        s.log.host.assign(h);
        for (char& c : s.log.host)
            c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }

    // Server phase, in nginx's order: the from-to-www server, then app-root (server rewrite).
    // $request_uri: the path and query as sent (assembled for an absolute-form target, whose
    // path may be implied).
    std::string absolute_uri;
    std::string_view request_uri = target.path;
    if (!target.authority.empty()) {
        absolute_uri = std::string(target.path) + (target.has_query ? "?" + std::string(target.query) : "");
        request_uri = absolute_uri;
    } else if (target.has_query) {
        request_uri = std::string_view(target.path.data(), target.query.data() + target.query.size() - target.path.data());
    }
    if (!vh.redirect_to.empty()) {
        std::string to = "http://" + vh.redirect_to + std::string(request_uri);
        co_return co_await send_local(s, &parser, 308, keep_alive, head, loc.policy.send_timeout, http::field::location, to);
    }
    if (!vh.app_root.empty() && s.path == "/") {
        std::string to = "http://" + std::string(host_header) + vh.app_root;
        co_return co_await send_local(s, &parser, 302, keep_alive, head, loc.policy.send_timeout, http::field::location, to);
    }
    // nginx checks client_max_body_size when it selects the location, before the location's
    // rewrite and access phases.
    if (loc.policy.max_body_size) {
        if (auto length = parser.content_length(); length && *length > loc.policy.max_body_size)
            co_return co_await send_local(s, &parser, 413, false, head, loc.policy.send_timeout);
    }
    // CORS, in the rewrite phase as ingress-nginx's template has it: an allowed Origin gets the
    // Access-Control-* headers on whatever answers, and an OPTIONS request with one is answered
    // here (before redirects and access checks, so a preflight needs no credentials).
    if (const cors_policy* cors = loc.policy.cors.get()) {
        std::string_view allowed = cors->allow_origin(req[http::field::origin]);
        if (!allowed.empty()) {
            s.cors = cors;
            s.cors_origin.assign(allowed);
            if (req.method() == http::verb::options)
                co_return co_await send_preflight(s, parser, keep_alive, loc.policy.send_timeout);
        }
    }
    path_captures captures;
    if (loc.rewrite || loc.redirect || loc.x_forwarded_prefix)
        captures = capture_path(loc, s.path);
    template_values values{captures.span(), request_uri, s.path,
                           vh.name.empty() ? host_header : std::string_view(vh.name), host_header, s.scheme,
                           target.query, s.server_port};
    if (loc.redirect) {
        std::string to;
        loc.redirect->url.expand(values, to);
        co_return co_await send_local(s, &parser, loc.redirect->code, keep_alive, head, loc.policy.send_timeout,
                                      http::field::location, to);
    }
    // To HTTPS (ingress-nginx's lua_ingress.lua, after the location's own redirects): on hosts
    // with TLS unless ssl-redirect is off, on any host with force-ssl-redirect.
    if (client.scheme == "http" && (loc.policy.force_ssl_redirect || (vh.tls && loc.policy.ssl_redirect))) {
        std::string to = "https://";
        to += host_without_port(host_header.empty() ? std::string_view(vh.name) : host_header);
        if (loc.policy.use_port_in_redirects)
            to += ":" + std::to_string(s.w.https_port());
        std::string_view uri = request_uri;
        if (!loc.policy.preserve_trailing_slash && uri.ends_with('/'))
            uri.remove_suffix(1);
        to += uri;
        co_return co_await send_local(s, &parser, snap->settings.http_redirect_code, keep_alive, head,
                                      loc.policy.send_timeout, http::field::location, to);
    }
    // Preaccess phase (limit_conn, then limit_req per minute and per second) and the access
    // module's allow/deny, before authentication.
    connection_slot slot;
    if (const access_rules* rules = loc.policy.access.get()) {
        if (!rules->misconfigured.empty())
            co_return co_await send_local(s, &parser, 503, keep_alive, head, loc.policy.send_timeout);
        error_code aec;
        auto addr = asio::ip::make_address(client.remote_addr, aec);
        if (aec)
            addr = asio::ip::make_address(s.client_ip, aec);
        if (rules->has_limits() && !in_networks(rules->limit_exempt, addr)) {
            rate_limits& limits = rate_limits::shared();
            if (rules->connections && !slot.acquire(limits, rules->zone, addr, rules->connections))
                co_return co_await send_local(s, &parser, snap->settings.limit_conn_status, keep_alive, head,
                                              loc.policy.send_timeout);
            auto now = rate_limits::clock::now();
            if ((rules->rpm && !limits.take_request(rules->zone, addr, rules->rpm, std::chrono::minutes(1),
                                                    rules->rpm * rules->burst_multiplier, now)) ||
                (rules->rps && !limits.take_request(rules->zone, addr, rules->rps, std::chrono::seconds(1),
                                                    rules->rps * rules->burst_multiplier, now)))
                co_return co_await send_local(s, &parser, snap->settings.limit_req_status, keep_alive, head,
                                              loc.policy.send_timeout);
        }
        if (!source_allowed(*rules, addr))
            co_return co_await send_local(s, &parser, 403, keep_alive, head, loc.policy.send_timeout);
    }
    // Access phase: basic authentication. Slow hashes run on the shared slow-work pool; a
    // success is remembered by this worker under a keyed digest.
    if (loc.auth) {
        const basic_auth& auth = *loc.auth;
        if (!auth.denied.empty())
            co_return co_await send_local(s, &parser, 503, keep_alive, head, loc.policy.send_timeout);
        std::string user, password;
        bool allowed = false;
        if (parse_basic_credentials(req[http::field::authorization], user, password)) {
            if (s.w.has_access_log())
                s.log.user = user;
            if (const std::string* hash = auth.users->find(user)) {
                auto key = s.w.verified_credentials().key_for(auth.version, user, password);
                if (s.w.verified_credentials().contains(key)) {
                    allowed = true;
                } else {
                    password_check result;
                    if (!is_slow_hash(*hash)) {
                        result = verify_password(password, *hash);
                    } else if (auto it = s.w.checks_in_flight().find(key); it != s.w.checks_in_flight().end()) {
                        std::shared_ptr<credential_check> check = it->second;
                        while (!check->finished) {
                            auto [ec] = co_await check->done.async_wait(nothrow);
                            (void)ec;  // cancelled: the result is in
                        }
                        result = static_cast<password_check>(check->result);
                    } else {
                        auto check = std::make_shared<credential_check>(s.w.io());
                        s.w.checks_in_flight().emplace(key, check);
                        result = co_await asio::co_spawn(s.w.slow_work(), verify_elsewhere(password, *hash),
                                                         asio::use_awaitable);
                        check->result = static_cast<int>(result);
                        check->finished = true;
                        check->done.cancel();
                        s.w.checks_in_flight().erase(key);
                    }
                    if (result == password_check::error)
                        co_return co_await send_local(s, &parser, 500, keep_alive, head, loc.policy.send_timeout);
                    allowed = result == password_check::match;
                    if (allowed)
                        s.w.verified_credentials().insert(key);
                }
            }
        }
        if (!allowed)
            co_return co_await send_local(s, &parser, 401, keep_alive, head, loc.policy.send_timeout,
                                          http::field::www_authenticate, auth.www_authenticate);
        // ingress-nginx: proxy_set_header Authorization "" after a successful login.
        req.erase(http::field::authorization);
    }
    if (loc.backend == no_backend)
        co_return co_await send_local(s, &parser, 404, keep_alive, head, loc.policy.send_timeout);
    // Canary phase: a canary takes the request or the main backend keeps it; everything else
    // about the location (rewrite, timeouts, ...) is the main Ingress's.
    uint32_t backend_index = loc.backend;
    if (!loc.canary_policies.empty()) {
        int pick = choose_canary(loc.canary_policies, request_fields{req},
                                 [&s](uint32_t n) { return s.w.uniform(n); });
        if (pick >= 0) {
            backend_index = loc.canary_backends[static_cast<size_t>(pick)];
            s.canary = snap->backends[backend_index].key;
        }
    }
    // default-backend: serves the location while its Service has no ready endpoint.
    if (snap->backends[backend_index].state != backend_state::ready && loc.error_backend != no_backend &&
        snap->backends[loc.error_backend].state == backend_state::ready)
        backend_index = loc.error_backend;
    if (snap->backends[backend_index].state != backend_state::ready) {
        if (!loc.policy.custom_errors.empty() && std::binary_search(loc.policy.custom_errors.begin(), loc.policy.custom_errors.end(), 503)) {
            // Answered by the error backend (or sluice's page) as an upstream's 503 would be.
            request_state rs{*snap, loc, backend_index, parser};
            rs.head = head;
            rs.keep_alive = keep_alive;
            rs.original_target = std::string(request_uri);
            co_return co_await forward(s, rs, client, 503);
        }
        co_return co_await send_local(s, &parser, 503, keep_alive, head, loc.policy.send_timeout);
    }

    std::string original_target;
    if (!loc.policy.custom_errors.empty())
        original_target = std::string(request_uri);  // the rewrite below replaces it
    // The request values a hash key or proxy-set-headers read, copied before the rewrite
    // replaces the target.
    // The Host field is replaced for the upstream before proxy-set-headers are expanded.
    std::string balance_uri, balance_args, balance_host;
    if (loc.policy.balance.kind == balance_kind::hash || loc.policy.set_request_headers) {
        balance_uri = std::string(request_uri);
        balance_args = std::string(target.query);
        balance_host = std::string(host_header);
        host_header = balance_host;
        request_uri = balance_uri;
        target.query = balance_args;
    }

    // Rewrite phase: the whole URI becomes the target with captures substituted; the query
    // string is kept (nginx's rewrite ... break).
    if (std::string rewritten; rewrite_target(loc, values, target.query, target.has_query, rewritten)) {
        if (loc.x_forwarded_prefix) {
            std::string prefix;
            loc.x_forwarded_prefix->expand(values, prefix);
            req.set("X-Forwarded-Prefix", prefix);
        }
        req.target(rewritten);
    } else if (!target.authority.empty()) {
        // Absolute-form goes upstream in origin-form: one Host, the authority's.
        std::string origin(request_uri);
        req.target(origin);
    }

    std::string_view expect = req[http::field::expect];
    request_state rs{*snap, loc, backend_index, parser};
    const balance_inputs inputs{request_uri, target.query, client.remote_addr, host_header};
    choose_balance_key(s, rs, inputs);
    rs.inputs = &inputs;
    rs.original_target = std::move(original_target);
    rs.head = head;
    rs.idempotent = is_idempotent(req.method());
    rs.keep_alive = keep_alive;
    rs.expect_continue = req.version() >= 11 && beast::iequals(expect, "100-continue");
    co_return co_await forward(s, rs, client, 0);
}

template <class Stream>
void write_access_log(session<Stream>& s, request_parser& parser, const route_snapshot& snap, const location& loc,
                      std::string_view method, std::chrono::steady_clock::duration elapsed)
{
    access_record r;
    r.time = std::chrono::system_clock::now();
    r.request_time = std::chrono::duration<double>(elapsed).count();
    r.remote_addr = s.log.remote_addr.empty() ? std::string_view(s.client_ip) : std::string_view(s.log.remote_addr);
    if (s.log.user.empty()) {
        // nginx's $remote_user: the user of any Basic Authorization header, checked or not.
        std::string password;
        if (auto it = parser.get().find(http::field::authorization); it != parser.get().end())
            parse_basic_credentials(it->value(), s.log.user, password);
    }
    r.remote_user = s.log.user;
    r.method = method;
    r.target = s.log.target;
    r.version = parser.get().version();
    r.scheme = s.scheme;
    r.host = s.log.host;
    r.server_port = s.server_port;
    r.status = s.status;
    r.body_bytes_sent = s.log.body_bytes;
    r.bytes_sent = s.bytes_out;
    r.request_length = s.log.request_length;
    r.request_id = s.log.request_id;
    r.upstream_name = loc.upstream_name;
    r.alternative_upstream_name = loc.alternative_upstream_name;
    r.upstream_addr = s.log.upstream_addr;
    r.upstream_status = s.log.upstream_status;
    r.upstream_response_time = s.log.upstream_time;
    r.upstream_response_length = s.log.upstream_length;
    const location_names names = names_of(snap, loc);
    r.ingress_namespace = names.ns;
    r.ingress_name = names.ingress;
    r.service_name = names.service;
    r.service_port = names.port;
    r.location_path = loc.raw_path.empty() ? std::string_view(loc.path) : std::string_view(loc.raw_path);
    r.request_fields = &parser.get();
    std::string& line = s.w.log_scratch();
    line.clear();
    const log_format& format = snap.settings.access_log_format ? *snap.settings.access_log_format : log_format::standard();
    format.render(r, snap.settings.access_log_escape, line);
    line.push_back('\n');
    s.w.write_access_log(line);
}

// One request, timed and counted once it is answered.
template <class Stream>
asio::awaitable<bool> handle_request(session<Stream>& s, request_parser& parser, bool last_allowed)
{
    // The request keeps this snapshot until it ends, whatever is published meanwhile.
    std::shared_ptr<const route_snapshot> snap = s.w.snapshot();
    auto start = std::chrono::steady_clock::now();
    s.loc = nullptr;
    s.canary = {};
    s.hsts = {};
    s.cors = nullptr;
    s.custom_headers = nullptr;
    s.set_cookie.clear();
    s.upstream_seconds = -1;
    s.status = 0;
    s.bytes_out = 0;
    http::verb method = parser.get().method();
    bool keep = co_await serve_request(s, parser, last_allowed, snap);
    if (s.status != 0) {
        std::string_view method_name = method == http::verb::unknown ? std::string_view("OTHER") : std::string_view(http::to_string(method));
        auto elapsed = std::chrono::steady_clock::now() - start;
        const location& loc = s.loc ? *s.loc : snap->catch_all.fallback;
        s.w.metrics().record(loc, method_name, s.status, s.canary, elapsed, s.bytes_out, s.upstream_seconds);
        if (s.w.has_access_log() && snap->settings.access_log && loc.policy.access_log)
            write_access_log(s, parser, *snap, loc, method_name, elapsed);
    }
    co_return keep;
}

template <class Stream>
asio::awaitable<void> serve_connection(session<Stream>& s)
{
    worker& w = s.w;
    for (;; ++s.served) {
        const uint32_t served = s.served;
        // Settings for reading the next header come from the current snapshot, copied: a swap
        // while this connection waits frees that snapshot. The request itself pins the snapshot
        // once its header is in.
        const global_settings& current = w.snapshot()->settings;
        const uint32_t header_limit = current.header_limit;
        const uint32_t keepalive_requests = current.keepalive_requests;
        const uint32_t request_line_limit = current.request_line_limit;
        const auto header_timeout = current.client_header_timeout;
        const auto keepalive_timeout = current.keepalive_timeout;
        request_parser parser;
        parser.header_limit(header_limit);
        parser.body_limit(boost::none);
        if (w.draining())
            break;
        // The whole header is gathered and checked as bytes before Beast parses it: obs-fold,
        // bare CR and bare LF are refused here (Beast would accept the fold), and the header
        // timeout runs from the request's first byte, not per read, so a header trickled a byte
        // at a time cannot hold the connection (slowloris).
        bool idle = s.client_buf.size() == 0;
        if (served == 0)
            s.client_deadline.arm_until(s.first_header_by);
        else
            s.client_deadline.arm(idle ? keepalive_timeout : header_timeout);
        s.client_deadline.set_idle(idle);
        const head_limits limits{header_limit, request_line_limit};
        head_outcome head;
        error_code rec;
        // A connection waiting for its next request holds at most 1 KiB for it (most request
        // headers fit; a longer one grows the buffer as it arrives). Waiting for readability
        // without any buffer would cost an epoll_ctl per request in Asio's reactor.
        if (idle && s.client_buf.capacity() > idle_read_size)
            s.client_buf.shrink_to_fit();
        for (;;) {
            auto data = s.client_buf.data();
            head = parse_request_head(std::string_view(static_cast<const char*>(data.data()), data.size()), parser, limits);
            if (head.state != head_outcome::need_more)
                break;
            auto [ec, got] = co_await s.client.async_read_some(
                s.client_buf.prepare(std::min<size_t>(header_limit - data.size() + 1, data.size() == 0 ? idle_read_size : 4096)),
                nothrow);
            s.client_buf.commit(got);
            if (ec) {
                rec = ec;
                break;
            }
            if (idle) {
                idle = false;
                s.client_deadline.set_idle(false);
                if (served > 0)
                    s.client_deadline.arm(header_timeout);
            }
        }
        if (rec) {
            // The sweep cancelled a read that had waited long enough: the worker keeps the bare
            // socket until it is readable again, and this session and its buffers are freed.
            s.parked = idle && rec == asio::error::operation_aborted && s.client_deadline.parking() && !w.draining();
            s.client_deadline.set_idle(false);
            break;
        }
        s.client_deadline.set_idle(false);
        if (head.state == head_outcome::refuse) {
            s.status = 0;
            const bool head_method = parser.is_header_done() && parser.get().method() == http::verb::head;
            co_await send_local(s, parser.is_header_done() ? &parser : nullptr, head.status, false, head_method,
                                std::chrono::seconds(5));
            break;
        }
        s.client_buf.consume(head.consumed);
        const size_t n = head.consumed;
        s.client_version = parser.get().version();
        s.log.reset();
        s.log.request_length = n;
        bool keep = co_await handle_request(s, parser, served + 1 >= keepalive_requests);
        if (!keep)
            break;
    }
}

// Socket options and the addresses every request's headers need.
bool prepare_client(tcp::socket& socket, std::string& client_ip, std::string& server_port)
{
    error_code ec;
    auto remote = socket.remote_endpoint(ec);
    auto local = socket.local_endpoint(ec);
    socket.set_option(tcp::no_delay(true), ec);  // failure only costs latency
    report_unread_bytes(socket);
    socket.non_blocking(true, ec);
    if (ec)
        return false;  // the connection is already unusable
    client_ip = remote.address().to_string();
    server_port = std::to_string(local.port());
    return true;
}

// A session for a connection new or back from parking: what it carries over.
template <class Stream>
void take_over(session<Stream>& s, parked_connection& c)
{
    s.client_ip = std::move(c.client_ip);
    s.server_port = std::move(c.server_port);
    s.served = c.served;
    s.first_header_by = c.expires;
}

// Hands the idle connection of a session that left serve_connection to park to its worker.
template <class Stream>
void park(session<Stream>& s, tcp::socket socket, ssl_ptr tls)
{
    parked_connection idle{std::move(socket), s.client_deadline.expiry(), std::move(s.client_ip), std::move(s.server_port),
                           s.served, std::move(tls)};
    s.w.park(std::move(idle));
}

// The end of a client connection, once any close_notify is sent.
void close_client(worker& w, tcp::socket& socket)
{
    w.counters().connections_open.fetch_sub(1, std::memory_order_relaxed);
    error_code ec;
    socket.shutdown(tcp::socket::shutdown_send, ec);  // the peer may already be gone
    socket.close(ec);
}

// A plain connection, new or back from parking, until it closes or parks again.
asio::awaitable<void> serve_plain(worker& w, parked_connection c)
{
    if (!c.socket.is_open())
        co_return;
    session<tcp::socket> s(w, std::move(c.socket));
    take_over(s, c);
    s.client_deadline.set_parkable(true);
    co_await serve_connection(s);
    if (s.parked) {
        park(s, std::move(s.client), nullptr);
        co_return;
    }
    s.client_deadline.disarm();
    close_client(w, s.client);
}

// A TLS connection, new (its handshake first, the certificate chosen by SNI from the current
// snapshot) or back from parking, until it closes or parks again.
asio::awaitable<void> serve_tls(worker& w, parked_connection c)
{
    if (!c.socket.is_open())
        co_return;
    // The handshake pins the snapshot whose certificates its SNI callback reads.
    std::shared_ptr<const route_snapshot> snap;
    if (!c.tls) {
        snap = w.snapshot();
        if (!snap->tls_context) {
            close_client(w, c.socket);
            co_return;
        }
    }
    session<tls_stream> s(w, c.tls ? tls_stream(std::move(c.socket), std::move(c.tls))
                                   : tls_stream(std::move(c.socket), snap->tls_context->asio_context().native_handle()));
    take_over(s, c);
    bool established = !snap;
    if (snap) {
        s.client_deadline.arm_until(s.first_header_by);
        s.client_deadline.set_idle(true);  // a drain may drop a connection that has not said a word
        auto [hec] = co_await s.client.async_handshake(nothrow);
        s.client_deadline.set_idle(false);
        snap.reset();
        if (hec) {
            w.counters().tls_handshake_errors.fetch_add(1, std::memory_order_relaxed);
            log_line(log_level::debug, "TLS handshake from " + s.client_ip + " failed: " + hec.message());
        } else {
            w.counters().tls_handshakes.fetch_add(1, std::memory_order_relaxed);
            s.first_header_by = deadline_list::clock::now() + w.snapshot()->settings.client_header_timeout;
            established = true;
        }
    }
    if (established) {
        s.client_deadline.set_parkable(true);
        co_await serve_connection(s);
        if (s.parked) {
            auto [socket, tls] = std::move(s.client).release();
            park(s, std::move(socket), std::move(tls));
            co_return;
        }
        // close_notify, waiting briefly for the client's.
        s.client_deadline.arm(std::chrono::seconds(1));
        auto [sec] = co_await s.client.async_shutdown(nothrow);
        (void)sec;  // the peer may be gone already
    }
    s.client_deadline.disarm();
    close_client(w, s.client.next_layer());
}

// A connection just accepted: its addresses, and the deadline of its first header.
parked_connection accepted(worker& w, tcp::socket socket)
{
    parked_connection c{std::move(socket), deadline_list::clock::now() + w.snapshot()->settings.client_header_timeout};
    error_code ignored;
    if (prepare_client(c.socket, c.client_ip, c.server_port))
        w.counters().connections_open.fetch_add(1, std::memory_order_relaxed);
    else
        c.socket.close(ignored);  // the session ends at once
    return c;
}

}  // namespace

// Not coroutines themselves: each returns serve_plain's or serve_tls's, so a connection has one
// frame.
asio::awaitable<void> serve_downstream(worker& w, tcp::socket socket)
{
    parked_connection c = accepted(w, std::move(socket));
    return serve_plain(w, std::move(c));
}

asio::awaitable<void> serve_downstream_tls(worker& w, tcp::socket socket)
{
    parked_connection c = accepted(w, std::move(socket));
    return serve_tls(w, std::move(c));
}

asio::awaitable<void> resume_downstream(worker& w, parked_connection c)
{
    return c.tls ? serve_tls(w, std::move(c)) : serve_plain(w, std::move(c));
}

}  // namespace sluice
