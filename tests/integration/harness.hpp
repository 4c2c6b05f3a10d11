#pragma once
// Runs the real binaries (sluice, sluice-echo) on 127.0.0.1 with ports chosen by the kernel, and
// talks to them over real sockets. Waits are on conditions, never fixed sleeps.
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace sluice::test {

using namespace std::chrono_literals;

#ifdef SLUICE_SANITIZED
inline constexpr bool sanitized_build = true;
#else
inline constexpr bool sanitized_build = false;
#endif

// A child process whose stderr is collected line by line.
class process {
public:
    process(const std::string& binary, const std::vector<std::string>& args);
    ~process();
    process(const process&) = delete;
    process& operator=(const process&) = delete;

    // Waits until a line of stderr matches; returns the match.
    std::optional<std::smatch> wait_for_line(const std::regex& pattern, std::chrono::milliseconds timeout = 10s);
    std::string log() const;
    pid_t pid() const { return pid_; }
    bool running() const;
    // Peak resident memory (VmHWM) and current (VmRSS), in KiB.
    long memory_kib(const char* field) const;
    void terminate();
    void send_signal(int sig);
    // Waits for the process to exit; its exit code, or nothing on timeout (or death by signal: -signal).
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);

private:
    pid_t pid_ = -1;
    int stderr_fd_ = -1;
    std::thread reader_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> lines_;
    bool closed_ = false;
};

class echo_backend {
public:
    // `extra_args`: more sluice-echo options, e.g. --tls-cert and --tls-key.
    explicit echo_backend(const std::string& service, const std::vector<std::string>& extra_args = {});
    uint16_t port() const { return port_; }

private:
    process proc_;
    uint16_t port_ = 0;
};

struct response {
    unsigned status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    bool keep_alive = false;
    nlohmann::json json() const { return nlohmann::json::parse(body); }
};

// A parsed response in the tests' form (header names lower-case).
response to_response(boost::beast::http::response<boost::beast::http::string_body>&& msg);

// One keep-alive client connection.
class http_connection {
public:
    explicit http_connection(uint16_t port);
    response request(const std::string& method, const std::string& target, const std::string& host,
                     const std::map<std::string, std::string>& headers = {}, const std::string& body = {});
    // Sends raw bytes and reads one response.
    response raw(const std::string& bytes, bool head_request = false);
    bool is_open() const;

private:
    response read_response(bool head_request);
    boost::asio::io_context io_;
    boost::asio::ip::tcp::socket socket_;
    boost::beast::flat_buffer buffer_;
};

// One request on a fresh connection.
response http_get(uint16_t port, const std::string& target, const std::string& host,
                  const std::map<std::string, std::string>& headers = {});

// A sluice process serving a temporary manifest directory.
class sluice_instance {
public:
    explicit sluice_instance(std::vector<std::string> extra_args = {}, bool start_now = false);
    ~sluice_instance();

    const std::filesystem::path& dir() const { return dir_; }
    void write(const std::string& file, const std::string& content);
    void remove(const std::string& file);
    void start();
    // More command-line arguments for start() (paths inside dir(), for instance).
    void add_args(const std::vector<std::string>& args) { extra_args_.insert(extra_args_.end(), args.begin(), args.end()); }
    uint16_t port() const { return http_port_; }
    uint16_t https_port() const { return https_port_; }
    uint16_t status_port() const { return status_port_; }
    process& proc() { return *proc_; }
    nlohmann::json debug_config();
    uint64_t generation();
    double metric(const std::string& name);
    // Waits until the snapshot generation passes `after`.
    uint64_t wait_for_generation_after(uint64_t after, std::chrono::milliseconds timeout = 5s);

private:
    std::filesystem::path dir_;
    std::vector<std::string> extra_args_;
    std::unique_ptr<process> proc_;
    uint16_t http_port_ = 0;
    uint16_t https_port_ = 0;
    uint16_t status_port_ = 0;
};

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s);

// Manifest snippets.
std::string service_yaml(const std::string& name, const std::vector<uint16_t>& ports_of_ready_endpoints,
                         const std::vector<uint16_t>& not_ready = {}, const std::string& ns = "default");
struct path_rule {
    std::string path;
    std::string type;  // Exact, Prefix, ImplementationSpecific
    std::string service;
    int port = 80;
};
std::string ingress_yaml(const std::string& name, const std::string& host, const std::vector<path_rule>& paths,
                         const std::string& extra_metadata = "", const std::string& ns = "default");
std::string ingress_class_yaml();
// The metadata lines of nginx.ingress.kubernetes.io annotations, for ingress_yaml's extra_metadata.
std::string annotations_yaml(const std::map<std::string, std::string>& values);
// A ConfigMap default/`name` with `data`.
std::string configmap_yaml(const std::map<std::string, std::string>& data, const std::string& name = "sluice");

// A TCP server on 127.0.0.1 whose behaviour per connection the test supplies (raw bytes).
class raw_server {
public:
    using handler = std::function<void(boost::asio::ip::tcp::socket&)>;
    explicit raw_server(handler h);
    ~raw_server();
    uint16_t port() const { return port_; }

private:
    boost::asio::io_context io_;
    boost::asio::ip::tcp::acceptor acceptor_;
    handler handler_;
    std::thread thread_;
    std::vector<std::thread> connections_;
    std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets_;  // kept open until the end
    std::vector<int> shutdown_fds_;  // duplicates, for unblocking handlers at the end
    std::mutex mutex_;
    uint16_t port_ = 0;
    bool stopping_ = false;
};

// The socket reads (recvmsg, recvfrom, read) `target` makes while `work` runs, watched with
// strace (attached for the duration, its output in `log`).
struct traced_reads {
    int succeeded = 0;                 // reads that returned bytes
    std::vector<std::string> eagain;   // strace's lines for reads that failed with EAGAIN
};
traced_reads trace_reads(const process& target, const std::filesystem::path& log, const std::function<void()>& work);

// For a raw_server after an upgrade: answers each read with its bytes upper-cased until the
// peer is done or gone; returns everything it read.
std::string upper_case_echo(boost::asio::ip::tcp::socket& s);

// Runs a shell command and returns what it printed on stdout.
std::string run_command(const std::string& command);
// Standard base64 of `in`.
std::string base64_encode(const std::string& in);

// A port on 127.0.0.1 that refuses connections (bound, never listened, then closed).
uint16_t closed_port();

}  // namespace sluice::test
