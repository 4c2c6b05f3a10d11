#include "kube/api_client.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace sluice::kube {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

asio::awaitable<bool> connect_to(beast::tcp_stream& s, const tcp::resolver::results_type& results,
                                 const std::string& server, api_reply& reply)
{
    s.expires_after(std::chrono::seconds(30));
    auto [ec, ep] = co_await s.async_connect(results, nothrow);
    if (ec)
        reply.error = "connecting to " + server + ": " + ec.message();
    co_return !ec;
}
}  // namespace

api_client::api_client(asio::io_context& io, api_config config) : io_(io), config_(std::move(config))
{
    if (config_.scheme != "https")
        return;
    tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
    try {
        if (config_.insecure_skip_verify) {
            tls_->set_verify_mode(asio::ssl::verify_none);
        } else {
            tls_->set_verify_mode(asio::ssl::verify_peer);
            if (config_.ca_pem.empty())
                tls_->set_default_verify_paths();
            else
                tls_->add_certificate_authority(asio::buffer(config_.ca_pem));
        }
        if (!config_.client_cert_pem.empty()) {
            tls_->use_certificate_chain(asio::buffer(config_.client_cert_pem));
            tls_->use_private_key(asio::buffer(config_.client_key_pem), asio::ssl::context::pem);
        }
    } catch (const std::exception& e) {
        throw std::runtime_error(config_.origin + ": TLS material does not load: " + e.what());
    }
}

api_client::~api_client() = default;

template <class Stream>
asio::awaitable<api_reply> api_client::exchange(Stream& stream, http::verb method, const std::string& target,
                                                const std::string& body, const std::string& content_type,
                                                const std::function<bool(std::string_view)>* on_line,
                                                std::chrono::seconds timeout)
{
    api_reply reply;
    auto& lowest = beast::get_lowest_layer(stream);
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, config_.host.find(':') != std::string::npos ? "[" + config_.host + "]" : config_.host);
    req.set(http::field::user_agent, "sluice");
    req.set(http::field::accept, "application/json");
    if (std::string token = config_.bearer_token(); !token.empty())
        req.set(http::field::authorization, "Bearer " + token);
    if (!body.empty()) {
        req.set(http::field::content_type, content_type);
        req.body() = body;
    }
    req.prepare_payload();
    req.keep_alive(false);
    lowest.expires_after(timeout);
    auto [wec, wn] = co_await http::async_write(stream, req, nothrow);
    if (wec) {
        reply.error = "sending the request: " + wec.message();
        co_return reply;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, nothrow);
    if (hec) {
        reply.error = "reading the answer: " + hec.message();
        co_return reply;
    }
    reply.status = parser.get().result_int();
    // A watch (status 200 with a line handler) is consumed line by line; anything else whole.
    // Either within 64 MiB: a list of every Secret of a large cluster stays well under that, and
    // a watch event holds one object (etcd stores at most 1.5 MiB).
    const bool streaming = on_line && reply.status == 200;
    constexpr size_t max_pending = 64 * 1024 * 1024;
    std::string pending;
    size_t searched = 0;  // pending[0, searched) holds no newline
    char chunk[16 * 1024];
    while (!parser.is_done()) {
        parser.get().body().data = chunk;
        parser.get().body().size = sizeof chunk;
        lowest.expires_after(timeout);
        auto [rec, rn] = co_await http::async_read_some(stream, buffer, parser, nothrow);
        size_t got = sizeof chunk - parser.get().body().size;
        pending.append(chunk, got);
        if (streaming) {
            size_t start = 0;
            for (size_t nl; (nl = pending.find('\n', std::max(start, searched))) != std::string::npos; start = nl + 1) {
                if (nl > start && !(*on_line)(std::string_view(pending).substr(start, nl - start))) {
                    co_return reply;
                }
            }
            pending.erase(0, start);
            searched = pending.size();
        }
        if (pending.size() > max_pending) {
            reply.error = streaming ? "a watch event larger than 64 MiB" : "answer larger than 64 MiB";
            co_return reply;
        }
        if (rec && rec != http::error::need_buffer) {
            reply.error = rec == beast::error::timeout ? "no data for " + std::to_string(timeout.count()) + "s" : rec.message();
            co_return reply;
        }
    }
    if (streaming && !pending.empty())
        (*on_line)(pending);
    else if (!streaming)
        reply.body = std::move(pending);
    co_return reply;
}

asio::awaitable<api_reply> api_client::request(http::verb method, std::string target, std::string body,
                                               std::string content_type, std::chrono::seconds timeout)
{
    co_return co_await perform(method, target, body, content_type, nullptr, timeout);
}

asio::awaitable<api_reply> api_client::stream(std::string target, std::function<bool(std::string_view)> on_line,
                                              std::chrono::seconds idle_timeout)
{
    co_return co_await perform(http::verb::get, target, {}, {}, &on_line, idle_timeout);
}

// Resolve, connect, TLS (with the server's name or address verified), then one exchange.
asio::awaitable<api_reply> api_client::perform(http::verb method, const std::string& target, const std::string& body,
                                               const std::string& content_type,
                                               const std::function<bool(std::string_view)>* on_line,
                                               std::chrono::seconds timeout)
{
    api_reply reply;
    const std::string server = config_.host + ":" + config_.port;
    tcp::resolver resolver(io_);
    auto [rec, results] = co_await resolver.async_resolve(config_.host, config_.port, nothrow);
    if (rec) {
        reply.error = "resolving " + config_.host + ": " + rec.message();
        co_return reply;
    }
    if (!tls_) {
        beast::tcp_stream s(io_);
        if (!co_await connect_to(s, results, server, reply))
            co_return reply;
        co_return co_await exchange(s, method, target, body, content_type, on_line, timeout);
    }
    beast::ssl_stream<beast::tcp_stream> s(io_, *tls_);
    if (!co_await connect_to(beast::get_lowest_layer(s), results, server, reply))
        co_return reply;
    boost::system::error_code not_address;
    asio::ip::make_address(config_.host, not_address);
    if (not_address)
        SSL_set_tlsext_host_name(s.native_handle(), config_.host.c_str());
    if (!config_.insecure_skip_verify) {
        // The server certificate must name what we connected to (an IP SAN for an address).
        X509_VERIFY_PARAM* param = SSL_get0_param(s.native_handle());
        if (not_address)
            X509_VERIFY_PARAM_set1_host(param, config_.host.c_str(), 0);
        else
            X509_VERIFY_PARAM_set1_ip_asc(param, config_.host.c_str());
    }
    beast::get_lowest_layer(s).expires_after(std::chrono::seconds(30));
    auto [hec] = co_await s.async_handshake(asio::ssl::stream_base::client, nothrow);
    if (hec) {
        reply.error = "TLS handshake with " + server + ": " + hec.message();
        co_return reply;
    }
    co_return co_await exchange(s, method, target, body, content_type, on_line, timeout);
}

}  // namespace sluice::kube
