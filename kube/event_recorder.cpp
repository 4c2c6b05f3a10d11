#include "kube/event_recorder.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/http/verb.hpp>

#include "controller/log.hpp"
#include "kube/leader_election.hpp"

namespace sluice::kube {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;

event_recorder::event_recorder(asio::io_context& io, api_client& client, event_options options)
    : io_(io), client_(client), options_(std::move(options)), tokens_(options_.burst)
{
}

event_recorder::~event_recorder() { *alive_ = false; }

void event_recorder::observe(const object_store& store, const route_snapshot& snap)
{
    static const std::map<std::string, std::pair<k8s::kind, const char*>> kinds = {
        {"Ingress", {k8s::kind::ingress, "networking.k8s.io/v1"}},
        {"ConfigMap", {k8s::kind::config_map, "v1"}},
        {"Service", {k8s::kind::service, "v1"}},
        {"Secret", {k8s::kind::secret, "v1"}},
    };
    std::set<std::string> now;
    const auto wall = std::chrono::system_clock::now();
    for (const auto& d : snap.diagnostics) {
        // "Ingress default/web": an object the API knows.
        auto space = d.object.find(' ');
        auto slash = d.object.find('/');
        if (space == std::string::npos || slash == std::string::npos)
            continue;
        auto kind = kinds.find(d.object.substr(0, space));
        if (kind == kinds.end())
            continue;
        const std::string ns = d.object.substr(space + 1, slash - space - 1);
        const std::string name = d.object.substr(slash + 1);
        const std::string key = d.str();
        now.insert(key);
        if (active_.contains(key) || !leading_)
            continue;
        const stored_object* stored = store.find_stored(kind->second.first, ns, name);
        std::string uid;
        if (stored)
            std::visit([&](const auto& o) { uid = o.meta.uid; }, stored->object);
        // Token bucket: `per_second` refilled continuously, up to `burst`.
        const auto t = std::chrono::steady_clock::now();
        tokens_ = std::min(options_.burst, tokens_ + options_.per_second * std::chrono::duration<double>(t - refilled_).count());
        refilled_ = t;
        if (tokens_ < 1) {
            ++dropped_;
            continue;
        }
        tokens_ -= 1;
        const std::string stamp = micro_time(wall);
        json event{{"apiVersion", "v1"},
                   {"kind", "Event"},
                   {"metadata", {{"name", name + "." + std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(wall.time_since_epoch()).count()) + "." + std::to_string(++sequence_)},
                                 {"namespace", ns}}},
                   {"involvedObject", {{"kind", kind->first}, {"apiVersion", kind->second.second}, {"namespace", ns}, {"name", name}, {"uid", uid}}},
                   {"type", "Warning"},
                   {"reason", "InvalidConfiguration"},
                   {"message", (d.field.empty() ? "" : d.field + ": ") + d.message},
                   {"source", {{"component", "sluice"}}},
                   {"reportingComponent", "sluice"},
                   {"reportingInstance", options_.instance},
                   {"firstTimestamp", stamp.substr(0, 19) + "Z"},
                   {"lastTimestamp", stamp.substr(0, 19) + "Z"},
                   {"count", 1}};
        queue_.emplace_back(ns, std::move(event));
    }
    // Only diagnostics reported while leading count as reported; the others are tried again.
    if (leading_)
        active_ = std::move(now);
    if (!queue_.empty() && !draining_) {
        draining_ = true;
        asio::co_spawn(io_, drain(), asio::detached);
    }
}

asio::awaitable<void> event_recorder::drain()
{
    std::shared_ptr<bool> alive = alive_;
    while (*alive && !queue_.empty()) {
        auto [ns, event] = std::move(queue_.front());
        queue_.pop_front();
        // A diagnostic can quote bytes that are not UTF-8; dump() would throw on them.
        api_reply r = co_await client_.request(http::verb::post, "/api/v1/namespaces/" + ns + "/events",
                                               event.dump(-1, ' ', false, json::error_handler_t::replace));
        if (!*alive)
            co_return;
        if (r.status != 201 && r.status != 200)
            log_warning("cannot post an Event in namespace " + ns + ": " + (r.status ? std::to_string(r.status) : r.error));
    }
    draining_ = false;
}

}  // namespace sluice::kube
