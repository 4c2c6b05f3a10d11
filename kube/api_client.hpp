#pragma once
// A small Kubernetes API client on Beast and OpenSSL, for the control thread: one request per
// connection, and watch streams read line by line. Each request reads the bearer token again, so
// a rotated service-account token is used as soon as it is on disk.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/verb.hpp>

#include "kube/api_config.hpp"

namespace sluice::kube {

struct api_reply {
    unsigned status = 0;  // 0: no HTTP answer (connection or TLS failure, timeout)
    std::string body;
    std::string error;    // why there is no answer
};

class api_client {
public:
    // Throws std::runtime_error when the TLS material does not load.
    api_client(boost::asio::io_context& io, api_config config);
    ~api_client();

    const api_config& config() const { return config_; }

    boost::asio::awaitable<api_reply> request(boost::beast::http::verb method, std::string target, std::string body = {},
                                              std::string content_type = "application/json",
                                              std::chrono::seconds timeout = std::chrono::seconds(30));

    // GET `target` and hand every line of the (chunked) body to `on_line` until the server ends
    // the stream, `on_line` returns false, or nothing arrives for `idle_timeout`. Returns the
    // status and, for statuses other than 200, the body.
    boost::asio::awaitable<api_reply> stream(std::string target, std::function<bool(std::string_view)> on_line,
                                             std::chrono::seconds idle_timeout);

private:
    boost::asio::awaitable<api_reply> perform(boost::beast::http::verb method, const std::string& target,
                                              const std::string& body, const std::string& content_type,
                                              const std::function<bool(std::string_view)>* on_line,
                                              std::chrono::seconds timeout);
    template <class Stream>
    boost::asio::awaitable<api_reply> exchange(Stream& stream, boost::beast::http::verb method, const std::string& target,
                                               const std::string& body, const std::string& content_type,
                                               const std::function<bool(std::string_view)>* on_line,
                                               std::chrono::seconds timeout);

    boost::asio::io_context& io_;
    api_config config_;
    std::unique_ptr<boost::asio::ssl::context> tls_;
};

}  // namespace sluice::kube
