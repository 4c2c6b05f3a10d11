#include "tests/integration/harness.hpp"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>

#include <openssl/evp.h>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

extern char** environ;

namespace sluice::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

process::process(const std::string& binary, const std::vector<std::string>& args)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe2 failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    std::vector<std::string> all{binary};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        throw std::runtime_error("cannot start " + binary);
    }
    stderr_fd_ = fds[0];
    reader_ = std::thread([this] {
        std::string partial;
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(stderr_fd_, buf, sizeof buf);
            if (n <= 0)
                break;
            partial.append(buf, static_cast<size_t>(n));
            size_t nl;
            std::lock_guard lock(mutex_);
            while ((nl = partial.find('\n')) != std::string::npos) {
                lines_.push_back(partial.substr(0, nl));
                partial.erase(0, nl + 1);
            }
            changed_.notify_all();
        }
        std::lock_guard lock(mutex_);
        if (!partial.empty())
            lines_.push_back(partial);
        closed_ = true;
        changed_.notify_all();
    });
}

process::~process()
{
    terminate();
    if (reader_.joinable())
        reader_.join();
    if (stderr_fd_ >= 0)
        ::close(stderr_fd_);
}

void process::terminate()
{
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

void process::send_signal(int sig)
{
    if (pid_ > 0)
        ::kill(pid_, sig);
}

std::optional<int> process::wait_exit(std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        }
        if (std::chrono::steady_clock::now() >= deadline)
            return std::nullopt;
        std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
}

bool process::running() const
{
    return pid_ > 0 && ::kill(pid_, 0) == 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0;
}

std::optional<std::smatch> process::wait_for_line(const std::regex& pattern, std::chrono::milliseconds timeout)
{
    std::unique_lock lock(mutex_);
    size_t checked = 0;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        for (; checked < lines_.size(); ++checked) {
            std::smatch m;
            if (std::regex_search(lines_[checked], m, pattern))
                return m;
        }
        if (closed_)
            return std::nullopt;
        if (changed_.wait_until(lock, deadline) == std::cv_status::timeout && checked == lines_.size())
            return std::nullopt;
    }
}

std::string process::log() const
{
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& l : lines_)
        out += l + "\n";
    return out;
}

long process::memory_kib(const char* field) const
{
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    std::string prefix = std::string(field) + ":";
    while (std::getline(in, line))
        if (line.rfind(prefix, 0) == 0)
            return std::stol(line.substr(prefix.size()));
    return -1;
}

echo_backend::echo_backend(const std::string& service, const std::vector<std::string>& extra_args)
    : proc_(SLUICE_ECHO_BINARY, [&] {
          std::vector<std::string> args{"--port", "0", "--service", service};
          args.insert(args.end(), extra_args.begin(), extra_args.end());
          return args;
      }())
{
    auto m = proc_.wait_for_line(std::regex("listening on 127\\.0\\.0\\.1:(\\d+)"));
    if (!m)
        throw std::runtime_error("sluice-echo did not start: " + proc_.log());
    port_ = static_cast<uint16_t>(std::stoi((*m)[1]));
}

http_connection::http_connection(uint16_t port) : socket_(io_)
{
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
}

bool http_connection::is_open() const { return socket_.is_open(); }

response http_connection::read_response(bool head_request)
{
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    if (head_request)
        parser.skip(true);
    http::read(socket_, buffer_, parser);
    return to_response(parser.release());
}

response to_response(http::response<http::string_body>&& msg)
{
    response r;
    r.status = msg.result_int();
    for (const auto& f : msg) {
        std::string name(f.name_string());
        for (auto& c : name)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = std::string(f.value());
    }
    r.body = std::move(msg.body());
    r.keep_alive = msg.keep_alive();
    return r;
}

response http_connection::request(const std::string& method, const std::string& target, const std::string& host,
                                  const std::map<std::string, std::string>& headers, const std::string& body)
{
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    if (!host.empty())
        req.set(http::field::host, host);
    for (const auto& [k, v] : headers)
        req.set(k, v);
    req.body() = body;
    if (!body.empty() || method == "POST" || method == "PUT")
        req.prepare_payload();
    http::write(socket_, req);
    return read_response(method == "HEAD");
}

response http_connection::raw(const std::string& bytes, bool head_request)
{
    asio::write(socket_, asio::buffer(bytes));
    return read_response(head_request);
}

response http_get(uint16_t port, const std::string& target, const std::string& host,
                  const std::map<std::string, std::string>& headers)
{
    http_connection c(port);
    return c.request("GET", target, host, headers);
}

sluice_instance::sluice_instance(std::vector<std::string> extra_args, bool start_now)
    : extra_args_(std::move(extra_args))
{
    char tmpl[] = "/tmp/sluice-test-XXXXXX";
    if (!mkdtemp(tmpl))
        throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    if (start_now)
        start();
}

sluice_instance::~sluice_instance()
{
    proc_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

void sluice_instance::write(const std::string& file, const std::string& content)
{
    // Write then rename, as kubectl-style tools and editors do, so a reader never sees half a file.
    auto path = dir_ / file;
    std::filesystem::create_directories(path.parent_path());
    auto tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << content;
    }
    std::filesystem::rename(tmp, path);
}

void sluice_instance::remove(const std::string& file) { std::filesystem::remove(dir_ / file); }

void sluice_instance::start()
{
    std::vector<std::string> args{"--bind", "127.0.0.1", "--http-port", "0", "--https-port", "0", "--status-port", "0"};
    // Two workers unless the test says otherwise.
    if (std::find(extra_args_.begin(), extra_args_.end(), "--workers") == extra_args_.end())
        args.insert(args.end(), {"--workers", "2"});
    // The manifest directory is the source unless the test gives the API's (--kubeconfig).
    if (std::find(extra_args_.begin(), extra_args_.end(), "--kubeconfig") == extra_args_.end())
        args.insert(args.begin(), {"--manifests", dir_.string()});
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    proc_ = std::make_unique<process>(SLUICE_BINARY, args);
    auto m = proc_->wait_for_line(std::regex("serving http on 127\\.0\\.0\\.1:(\\d+), https on 127\\.0\\.0\\.1:(\\d+)"
                                             ".*status on 127\\.0\\.0\\.1:(\\d+)"));
    if (!m)
        throw std::runtime_error("sluice did not start:\n" + proc_->log());
    http_port_ = static_cast<uint16_t>(std::stoi((*m)[1]));
    https_port_ = static_cast<uint16_t>(std::stoi((*m)[2]));
    status_port_ = static_cast<uint16_t>(std::stoi((*m)[3]));
}

nlohmann::json sluice_instance::debug_config()
{
    return http_get(status_port_, "/debug/config", "localhost").json();
}

uint64_t sluice_instance::generation() { return debug_config()["generation"].get<uint64_t>(); }

double sluice_instance::metric(const std::string& name)
{
    std::istringstream in(http_get(status_port_, "/metrics", "localhost").body);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(name + " ", 0) == 0)
            return std::stod(line.substr(name.size() + 1));
    return -1;
}

uint64_t sluice_instance::wait_for_generation_after(uint64_t after, std::chrono::milliseconds timeout)
{
    uint64_t g = after;
    wait_until([&] { return (g = generation()) > after; }, timeout);
    return g;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition())
            return true;
        std::this_thread::sleep_for(10ms);
    }
    return condition();
}

std::string service_yaml(const std::string& name, const std::vector<uint16_t>& ready, const std::vector<uint16_t>& not_ready,
                         const std::string& ns)
{
    // One EndpointSlice per endpoint: each pod of a real Service has its own port here, because
    // every echo backend is a process on 127.0.0.1.
    std::ostringstream y;
    y << "apiVersion: v1\nkind: Service\nmetadata:\n  name: " << name << "\n  namespace: " << ns
      << "\nspec:\n  ports:\n    - name: http\n      port: 80\n      targetPort: 8080\n";
    auto slice = [&](uint16_t port, bool is_ready, size_t i) {
        y << "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " << name << "-" << i
          << "\n  namespace: " << ns << "\n  labels:\n    kubernetes.io/service-name: " << name
          << "\naddressType: IPv4\nports:\n  - name: http\n    port: " << port
          << "\nendpoints:\n  - addresses: [\"127.0.0.1\"]\n    conditions:\n      ready: "
          << (is_ready ? "true" : "false") << "\n";
    };
    size_t i = 0;
    for (auto p : ready)
        slice(p, true, i++);
    for (auto p : not_ready)
        slice(p, false, i++);
    return y.str();
}

std::string ingress_yaml(const std::string& name, const std::string& host, const std::vector<path_rule>& paths,
                         const std::string& extra_metadata, const std::string& ns)
{
    std::ostringstream y;
    y << "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " << name << "\n  namespace: " << ns
      << "\n" << extra_metadata << "spec:\n  ingressClassName: nginx\n  rules:\n  - ";
    if (!host.empty())
        y << "host: \"" << host << "\"\n    ";
    y << "http:\n      paths:\n";
    for (const auto& p : paths)
        y << "      - path: " << p.path << "\n        pathType: " << p.type
          << "\n        backend:\n          service:\n            name: " << p.service
          << "\n            port:\n              number: " << p.port << "\n";
    return y.str();
}

std::string annotations_yaml(const std::map<std::string, std::string>& values)
{
    std::string out = "  annotations:\n";
    for (const auto& [k, v] : values)
        out += "    nginx.ingress.kubernetes.io/" + k + ": \"" + v + "\"\n";
    return out;
}

std::string configmap_yaml(const std::map<std::string, std::string>& data, const std::string& name)
{
    std::string out = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + ", namespace: default}\ndata:\n";
    for (const auto& [k, v] : data)
        out += "  " + k + ": \"" + v + "\"\n";
    return out;
}

std::string ingress_class_yaml()
{
    return "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: nginx\nspec:\n  controller: "
           "k8s.io/ingress-nginx\n";
}

raw_server::raw_server(handler h) : acceptor_(io_), handler_(std::move(h))
{
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] {
        for (;;) {
            tcp::socket s(io_);
            boost::system::error_code ec;
            acceptor_.accept(s, ec);
            std::lock_guard lock(mutex_);
            if (ec || stopping_)
                return;
            auto sock = std::make_shared<tcp::socket>(std::move(s));
            sockets_.push_back(sock);
            shutdown_fds_.push_back(::dup(sock->native_handle()));
            connections_.emplace_back([this, sock] {
                try {
                    handler_(*sock);
                } catch (const std::exception&) {
                    // The peer (sluice) closed the connection: expected in several tests.
                }
                // The handler is done with the connection: the peer sees it end. The descriptor
                // stays open until the server is destroyed so that its number is never reused.
                ::shutdown(sock->native_handle(), SHUT_RDWR);
            });
        }
    });
}

raw_server::~raw_server()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        // Handlers blocked reading a connection that sluice keeps pooled return now.
        // Through our own duplicate of each descriptor: a handler may close its socket
        // meanwhile, and the socket object is its thread's.
        for (int fd : shutdown_fds_)
            ::shutdown(fd, SHUT_RDWR);
    }
    // Unblock accept() with a connection of our own.
    try {
        tcp::socket s(io_);
        s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    } catch (const std::exception&) {
        // The acceptor already failed: the thread has returned.
    }
    thread_.join();
    for (auto& t : connections_)
        t.join();
    for (int fd : shutdown_fds_)
        ::close(fd);
}

std::string upper_case_echo(tcp::socket& s)
{
    std::string got;
    boost::system::error_code ec;
    char buf[256];
    for (;;) {
        size_t n = s.read_some(asio::buffer(buf), ec);
        if (ec)
            return got;
        got.append(buf, n);
        std::string up(buf, n);
        for (auto& ch : up)
            ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        asio::write(s, asio::buffer(up), ec);
    }
}

traced_reads trace_reads(const process& target, const std::filesystem::path& log, const std::function<void()>& work)
{
    traced_reads out;
    {
        // -y names each descriptor, so that only sockets count (not the manifest watcher's inotify
        // descriptor, say).
        process strace("/usr/bin/strace", {"-f", "-y", "-p", std::to_string(target.pid()), "-e",
                                           "trace=recvmsg,recvfrom,read", "-o", log.string()});
        if (!strace.wait_for_line(std::regex("attached")))
            throw std::runtime_error("strace did not attach: " + strace.log());
        work();
        strace.terminate();  // detaches
    }
    std::ifstream in(log);
    static const std::regex returned_bytes(R"(= [1-9][0-9]*$)");
    for (std::string line; std::getline(in, line);) {
        if (line.find("socket:[") == std::string::npos)
            continue;
        if (line.find("EAGAIN") != std::string::npos)
            out.eagain.push_back(line);
        else if (std::regex_search(line, returned_bytes))
            ++out.succeeded;
    }
    std::filesystem::remove(log);
    return out;
}

std::string run_command(const std::string& command)
{
    std::string out;
    FILE* p = popen(command.c_str(), "r");
    if (!p)
        return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        out.append(buf, n);
    pclose(p);
    return out;
}

std::string base64_encode(const std::string& in)
{
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

uint16_t closed_port()
{
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
}

}  // namespace sluice::test
