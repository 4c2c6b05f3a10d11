#pragma once
// The status port: /healthz, /readyz, /metrics, /debug/config.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace sluice {

struct status_handlers {
    std::function<bool()> ready;
    std::function<std::string()> metrics;       // Prometheus text
    std::function<std::string()> debug_config;  // JSON
};

class status_server {
public:
    // Binds at construction (throws on failure); serves once the io_context runs.
    status_server(boost::asio::io_context& io, const std::string& address, uint16_t port, status_handlers handlers);
    uint16_t port() const { return port_; }

private:
    boost::asio::ip::tcp::acceptor acceptor_;
    std::shared_ptr<status_handlers> handlers_;
    uint16_t port_ = 0;
};

}  // namespace sluice
