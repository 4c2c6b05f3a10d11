#include "kube/api_source.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include "controller/log.hpp"

namespace sluice::kube {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// j[a][b] when it is a string, else "": what the API sends is checked, never assumed.
std::string string_at(const json& j, const char* a, const char* b)
{
    auto outer = j.find(a);  // end() when j is not an object
    if (outer == j.end() || !outer->is_object())
        return {};
    auto inner = outer->find(b);
    return inner != outer->end() && inner->is_string() ? inner->get<std::string>() : std::string();
}

// The start of a line the server sent, for a log line.
std::string excerpt(std::string_view line)
{
    return std::string(line.substr(0, 200)) + (line.size() > 200 ? "..." : "");
}

std::string url_escape(const std::string& s)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

// The Status a failed request answered, in a few words.
std::string describe(const api_reply& reply)
{
    if (reply.status == 0)
        return reply.error;
    std::string text = std::to_string(reply.status);
    try {
        auto status = json::parse(reply.body);
        if (status.contains("message"))
            text += " " + status["message"].get<std::string>();
    } catch (const json::exception&) {
    }
    return text;
}

}  // namespace

api_source::api_source(asio::io_context& io, api_client& client, source_options options, change_handler on_changes)
    : io_(io), client_(client), options_(std::move(options)), on_changes_(std::move(on_changes)), flush_timer_(io)
{
    auto add = [&](k8s::kind kind, const char* group_path, const char* api_version, const char* kind_name,
                   const char* plural, bool namespaced, bool follow_namespace) {
        resource r;
        r.kind = kind;
        r.api_version = api_version;
        r.kind_name = kind_name;
        r.plural = plural;
        r.namespaced = namespaced;
        r.path = group_path;
        if (namespaced && follow_namespace && !options_.watch_namespace.empty())
            r.path += "/namespaces/" + options_.watch_namespace;
        r.path += std::string("/") + plural;
        resources_.push_back(std::move(r));
    };
    add(k8s::kind::ingress_class, "/apis/networking.k8s.io/v1", "networking.k8s.io/v1", "IngressClass", "ingressclasses", false, false);
    add(k8s::kind::ingress, "/apis/networking.k8s.io/v1", "networking.k8s.io/v1", "Ingress", "ingresses", true, true);
    add(k8s::kind::service, "/api/v1", "v1", "Service", "services", true, true);
    add(k8s::kind::endpoint_slice, "/apis/discovery.k8s.io/v1", "discovery.k8s.io/v1", "EndpointSlice", "endpointslices", true, true);
    add(k8s::kind::secret, "/api/v1", "v1", "Secret", "secrets", true, true);
    // The controller's ConfigMap lives in its own namespace, whatever --watch-namespace says.
    add(k8s::kind::config_map, "/api/v1", "v1", "ConfigMap", "configmaps", true, false);
}

api_source::~api_source() { *alive_ = false; }

bool api_source::synced() const
{
    for (const auto& r : resources_)
        if (!r.listed)
            return false;
    return true;
}

void api_source::initial_sync()
{
    for (auto& r : resources_)
        asio::co_spawn(io_, run(r), asio::detached);
    // The first snapshot waits for every list, as ingress-nginx waits for its informers: serving a
    // partial view would send 503s for Services not listed yet.
    auto last_note = std::chrono::steady_clock::now();
    while (!synced()) {
        io_.run_one_for(std::chrono::milliseconds(500));
        if (std::chrono::steady_clock::now() - last_note > std::chrono::seconds(10)) {
            last_note = std::chrono::steady_clock::now();
            std::string missing;
            for (const auto& r : resources_)
                if (!r.listed)
                    missing += (missing.empty() ? "" : ", ") + r.plural;
            log_warning("still waiting for the first list of: " + missing);
        }
    }
    flush();
}

void api_source::problem(const resource& r, const std::string& what)
{
    log_warning("Kubernetes API: " + what);
    const std::string object = "Kubernetes API " + client_.config().host + ":" + client_.config().port;
    for (auto& d : diagnostics_) {
        if (d.field == r.path) {
            d.message = what;
            return;
        }
    }
    diagnostics_.push_back({object, r.path, what});
}

void api_source::clear_problem(const resource& r)
{
    std::erase_if(diagnostics_, [&](const diagnostic& d) { return d.field == r.path; });
}

void api_source::queue(object_change change)
{
    pending_.push_back(std::move(change));
    if (flush_armed_)
        return;
    flush_armed_ = true;
    flush_timer_.expires_after(options_.debounce);
    flush_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
        if (!ec && *alive)
            flush();
    });
}

void api_source::flush()
{
    flush_armed_ = false;
    flush_timer_.cancel();
    if (pending_.empty())
        return;
    std::vector<object_change> batch;
    batch.swap(pending_);
    on_changes_(std::move(batch));
}

asio::awaitable<void> api_source::back_off(resource& r)
{
    // Exponential with full jitter, between backoff_min and backoff_max.
    r.backoff = r.backoff.count() == 0 ? options_.backoff_min : std::min(r.backoff * 2, options_.backoff_max);
    std::uniform_int_distribution<long> jitter(r.backoff.count() / 2, r.backoff.count());
    asio::steady_timer t(io_, std::chrono::milliseconds(jitter(random_)));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// One full list, page by page; replaces this kind's objects. False on failure.
asio::awaitable<bool> api_source::list(resource& r)
{
    std::set<object_key> seen;
    std::vector<object_change> changes;
    std::string cont, version;
    do {
        std::string target = r.path + "?limit=500" + (cont.empty() ? "" : "&continue=" + url_escape(cont));
        api_reply reply = co_await client_.request(boost::beast::http::verb::get, target);
        if (reply.status != 200) {
            problem(r, "cannot list " + r.plural + ": " + describe(reply));
            co_return false;
        }
        json page;
        try {
            page = json::parse(reply.body);
        } catch (const json::exception& e) {
            problem(r, "the list of " + r.plural + " is not JSON: " + e.what());
            co_return false;
        }
        if (!page.is_object()) {
            problem(r, "the list of " + r.plural + " is not an object: " + excerpt(reply.body));
            co_return false;
        }
        if (version.empty())
            version = string_at(page, "metadata", "resourceVersion");
        cont = string_at(page, "metadata", "continue");
        if (page.contains("items") && page["items"].is_array()) {
            for (auto& item : page["items"]) {
                if (!item.is_object()) {
                    log_warning("Kubernetes API: an item of the list of " + r.plural + " is not an object: " +
                                excerpt(item.dump()));
                    continue;
                }
                // List items carry no kind or apiVersion: the list's type says what they are.
                item["kind"] = r.kind_name;
                item["apiVersion"] = r.api_version;
                object_key key;
                std::string error;
                if (!object_store::identify(item, key, error))
                    continue;
                seen.insert(key);
                changes.push_back({std::move(key), std::move(item), "api"});
            }
        }
    } while (!cont.empty());
    if (version.empty()) {
        // Nothing to watch from: every real list carries its version.
        problem(r, "the list of " + r.plural + " has no metadata.resourceVersion");
        co_return false;
    }
    // Objects gone since the last list are deleted; the others are replaced in place.
    for (const auto& key : r.known)
        if (!seen.contains(key))
            changes.push_back({key, std::nullopt, "api"});
    r.known = std::move(seen);
    r.version = version;
    for (auto& c : changes)
        queue(std::move(c));
    clear_problem(r);
    co_return true;
}

asio::awaitable<void> api_source::run(resource& r)
{
    // follow() returns only when the source goes. Whatever it throws stops this kind's list and
    // watch, which would leave its objects as they were without a word: report it, list again.
    std::shared_ptr<bool> alive = alive_;
    for (;;) {
        std::string failure;
        try {
            co_await follow(r);
            co_return;
        } catch (const std::exception& e) {
            failure = e.what();
        }
        if (!*alive)
            co_return;
        problem(r, "following " + r.plural + " failed: " + failure + "; listing again");
        co_await back_off(r);
        if (!*alive)
            co_return;
    }
}

// Lists, then watches from the list's version, again and again.
asio::awaitable<void> api_source::follow(resource& r)
{
    std::shared_ptr<bool> alive = alive_;
    for (;;) {
        if (!co_await list(r)) {
            if (!*alive)
                co_return;
            co_await back_off(r);
            continue;
        }
        r.listed = true;
        r.backoff = std::chrono::milliseconds(0);
        // Watch from the list's version until the server says it is too old.
        bool gone = false;
        bool first_watch = true;
        bool gone_at_once = false;  // on the first watch after the list, before any event
        while (!gone && *alive) {
            std::uniform_int_distribution<long> spread(options_.watch_timeout.count(), options_.watch_timeout.count() * 2);
            const long timeout = spread(random_);
            std::string target = r.path + "?watch=1&allowWatchBookmarks=true&resourceVersion=" + url_escape(r.version) +
                                 "&timeoutSeconds=" + std::to_string(timeout);
            size_t events = 0;
            // False ends the stream: the watch starts again from r.version.
            auto on_line = [&](std::string_view line) {
                json event;
                try {
                    event = json::parse(line);
                } catch (const json::exception& e) {
                    log_warning("Kubernetes API: a watch event of " + r.plural + " is not JSON: " + e.what());
                    return false;
                }
                // A well-formed line with the wrong shape is skipped; the stream is still in step.
                auto skip = [&](const std::string& why) {
                    log_warning("Kubernetes API: a watch event of " + r.plural + " " + why + ": " + excerpt(line));
                    return true;
                };
                if (!event.is_object() || !event.contains("type") || !event["type"].is_string())
                    return skip("has no type");
                const std::string type = event["type"].get<std::string>();
                json object = event.contains("object") ? std::move(event["object"]) : json();
                if (type == "ERROR") {
                    auto code = object.find("code");  // end() when object is not an object
                    if (code != object.end() && code->is_number_integer() && *code == 410) {
                        gone = true;  // too old: relist
                    } else {
                        log_warning("Kubernetes API: watch of " + r.plural + " failed: " + object.dump());
                    }
                    return false;
                }
                if (!object.is_object())
                    return skip("has no object");
                std::string version = string_at(object, "metadata", "resourceVersion");
                if (type == "BOOKMARK") {
                    if (!version.empty())
                        r.version = version;
                    return true;
                }
                object["kind"] = r.kind_name;
                object["apiVersion"] = r.api_version;
                object_key key;
                std::string error;
                if (!object_store::identify(object, key, error))
                    return skip("names no object (" + error + ")");
                ++events;
                if (type == "ADDED" || type == "MODIFIED") {
                    r.known.insert(key);
                    queue({std::move(key), std::move(object), "api"});
                } else if (type == "DELETED") {
                    r.known.erase(key);
                    queue({std::move(key), std::nullopt, "api"});
                }
                if (!version.empty())
                    r.version = version;
                return true;
            };
            api_reply reply = co_await client_.stream(target, on_line, std::chrono::seconds(timeout + 30));
            if (!*alive)
                co_return;
            if (reply.status == 410) {
                gone = true;
            } else if (reply.status == 200) {
                // The server ended the watch (timeoutSeconds) or the stream was cut: resume.
                if (!reply.error.empty())
                    log_info("Kubernetes API: the " + r.plural + " watch ended: " + reply.error + "; watching again");
                r.backoff = std::chrono::milliseconds(0);
                if (!reply.error.empty() && events == 0)
                    co_await back_off(r);
            } else {
                problem(r, "cannot watch " + r.plural + ": " + describe(reply));
                co_await back_off(r);
            }
            gone_at_once = gone && first_watch && events == 0;
            first_watch = false;
        }
        if (gone) {
            log_info("Kubernetes API: the " + r.plural + " watch is too old (410 Gone); listing again");
            // A list whose version is already too old to watch from (API servers behind a load
            // balancer whose caches lag, say) would otherwise be listed again and again at once.
            if (gone_at_once && *alive)
                co_await back_off(r);
        }
    }
}

}  // namespace sluice::kube
