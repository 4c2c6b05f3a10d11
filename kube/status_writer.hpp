#pragma once
// Ingress status write-back: the leader publishes the edge addresses in
// status.loadBalancer.ingress of every Ingress this controller serves, with a merge patch of the
// status subresource, and only where it differs. The addresses are --publish-status-address, or
// the node addresses (status.hostIP) of the controller's running pods, found by a label selector
// in its namespace (a DaemonSet on edge nodes: every edge node), or this node's NODE_IP.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "controller/object_store.hpp"
#include "kube/api_client.hpp"

namespace sluice::kube {

struct status_options {
    std::vector<std::string> publish_addresses;  // fixed addresses; empty: discover
    std::string pod_namespace;                   // where the controller's pods run
    std::string pod_selector = "app.kubernetes.io/name=sluice";
    std::string node_ip;                         // fallback: this pod's node
    std::chrono::seconds resync{60};             // pods come and go: recheck this often
};

class status_writer {
public:
    status_writer(boost::asio::io_context& io, api_client& client, status_options options);
    ~status_writer();
    // After each build: what the served Ingresses say now.
    void observe(const object_store& store, const route_snapshot& snap);
    void set_leading(bool leading);

private:
    boost::asio::awaitable<void> run();
    boost::asio::awaitable<std::vector<std::string>> addresses();
    void wake();

    boost::asio::io_context& io_;
    api_client& client_;
    status_options options_;
    bool leading_ = false;
    bool running_ = false;
    bool dirty_ = false;  // something changed since the last pass
    std::map<std::string, std::vector<std::string>> current_;  // "ns/name" → its status addresses
    // What was last patched into each Ingress, and when: a build that runs before the watch
    // brings the patched object back still sees the old status, and must not patch it again.
    struct patched {
        std::vector<std::string> addresses;
        std::chrono::steady_clock::time_point at;
    };
    std::map<std::string, patched> patched_;
    boost::asio::steady_timer wakeup_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sluice::kube
