#include "kube/status_writer.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include "controller/log.hpp"

namespace sluice::kube {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;

status_writer::status_writer(asio::io_context& io, api_client& client, status_options options)
    : io_(io), client_(client), options_(std::move(options)), wakeup_(io)
{
}

status_writer::~status_writer() { *alive_ = false; }

namespace {

// How long a patch is taken to be on its way back through the watch.
constexpr std::chrono::seconds echo_wait{10};

}  // namespace

void status_writer::observe(const object_store& store, const route_snapshot& snap)
{
    current_.clear();
    for (const auto& id : snap.served_ingresses) {
        auto slash = id.find('/');
        const auto* ing = store.find<k8s::ingress>(k8s::kind::ingress, id.substr(0, slash), id.substr(slash + 1));
        if (ing)
            current_[id] = ing->status_addresses;
    }
    std::erase_if(patched_, [&](const auto& entry) { return !current_.contains(entry.first); });
    wake();
}

void status_writer::set_leading(bool leading)
{
    leading_ = leading;
    if (leading && !running_) {
        running_ = true;
        asio::co_spawn(io_, run(), asio::detached);
    }
    wake();
}

void status_writer::wake()
{
    dirty_ = true;
    wakeup_.cancel();
}

asio::awaitable<std::vector<std::string>> status_writer::addresses()
{
    std::vector<std::string> out = options_.publish_addresses;
    if (out.empty() && !options_.pod_namespace.empty()) {
        api_reply pods = co_await client_.request(
            http::verb::get, "/api/v1/namespaces/" + options_.pod_namespace + "/pods?labelSelector=" + options_.pod_selector);
        json list = pods.status == 200 ? json::parse(pods.body, nullptr, false) : json();
        if (list.is_object() && list.contains("items") && list["items"].is_array())
            for (const auto& pod : list["items"]) {
                auto st = pod.find("status");  // end() when pod is not an object
                if (st == pod.end() || !st->is_object())
                    continue;
                auto phase = st->find("phase");
                auto host = st->find("hostIP");
                if (phase != st->end() && *phase == "Running" && host != st->end() && host->is_string() &&
                    !host->get<std::string>().empty())
                    out.push_back(host->get<std::string>());
            }
    }
    if (out.empty() && !options_.node_ip.empty())
        out.push_back(options_.node_ip);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    co_return out;
}

asio::awaitable<void> status_writer::run()
{
    std::shared_ptr<bool> alive = alive_;
    while (*alive && leading_) {
        dirty_ = false;
        std::vector<std::string> want = co_await addresses();
        if (!*alive)
            co_return;
        json entries = json::array();
        for (const auto& a : want) {
            boost::system::error_code ec;
            asio::ip::make_address(a, ec);
            entries.push_back(ec ? json{{"hostname", a}} : json{{"ip", a}});
        }
        // Copied: a build during the patches below replaces current_.
        auto todo = current_;
        const auto now = std::chrono::steady_clock::now();
        for (const auto& [id, have] : todo) {
            if (!leading_ || !*alive)
                break;
            if (have == want)
                continue;
            // Patched with the same addresses moments ago: the watch has not brought it back yet.
            // Later than that, a status still different was changed by someone else: patched again.
            if (auto p = patched_.find(id);
                p != patched_.end() && p->second.addresses == want && now - p->second.at < echo_wait)
                continue;
            auto slash = id.find('/');
            json patch{{"status", {{"loadBalancer", {{"ingress", entries}}}}}};
            api_reply r = co_await client_.request(http::verb::patch,
                                                   "/apis/networking.k8s.io/v1/namespaces/" + id.substr(0, slash) +
                                                       "/ingresses/" + id.substr(slash + 1) + "/status",
                                                   patch.dump(), "application/merge-patch+json");
            if (!*alive)
                co_return;
            if (r.status == 200) {
                // Until the watch brings the object back, remember what it says now.
                if (auto it = current_.find(id); it != current_.end())
                    it->second = want;
                patched_[id] = {want, now};
            } else {
                log_warning("cannot write the status of Ingress " + id + ": " +
                            (r.status ? std::to_string(r.status) + " " + r.body.substr(0, 200) : r.error));
            }
        }
        if (dirty_)
            continue;
        wakeup_.expires_after(options_.resync);
        co_await wakeup_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    running_ = false;
}

}  // namespace sluice::kube
