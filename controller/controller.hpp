#pragma once
// Source → store → model builder → publish. Runs on one io_context (the control thread).
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>

#include "controller/change_source.hpp"
#include "controller/model_builder.hpp"
#include "controller/object_store.hpp"

namespace sluice {

struct controller_stats {
    uint64_t generation = 0;
    uint64_t swaps = 0;
    std::chrono::microseconds last_build{0};
    bool last_build_ok = true;
    uint64_t partial_builds = 0;  // snapshots that rebuilt only the hosts a change touched
};

class controller {
public:
    using publisher = std::function<void(std::shared_ptr<const route_snapshot>)>;

    // `make_source` creates the source with the handler it reports changes to.
    using source_factory = std::function<std::unique_ptr<change_source>(change_source::change_handler)>;
    controller(boost::asio::io_context& io, const source_factory& make_source, builder_options options);

    // Reads every object once and builds the first snapshot (synchronously).
    std::shared_ptr<const route_snapshot> initial_sync();
    // From now on every change builds and publishes a new snapshot.
    void watch(publisher publish);

    std::shared_ptr<const route_snapshot> current() const { return current_; }
    const object_store& store() const { return store_; }
    // Called after every build with the store it was built from (status write-back).
    void on_build(std::function<void(const object_store&, const route_snapshot&)> hook) { on_build_ = std::move(hook); }
    bool ready() const { return ready_; }
    const controller_stats& stats() const { return stats_; }

private:
    void on_changes(std::vector<object_change> changes);
    // A full build, or with `scope` a partial one when it can be done.
    void rebuild(const partial_scope* scope = nullptr);

    boost::asio::io_context& io_;
    builder_options options_;
    object_store store_;
    std::unique_ptr<change_source> source_;
    publisher publish_;
    std::function<void(const object_store&, const route_snapshot&)> on_build_;
    std::shared_ptr<const route_snapshot> current_;
    std::set<std::string> logged_diagnostics_;
    controller_stats stats_;
    bool ready_ = false;
    // Partial rebuilds keep the certificate checks of the hosts they leave alone; a full build at
    // least this often checks every certificate against the clock again.
    std::chrono::steady_clock::time_point last_full_build_{};
    static constexpr std::chrono::seconds full_build_interval{60};
};

}  // namespace sluice
