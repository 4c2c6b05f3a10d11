#include "tests/integration/fake_api_server.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

namespace sluice::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;

namespace {

std::string object_id(const json& o)
{
    const auto& meta = o["metadata"];
    return meta.value("namespace", "") + "/" + meta.value("name", "");
}

bool in_namespace(const std::string& id, const std::string& ns) { return ns.empty() || id.rfind(ns + "/", 0) == 0; }

void write_all(tcp::socket& s, const std::string& data, boost::system::error_code& ec) { asio::write(s, asio::buffer(data), ec); }

std::string chunk(const std::string& line)
{
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", line.size());
    return size + line + "\r\n";
}

}  // namespace

fake_api_server::fake_api_server() : acceptor_(io_)
{
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    listen_fd_ = acceptor_.native_handle();
    accept_thread_ = std::thread([this] {
        for (;;) {
            boost::system::error_code ec;
            tcp::socket s(io_);
            acceptor_.accept(s, ec);
            std::lock_guard lock(mutex_);
            if (ec || stopping_)
                return;
            // The socket stays here until the end; the destructor unblocks its thread through
            // the descriptor recorded now, without touching the socket object.
            auto shared = std::make_shared<tcp::socket>(std::move(s));
            sockets_.push_back(shared);
            descriptors_.push_back(shared->native_handle());
            connections_.emplace_back([this, shared] { serve(*shared); });
        }
    });
}

fake_api_server::~fake_api_server()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        for (int fd : descriptors_)
            ::shutdown(fd, SHUT_RDWR);
    }
    changed_.notify_all();
    // Unblock accept() through the descriptor, and close the acceptor only once its thread is done.
    ::shutdown(listen_fd_, SHUT_RDWR);
    accept_thread_.join();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& t : connections_)
        t.join();
}

std::string fake_api_server::collection_of(const std::string& kind)
{
    static const std::map<std::string, std::string> paths = {
        {"Ingress", "/apis/networking.k8s.io/v1/ingresses"},
        {"IngressClass", "/apis/networking.k8s.io/v1/ingressclasses"},
        {"Service", "/api/v1/services"},
        {"EndpointSlice", "/apis/discovery.k8s.io/v1/endpointslices"},
        {"Secret", "/api/v1/secrets"},
        {"ConfigMap", "/api/v1/configmaps"},
        {"Lease", "/apis/coordination.k8s.io/v1/leases"},
        {"Event", "/api/v1/events"},
        {"Pod", "/api/v1/pods"},
    };
    return paths.at(kind);
}

uint64_t fake_api_server::put(json object)
{
    std::lock_guard lock(mutex_);
    std::string collection = collection_of(object["kind"]);
    std::string id = object_id(object);
    object["metadata"]["resourceVersion"] = std::to_string(++version_);
    if (!object["metadata"].contains("creationTimestamp"))
        object["metadata"]["creationTimestamp"] = "2026-01-01T00:00:" + std::to_string(10 + version_ % 50) + "Z";
    auto& bucket = objects_[collection];
    std::string type = bucket.contains(id) ? "MODIFIED" : "ADDED";
    bucket[id] = object;
    history_.push_back({version_, collection, type, object});
    changed_.notify_all();
    return version_;
}

void fake_api_server::remove(const std::string& kind, const std::string& ns, const std::string& name)
{
    std::lock_guard lock(mutex_);
    std::string collection = collection_of(kind);
    auto& bucket = objects_[collection];
    auto it = bucket.find(ns + "/" + name);
    if (it == bucket.end())
        return;
    json object = it->second;
    bucket.erase(it);
    object["metadata"]["resourceVersion"] = std::to_string(++version_);
    history_.push_back({version_, collection, "DELETED", object});
    changed_.notify_all();
}

void fake_api_server::compact()
{
    std::lock_guard lock(mutex_);
    compacted_ = version_;
    history_.clear();
}

void fake_api_server::cut_watches()
{
    std::lock_guard lock(mutex_);
    ++cut_generation_;
    changed_.notify_all();
}

void fake_api_server::bookmark()
{
    std::lock_guard lock(mutex_);
    ++bookmark_generation_;
    changed_.notify_all();
}

nlohmann::json fake_api_server::object(const std::string& kind, const std::string& ns, const std::string& name) const
{
    std::lock_guard lock(mutex_);
    auto c = objects_.find(collection_of(kind));
    if (c == objects_.end())
        return nullptr;
    auto it = c->second.find(ns + "/" + name);
    return it == c->second.end() ? nlohmann::json() : it->second;
}

void fake_api_server::set_token(const std::string& token)
{
    std::lock_guard lock(mutex_);
    token_ = token;
}

void fake_api_server::fail_path(const std::string& collection, unsigned status)
{
    std::lock_guard lock(mutex_);
    if (status)
        failing_[collection] = status;
    else
        failing_.erase(collection);
}

void fake_api_server::send_raw_line(const std::string& collection, const std::string& line)
{
    std::lock_guard lock(mutex_);
    raw_lines_.emplace_back(collection, line);
    changed_.notify_all();
}

void fake_api_server::answer_lists_with(const std::string& collection, const std::string& body)
{
    std::lock_guard lock(mutex_);
    if (body.empty())
        raw_lists_.erase(collection);
    else
        raw_lists_[collection] = body;
}

std::vector<fake_api_server::request_record> fake_api_server::requests() const
{
    std::lock_guard lock(mutex_);
    return requests_;
}

size_t fake_api_server::count(const std::string& method, const std::string& target_prefix, bool watch) const
{
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const auto& r : requests_)
        if (r.method == method && r.target.rfind(target_prefix, 0) == 0 &&
            (r.target.find("watch=1") != std::string::npos) == watch)
            ++n;
    return n;
}

size_t fake_api_server::open_watches() const
{
    std::lock_guard lock(mutex_);
    return open_watches_;
}

std::map<std::string, json> fake_api_server::written() const
{
    std::lock_guard lock(mutex_);
    return written_;
}

void fake_api_server::serve(tcp::socket& socket)
{
    boost::system::error_code ec;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::read(socket, buffer, req, ec);
    if (ec)
        return;
    std::string target(req.target());
    auto url = boost::urls::parse_origin_form(target);
    if (!url)
        return;
    std::string path(url->path());
    std::map<std::string, std::string> query;
    for (auto p : url->params())
        query[p.key] = p.has_value ? p.value : "";
    auto answer_text = [&](unsigned status, std::string body) {
        http::response<http::string_body> res{static_cast<http::status>(status), 11};
        res.set(http::field::content_type, "application/json");
        res.body() = std::move(body);
        res.prepare_payload();
        res.keep_alive(false);
        http::write(socket, res, ec);
        socket.shutdown(tcp::socket::shutdown_send, ec);
    };
    auto answer = [&](unsigned status, const json& body) { answer_text(status, body.dump()); };
    auto status_body = [](unsigned code, const std::string& reason, const std::string& message) {
        return json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"}, {"message", message},
                    {"reason", reason}, {"code", code}};
    };

    // /apis/group/v1[/namespaces/ns]/plural[/name[/status]] and /api/v1/...
    std::string ns, collection = path, name, sub;
    {
        auto parts_start = path.rfind("/api/", 0) == 0 ? 3 : 4;  // segments before the plural
        std::vector<std::string> seg;
        for (size_t i = 1, j; i <= path.size(); i = j + 1) {
            j = path.find('/', i);
            if (j == std::string::npos)
                j = path.size();
            seg.push_back(path.substr(i, j - i));
        }
        size_t k = static_cast<size_t>(parts_start) - 1;  // index of the first segment after the version
        std::string prefix;
        for (size_t i = 0; i < k && i < seg.size(); ++i)
            prefix += "/" + seg[i];
        if (k + 1 < seg.size() && seg[k] == "namespaces") {
            ns = seg[k + 1];
            k += 2;
        }
        if (k < seg.size())
            collection = prefix + "/" + seg[k];
        if (k + 1 < seg.size())
            name = seg[k + 1];
        if (k + 2 < seg.size())
            sub = seg[k + 2];
    }

    json body;
    if (!req.body().empty())
        body = json::parse(req.body(), nullptr, false);
    std::unique_lock lock(mutex_);
    requests_.push_back({std::string(req.method_string()), target, std::string(req[http::field::authorization]), body});
    if (req[http::field::authorization] != "Bearer " + token_) {
        lock.unlock();
        answer(401, status_body(401, "Unauthorized", "Unauthorized"));
        return;
    }
    if (auto f = failing_.find(collection); f != failing_.end()) {
        unsigned code = f->second;
        lock.unlock();
        answer(code, status_body(code, "Forbidden", collection + " is forbidden in this test"));
        return;
    }
    if (req.method() == http::verb::put || req.method() == http::verb::post || req.method() == http::verb::patch) {
        written_[path] = body;
        json stored = body;
        if (!name.empty() && objects_[collection].contains(ns + "/" + name)) {
            json& current = objects_[collection][ns + "/" + name];
            // Optimistic concurrency: an update naming another resourceVersion is a conflict.
            const std::string expected = body.is_object() && body.contains("metadata")
                                             ? body["metadata"].value("resourceVersion", "")
                                             : "";
            if (req.method() == http::verb::put && !expected.empty() &&
                expected != current["metadata"].value("resourceVersion", "")) {
                lock.unlock();
                answer(409, status_body(409, "Conflict", "the object has been modified"));
                return;
            }
            if (sub == "status")
                current["status"] = body["status"];  // a merge patch of the status, or a status update
            else
                current = body;
            current["metadata"]["resourceVersion"] = std::to_string(++version_);
            history_.push_back({version_, collection, "MODIFIED", current});
            stored = current;
            changed_.notify_all();
        } else if (req.method() == http::verb::post) {
            const std::string id = ns + "/" + stored["metadata"].value("name", "");
            if (objects_[collection].contains(id)) {
                lock.unlock();
                answer(409, status_body(409, "AlreadyExists", id + " already exists"));
                return;
            }
            stored["metadata"]["resourceVersion"] = std::to_string(++version_);
            objects_[collection][ns + "/" + stored["metadata"].value("name", "")] = stored;
        }
        lock.unlock();
        answer(req.method() == http::verb::post ? 201 : 200, stored);
        return;
    }
    if (!name.empty()) {
        auto& bucket = objects_[collection];
        auto it = bucket.find(ns + "/" + name);
        if (it == bucket.end()) {
            lock.unlock();
            answer(404, status_body(404, "NotFound", name + " not found"));
            return;
        }
        json o = it->second;
        lock.unlock();
        answer(200, o);
        return;
    }
    if (query["watch"] != "1" && query["watch"] != "true") {
        if (auto raw = raw_lists_.find(collection); raw != raw_lists_.end()) {
            std::string body = raw->second;
            lock.unlock();
            answer_text(200, std::move(body));
            return;
        }
        // A list: every object of the collection (in the namespace), paged.
        std::vector<json> items;
        for (const auto& [id, o] : objects_[collection]) {
            if (!in_namespace(id, ns))
                continue;
            json item = o;
            item.erase("kind");
            item.erase("apiVersion");
            items.push_back(std::move(item));
        }
        // labelSelector: equality terms "k=v,k2=v2".
        if (query.contains("labelSelector")) {
            std::string sel = query["labelSelector"];
            std::erase_if(items, [&](const json& item) {
                for (size_t i = 0, j; i < sel.size(); i = j + 1) {
                    j = sel.find(',', i);
                    if (j == std::string::npos)
                        j = sel.size();
                    std::string term = sel.substr(i, j - i);
                    auto eq = term.find('=');
                    const json& labels = item["metadata"].value("labels", json::object());
                    if (eq == std::string::npos || labels.value(term.substr(0, eq), "") != term.substr(eq + 1))
                        return true;
                }
                return false;
            });
        }
        size_t offset = query.contains("continue") ? std::stoul(query["continue"]) : 0;
        size_t limit = query.contains("limit") ? std::stoul(query["limit"]) : items.size();
        json list{{"kind", "List"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", std::to_string(version_)}}}};
        list["items"] = json::array();
        for (size_t i = offset; i < items.size() && i < offset + limit; ++i)
            list["items"].push_back(items[i]);
        if (offset + limit < items.size())
            list["metadata"]["continue"] = std::to_string(offset + limit);
        lock.unlock();
        answer(200, list);
        return;
    }

    // A watch.
    const uint64_t from = query.contains("resourceVersion") ? std::stoull(query["resourceVersion"]) : version_;
    const bool bookmarks = query["allowWatchBookmarks"] == "true";
    const uint64_t cut_at = cut_generation_;
    uint64_t bookmarks_seen = bookmark_generation_;
    ++open_watches_;
    // Set with the request's record (same lock): a watch a test has seen requested is the newest.
    const uint64_t watch_id = ++watch_ids_;
    latest_watch_[collection] = watch_id;
    lock.unlock();
    write_all(socket, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", ec);
    lock.lock();
    if (from < compacted_) {
        json e{{"type", "ERROR"}, {"object", status_body(410, "Expired", "too old resource version: " + std::to_string(from) + " (" + std::to_string(compacted_) + ")")}};
        lock.unlock();
        write_all(socket, chunk(e.dump() + "\n") + "0\r\n\r\n", ec);
        lock.lock();
        --open_watches_;
        return;
    }
    uint64_t sent = from;
    while (!ec && !stopping_ && cut_generation_ == cut_at) {
        std::string out;
        // Raw lines go to the newest watch: one the client has left may not have noticed yet.
        std::erase_if(raw_lines_, [&](const auto& raw) {
            if (raw.first != collection || latest_watch_[collection] != watch_id)
                return false;
            out += chunk(raw.second + "\n");
            return true;
        });
        for (const auto& e : history_)
            if (e.version > sent && e.collection == collection && in_namespace(object_id(e.object), ns)) {
                out += chunk(json{{"type", e.type}, {"object", e.object}}.dump() + "\n");
            }
        if (!history_.empty())
            sent = std::max(sent, history_.back().version);
        if (bookmarks && bookmark_generation_ != bookmarks_seen) {
            bookmarks_seen = bookmark_generation_;
            json object{{"kind", "Bookmark"}, {"metadata", {{"resourceVersion", std::to_string(version_)}}}};
            out += chunk(json{{"type", "BOOKMARK"}, {"object", object}}.dump() + "\n");
            sent = std::max(sent, version_);
        }
        if (!out.empty()) {
            lock.unlock();
            write_all(socket, out, ec);
            lock.lock();
            continue;
        }
        changed_.wait_for(lock, std::chrono::milliseconds(200));
    }
    --open_watches_;
    lock.unlock();
    // Cut: the connection just closes, without the last chunk.
    socket.shutdown(tcp::socket::shutdown_both, ec);
}

}  // namespace sluice::test
