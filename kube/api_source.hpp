#pragma once
// The Kubernetes API source: list + watch of Ingress, IngressClass, Service, EndpointSlice,
// Secret and ConfigMap, as the API documents it. A list gives a resourceVersion; the watch starts
// there with bookmarks; ADDED/MODIFIED/DELETED become changes, BOOKMARK moves the version on;
// "410 Gone" (an ERROR event or answer) relists and replaces that kind's objects (those that
// still exist stay, so their routes never blink); a dropped stream resumes from the last version;
// failures back off exponentially with jitter. Changes are reported in batches 20 ms after the
// last event.
#include <chrono>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "controller/change_source.hpp"
#include "kube/api_client.hpp"

namespace sluice::kube {

struct source_options {
    std::string watch_namespace;  // non-empty: namespaced kinds other than ConfigMap only there
    std::chrono::milliseconds debounce{20};
    std::chrono::milliseconds backoff_min{500};
    std::chrono::milliseconds backoff_max{30'000};
    std::chrono::seconds watch_timeout{300};  // timeoutSeconds of each watch request (jittered)
};

class api_source final : public change_source {
public:
    api_source(boost::asio::io_context& io, api_client& client, source_options options, change_handler on_changes);
    ~api_source() override;

    void initial_sync() override;
    void watch() override {}
    const std::vector<diagnostic>& diagnostics() const override { return diagnostics_; }
    bool synced() const;

    // The resources watched: API path and kind.
    struct resource {
        k8s::kind kind;
        std::string api_version;  // "v1", "networking.k8s.io/v1"
        std::string kind_name;    // "Service"
        std::string plural;       // "services"
        bool namespaced = true;
        std::string path;         // the collection's path, namespace applied
        std::string version;      // the resourceVersion the next watch starts from
        std::set<object_key> known;
        bool listed = false;
        std::chrono::milliseconds backoff{0};
    };

private:
    boost::asio::awaitable<void> run(resource& r);
    boost::asio::awaitable<void> follow(resource& r);
    boost::asio::awaitable<bool> list(resource& r);
    boost::asio::awaitable<void> back_off(resource& r);
    void queue(object_change change);
    void flush();
    // Logs `what` and shows it on /debug/config until clear_problem.
    void problem(const resource& r, const std::string& what);
    void clear_problem(const resource& r);

    boost::asio::io_context& io_;
    api_client& client_;
    source_options options_;
    change_handler on_changes_;
    std::vector<resource> resources_;
    std::vector<object_change> pending_;
    boost::asio::steady_timer flush_timer_;
    bool flush_armed_ = false;
    std::vector<diagnostic> diagnostics_;
    std::mt19937 random_{std::random_device{}()};
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sluice::kube
