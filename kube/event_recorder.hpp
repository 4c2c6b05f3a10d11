#pragma once
// Diagnostics about Kubernetes objects become Warning Events on those objects (what
// `kubectl describe ingress` shows): posted by the leader only, once when a diagnostic appears
// (again only if it goes away and comes back), at most `per_second` a second with a burst of
// `burst` (the rest are dropped and counted).
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "controller/object_store.hpp"
#include "kube/api_client.hpp"

namespace sluice::kube {

struct event_options {
    std::string instance;  // reportingInstance (the pod's name)
    double per_second = 5;
    double burst = 25;
};

class event_recorder {
public:
    event_recorder(boost::asio::io_context& io, api_client& client, event_options options);
    ~event_recorder();
    void observe(const object_store& store, const route_snapshot& snap);
    void set_leading(bool leading) { leading_ = leading; }
    uint64_t dropped() const { return dropped_; }

private:
    boost::asio::awaitable<void> drain();

    boost::asio::io_context& io_;
    api_client& client_;
    event_options options_;
    bool leading_ = false;
    bool draining_ = false;
    std::set<std::string> active_;  // diagnostics already reported, while they hold
    std::deque<std::pair<std::string, nlohmann::json>> queue_;  // namespace, event
    double tokens_;
    std::chrono::steady_clock::time_point refilled_ = std::chrono::steady_clock::now();
    uint64_t dropped_ = 0;
    uint64_t sequence_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sluice::kube
