// sluice-echo: answers every request with 200 and a JSON description of the request, in the shape
// of the Kubernetes ingress conformance echoserver, plus the size and SHA-256 of the body it read.
// With --tls-cert/--tls-key it speaks HTTPS and also reports the SNI name the client sent.
// A WebSocket upgrade is accepted and every message echoed back; the text message "whoami" gets
// the JSON description of the upgrade request instead. --status and --delay-ms make it answer
// with another status, or late.
#include <iostream>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace po = boost::program_options;
using tcp = asio::ip::tcp;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

struct options {
    std::string service = "echo";
    std::string pod;
    unsigned status = 200;
    unsigned delay_ms = 0;
};

std::string hex(const unsigned char* d, unsigned n)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (unsigned i = 0; i < n; ++i) {
        s.push_back(digits[d[i] >> 4]);
        s.push_back(digits[d[i] & 15]);
    }
    return s;
}

// Accepts the upgrade in `req` (bytes already read stay in `buffer`) and echoes messages.
template <class Stream>
asio::awaitable<void> serve_websocket(Stream& stream, beast::flat_buffer& buffer,
                                      const http::request<http::buffer_body>& req, std::string whoami)
{
    beast::websocket::stream<Stream&> ws(stream);
    // A client waits for the 101 before it sends a frame, so nothing past the header is pending.
    (void)buffer;
    http::request<http::empty_body> head{req.base()};
    auto [aec] = co_await ws.async_accept(head, nothrow);
    if (aec)
        co_return;
    beast::flat_buffer message;
    for (;;) {
        auto [rec, n] = co_await ws.async_read(message, nothrow);
        if (rec)
            break;
        std::string text = beast::buffers_to_string(message.data());
        message.consume(message.size());
        ws.text(ws.got_text());
        if (ws.got_text() && text == "whoami")
            text = whoami;
        auto [wec, wn] = co_await ws.async_write(asio::buffer(text), nothrow);
        if (wec)
            break;
    }
}

template <class Stream>
asio::awaitable<void> serve_stream(Stream& stream, const options& opt, const std::string& sni)
{
    beast::flat_buffer buffer;
    std::vector<char> body(64 * 1024);
    for (;;) {
        http::request_parser<http::buffer_body> parser;
        parser.body_limit(boost::none);
        parser.header_limit(64 * 1024);
        auto [rec, rn] = co_await http::async_read_header(stream, buffer, parser, nothrow);
        if (rec)
            break;
        auto& req = parser.get();
        uint64_t body_bytes = 0;
        EVP_MD_CTX* sha = nullptr;
        bool failed = false;
        while (!parser.is_done()) {
            req.body().data = body.data();
            req.body().size = body.size();
            auto [ec2, n2] = co_await http::async_read_some(stream, buffer, parser, nothrow);
            if (ec2 && ec2 != http::error::need_buffer) {
                failed = true;
                break;
            }
            size_t got = body.size() - req.body().size;
            if (got) {
                if (!sha) {
                    sha = EVP_MD_CTX_new();
                    EVP_DigestInit_ex(sha, EVP_sha256(), nullptr);
                }
                EVP_DigestUpdate(sha, body.data(), got);
                body_bytes += got;
            }
        }
        std::string digest;
        if (sha) {
            unsigned char md[EVP_MAX_MD_SIZE];
            unsigned len = 0;
            EVP_DigestFinal_ex(sha, md, &len);
            EVP_MD_CTX_free(sha);
            digest = hex(md, len);
        }
        if (failed)
            break;

        nlohmann::json headers = nlohmann::json::object();
        for (const auto& f : req) {
            std::string name(f.name_string());
            for (auto& c : name)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            headers[name].push_back(std::string(f.value()));
        }
        nlohmann::json j{{"service", opt.service},
                         {"pod", opt.pod},
                         {"path", std::string(req.target())},
                         {"host", std::string(req[http::field::host])},
                         {"method", std::string(req.method_string())},
                         {"proto", req.version() == 11 ? "HTTP/1.1" : "HTTP/1.0"},
                         {"headers", std::move(headers)},
                         {"body_bytes", body_bytes},
                         {"body_sha256", digest}};
        if constexpr (!std::is_same_v<Stream, tcp::socket>)
            j["sni"] = sni;
        if (beast::websocket::is_upgrade(req)) {
            co_await serve_websocket(stream, buffer, req, j.dump());
            break;
        }
        if (opt.delay_ms) {
            asio::steady_timer t(stream.get_executor(), std::chrono::milliseconds(opt.delay_ms));
            co_await t.async_wait(nothrow);
        }
        http::response<http::string_body> res{static_cast<http::status>(opt.status), req.version()};
        res.set(http::field::content_type, "application/json");
        res.keep_alive(req.keep_alive());
        res.body() = j.dump() + "\n";
        res.prepare_payload();
        if (req.method() == http::verb::head) {
            http::response<http::empty_body> head{static_cast<http::status>(opt.status), req.version()};
            head.set(http::field::content_type, "application/json");
            head.content_length(res.body().size());
            head.keep_alive(req.keep_alive());
            auto [wec, wn] = co_await http::async_write(stream, head, nothrow);
            if (wec)
                break;
        } else {
            auto [wec, wn] = co_await http::async_write(stream, res, nothrow);
            if (wec)
                break;
        }
        if (!req.keep_alive())
            break;
    }
}

asio::awaitable<void> serve(tcp::socket socket, const options& opt)
{
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    co_await serve_stream(socket, opt, "");
    socket.shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> serve_tls(tcp::socket socket, asio::ssl::context& ctx, const options& opt)
{
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    asio::ssl::stream<tcp::socket> stream(std::move(socket), ctx);
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, nothrow);
    if (hec)
        co_return;
    const char* sni = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
    co_await serve_stream(stream, opt, sni ? sni : "");
    auto [sec] = co_await stream.async_shutdown(nothrow);
    (void)sec;
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, asio::ssl::context* tls, const options& opt)
{
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(nothrow);
        if (ec)
            continue;
        if (tls)
            asio::co_spawn(acceptor.get_executor(), serve_tls(std::move(socket), *tls, opt), asio::detached);
        else
            asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), opt), asio::detached);
    }
}

}  // namespace

int main(int argc, char** argv)
{
    options opt;
    std::string bind = "127.0.0.1";
    unsigned port = 8080;
    unsigned threads = 1;
    std::string tls_cert, tls_key;
    po::options_description desc("sluice-echo: echo backend for the quickstart, tests and benchmarks\n\nOptions");
    desc.add_options()("help,h", "show this help")("port", po::value(&port)->default_value(port), "port (0: any)")(
        "bind", po::value(&bind)->default_value(bind), "address")(
        "service", po::value(&opt.service)->default_value(opt.service), "service name to report")(
        "pod", po::value(&opt.pod), "pod name to report (default: service-port)")(
        "threads", po::value(&threads)->default_value(threads), "threads")(
        "status", po::value(&opt.status)->default_value(opt.status), "status of every answer")(
        "delay-ms", po::value(&opt.delay_ms)->default_value(opt.delay_ms), "wait this long before answering")(
        "tls-cert", po::value(&tls_cert), "PEM certificate chain: serve HTTPS")("tls-key", po::value(&tls_key),
                                                                               "PEM private key of --tls-cert");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "sluice-echo: " << e.what() << "\n" << desc << "\n";
        return 2;
    }
    if (vm.count("help")) {
        std::cout << desc << "\n";
        return 0;
    }
    std::unique_ptr<asio::ssl::context> tls;
    if (!tls_cert.empty()) {
        tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
        try {
            tls->use_certificate_chain_file(tls_cert);
            tls->use_private_key_file(tls_key, asio::ssl::context::pem);
        } catch (const std::exception& e) {
            std::cerr << "sluice-echo: " << e.what() << "\n";
            return 2;
        }
    }
    asio::io_context io{static_cast<int>(threads)};
    tcp::endpoint ep(asio::ip::make_address(bind), static_cast<uint16_t>(port));
    tcp::acceptor acceptor(io);
    acceptor.open(ep.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(asio::socket_base::max_listen_connections);
    unsigned actual = acceptor.local_endpoint().port();
    if (opt.pod.empty())
        opt.pod = opt.service + "-" + std::to_string(actual);
    std::cerr << "sluice-echo: listening on " << bind << ":" << actual << " as service " << opt.service << "\n"
              << std::flush;
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const beast::error_code&, int) { io.stop(); });
    asio::co_spawn(io, accept_loop(acceptor, tls.get(), opt), asio::detached);
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i)
        pool.emplace_back([&] { io.run(); });
    io.run();
    for (auto& t : pool)
        t.join();
    return 0;
}
