#include "proxy/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace sluice {

const char* const default_log_format =
    "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" "
    "\"$http_user_agent\" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] "
    "$upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id";

namespace {

constexpr size_t buffer_bound = 4 * 1024 * 1024;

enum variable : int {
    v_remote_addr, v_remote_user, v_time_local, v_time_iso8601, v_msec, v_request, v_status, v_body_bytes_sent,
    v_bytes_sent, v_request_length, v_request_time, v_proxy_upstream_name, v_proxy_alternative_upstream_name,
    v_upstream_addr, v_upstream_response_length, v_upstream_response_time, v_upstream_status, v_req_id,
    v_request_id, v_host, v_request_method, v_request_uri, v_uri, v_args, v_server_protocol, v_scheme,
    v_server_port, v_namespace, v_ingress_name, v_service_name, v_service_port, v_location_path, v_http,
};

constexpr std::array<std::pair<std::string_view, variable>, 32> names{{
    {"remote_addr", v_remote_addr}, {"remote_user", v_remote_user}, {"time_local", v_time_local},
    {"time_iso8601", v_time_iso8601}, {"msec", v_msec}, {"request", v_request}, {"status", v_status},
    {"body_bytes_sent", v_body_bytes_sent}, {"bytes_sent", v_bytes_sent}, {"request_length", v_request_length},
    {"request_time", v_request_time}, {"proxy_upstream_name", v_proxy_upstream_name},
    {"proxy_alternative_upstream_name", v_proxy_alternative_upstream_name}, {"upstream_addr", v_upstream_addr},
    {"upstream_response_length", v_upstream_response_length}, {"upstream_response_time", v_upstream_response_time},
    {"upstream_status", v_upstream_status}, {"req_id", v_req_id}, {"request_id", v_request_id}, {"host", v_host},
    {"request_method", v_request_method}, {"request_uri", v_request_uri}, {"uri", v_uri}, {"args", v_args},
    {"server_protocol", v_server_protocol}, {"scheme", v_scheme}, {"server_port", v_server_port},
    {"namespace", v_namespace}, {"ingress_name", v_ingress_name}, {"service_name", v_service_name},
    {"service_port", v_service_port}, {"location_path", v_location_path},
}};

bool name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

void escape_into(std::string_view v, log_escape mode, std::string& out)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    for (char ch : v) {
        auto c = static_cast<unsigned char>(ch);
        if (mode == log_escape::none) {
            out.push_back(ch);
        } else if (mode == log_escape::json) {
            switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out.push_back(hex[c >> 4]);
                    out.push_back(hex[c & 15]);
                } else {
                    out.push_back(ch);
                }
            }
        } else if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
            out += "\\x";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        } else {
            out.push_back(ch);
        }
    }
}

}  // namespace

std::optional<log_format> log_format::parse(std::string_view text, std::string& error)
{
    log_format f;
    std::string literal;
    size_t i = 0;
    while (i < text.size()) {
        if (text[i] != '$') {
            literal.push_back(text[i++]);
            continue;
        }
        size_t start = i + 1;
        std::string_view name;
        if (start < text.size() && text[start] == '{') {
            size_t close = text.find('}', start);
            if (close == std::string_view::npos) {
                error = "unterminated ${ at offset " + std::to_string(i);
                return std::nullopt;
            }
            name = text.substr(start + 1, close - start - 1);
            i = close + 1;
        } else {
            size_t end = start;
            while (end < text.size() && name_char(text[end]))
                ++end;
            name = text.substr(start, end - start);
            i = end;
        }
        if (name.empty()) {
            error = "a '$' without a variable name at offset " + std::to_string(start - 1);
            return std::nullopt;
        }
        if (!literal.empty()) {
            f.parts_.push_back({-1, std::move(literal)});
            literal.clear();
        }
        if (name.starts_with("http_") && name.size() > 5) {
            std::string header(name.substr(5));
            for (char& c : header)
                if (c == '_')
                    c = '-';
            f.parts_.push_back({v_http, std::move(header)});
            continue;
        }
        bool known = false;
        for (const auto& [n, v] : names) {
            if (n == name) {
                f.parts_.push_back({v, {}});
                known = true;
                break;
            }
        }
        if (!known) {
            error = "unknown variable $" + std::string(name);
            return std::nullopt;
        }
    }
    if (!literal.empty())
        f.parts_.push_back({-1, std::move(literal)});
    return f;
}

void log_format::render(const access_record& r, log_escape escape, std::string& out) const
{
    char num[64];
    auto put = [&](std::string_view v) {
        if (v.empty())
            out.push_back('-');
        else
            escape_into(v, escape, out);
    };
    // Variables ingress-nginx always sets (with `set`), so empty prints as empty, not "-".
    auto put_set = [&](std::string_view v) { escape_into(v, escape, out); };
    auto put_number = [&](uint64_t v) { out.append(num, static_cast<size_t>(std::snprintf(num, sizeof num, "%llu", static_cast<unsigned long long>(v)))); };
    for (const auto& p : parts_) {
        switch (p.variable) {
        case -1: out += p.text; break;
        case v_remote_addr: put(r.remote_addr); break;
        case v_remote_user: put(r.remote_user); break;
        case v_time_local:
        case v_time_iso8601: {
            std::time_t t = std::chrono::system_clock::to_time_t(r.time);
            struct tm tm{};
            localtime_r(&t, &tm);
            size_t n = std::strftime(num, sizeof num, p.variable == v_time_local ? "%d/%b/%Y:%H:%M:%S %z" : "%Y-%m-%dT%H:%M:%S%z", &tm);
            if (p.variable == v_time_iso8601 && n >= 5) {
                // nginx writes the offset as +hh:mm.
                std::string s(num, n);
                s.insert(s.size() - 2, ":");
                out += s;
            } else {
                out.append(num, n);
            }
            break;
        }
        case v_msec: {
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.time.time_since_epoch()).count();
            out.append(num, static_cast<size_t>(std::snprintf(num, sizeof num, "%lld.%03lld", static_cast<long long>(ms / 1000),
                                                              static_cast<long long>(ms % 1000))));
            break;
        }
        case v_request: {
            std::string line = std::string(r.method) + " " + std::string(r.target) + (r.version == 10 ? " HTTP/1.0" : " HTTP/1.1");
            put(line);
            break;
        }
        case v_status: put_number(r.status); break;
        case v_body_bytes_sent: put_number(r.body_bytes_sent); break;
        case v_bytes_sent: put_number(r.bytes_sent); break;
        case v_request_length: put_number(r.request_length); break;
        case v_request_time:
            out.append(num, static_cast<size_t>(std::snprintf(num, sizeof num, "%.3f", r.request_time)));
            break;
        case v_proxy_upstream_name: put(r.upstream_name); break;
        case v_proxy_alternative_upstream_name: put_set(r.alternative_upstream_name); break;
        case v_upstream_addr: put(r.upstream_addr); break;
        case v_upstream_response_length: put(r.upstream_response_length); break;
        case v_upstream_response_time: put(r.upstream_response_time); break;
        case v_upstream_status: put(r.upstream_status); break;
        case v_req_id:
        case v_request_id: put(r.request_id); break;
        case v_host: put(r.host); break;
        case v_request_method: put(r.method); break;
        case v_request_uri: put(r.target); break;
        case v_uri: put(r.target.substr(0, r.target.find('?'))); break;
        case v_args: {
            auto q = r.target.find('?');
            put(q == std::string_view::npos ? std::string_view() : r.target.substr(q + 1));
            break;
        }
        case v_server_protocol: out += r.version == 10 ? "HTTP/1.0" : "HTTP/1.1"; break;
        case v_scheme: put(r.scheme); break;
        case v_server_port: put(r.server_port); break;
        case v_namespace: put_set(r.ingress_namespace); break;
        case v_ingress_name: put_set(r.ingress_name); break;
        case v_service_name: put_set(r.service_name); break;
        case v_service_port: put_set(r.service_port); break;
        case v_location_path: put_set(r.location_path); break;
        case v_http: {
            std::string_view v;
            if (r.request_fields)
                if (auto it = r.request_fields->find(p.text); it != r.request_fields->end())
                    v = it->value();
            put(v);
            break;
        }
        }
    }
}

const log_format& log_format::standard()
{
    static const log_format f = [] {
        std::string error;
        return *parse(default_log_format, error);
    }();
    return f;
}

bool access_log_buffer::append(std::string_view line)
{
    std::lock_guard lock(mutex_);
    if (pending_.size() + line.size() > buffer_bound)
        return false;
    pending_ += line;
    return true;
}

void access_log_buffer::take(std::string& out)
{
    std::lock_guard lock(mutex_);
    out.swap(pending_);
    pending_.clear();
}

access_log_writer::access_log_writer(const std::string& path)
{
    if (path != "-") {
        fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0)
            throw std::runtime_error("--access-log " + path + ": " + std::strerror(errno));
        own_fd_ = true;
    }
    thread_ = std::thread([this] { run(); });
}

access_log_writer::~access_log_writer()
{
    stop_.store(true);
    thread_.join();
    flush();
    if (own_fd_)
        ::close(fd_);
}

access_log_buffer& access_log_writer::add_buffer()
{
    std::lock_guard lock(flush_mutex_);
    buffers_.push_back(std::make_unique<access_log_buffer>());
    return *buffers_.back();
}

void access_log_writer::flush()
{
    std::lock_guard lock(flush_mutex_);
    std::string chunk;
    for (auto& b : buffers_) {
        b->take(chunk);
        const char* p = chunk.data();
        size_t left = chunk.size();
        while (left > 0) {
            ssize_t n = ::write(fd_, p, left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;  // a closed or failing log loses lines, never the proxy
            p += n;
            left -= static_cast<size_t>(n);
        }
    }
}

void access_log_writer::run()
{
    while (!stop_.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        flush();
    }
}

}  // namespace sluice
