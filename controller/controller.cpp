#include "controller/controller.hpp"

#include <optional>

#include <boost/asio/post.hpp>

#include "controller/log.hpp"

namespace sluice {

controller::controller(boost::asio::io_context& io, const source_factory& make_source, builder_options options)
    : io_(io),
      options_(std::move(options)),
      store_(options_.annotations_prefix),
      source_(make_source([this](std::vector<object_change> changes) { on_changes(std::move(changes)); }))
{
}

std::shared_ptr<const route_snapshot> controller::initial_sync()
{
    source_->initial_sync();
    if (!current_)
        rebuild();
    ready_ = true;
    return current_;
}

void controller::watch(publisher publish)
{
    publish_ = std::move(publish);
    source_->watch();
}

void controller::on_changes(std::vector<object_change> changes)
{
    // Changes of Ingresses alone rebuild only the hosts they route, before and after.
    std::optional<partial_scope> scope;
    if (current_ && !changes.empty() && std::chrono::steady_clock::now() - last_full_build_ < full_build_interval) {
        scope.emplace();
        for (const auto& c : changes) {
            if (c.key.kind != k8s::kind::ingress) {
                scope.reset();
                break;
            }
            scope->ingresses.push_back(c.key.ns + "/" + c.key.name);
            if (const auto* before = store_.find<k8s::ingress>(k8s::kind::ingress, c.key.ns, c.key.name))
                for (auto& h : route_hosts(*before))
                    scope->hosts.insert(std::move(h));
        }
    }
    for (const auto& c : changes)
        store_.apply(c);
    rebuild(scope ? &*scope : nullptr);
}

void controller::rebuild(const partial_scope* scope)
{
    auto start = std::chrono::steady_clock::now();
    options_.now = std::time(nullptr);
    std::shared_ptr<route_snapshot> snap;
    if (scope)
        snap = rebuild_hosts(*current_, store_, options_, stats_.generation + 1, *scope);
    const bool partial = snap != nullptr;
    if (partial) {
        ++stats_.partial_builds;
    } else {
        snap = build_snapshot(store_, options_, stats_.generation + 1);
        last_full_build_ = start;
    }
    snap->diagnostics.insert(snap->diagnostics.end(), source_->diagnostics().begin(), source_->diagnostics().end());
    // Each diagnostic is logged when it first appears, not on every rebuild.
    std::set<std::string> now;
    for (const auto& d : snap->diagnostics) {
        std::string line = d.str();
        if (!logged_diagnostics_.contains(line) && !line.empty())
            log_warning(line);
        now.insert(std::move(line));
    }
    logged_diagnostics_ = std::move(now);
    stats_.generation = snap->generation;
    stats_.last_build =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
    // Whoever drops the last reference to a snapshot (usually a worker, when its last request on
    // the old one ends) hands it back to this thread to be destroyed: freeing tens of thousands
    // of locations takes milliseconds that a worker must spend serving.
    current_ = std::shared_ptr<const route_snapshot>(
        snap.get(), [owner = snap, ex = io_.get_executor()](const route_snapshot*) mutable {
            boost::asio::post(ex, [o = std::move(owner)]() mutable { o.reset(); });
        });
    if (on_build_)
        on_build_(store_, *current_);
    if (publish_) {
        publish_(current_);
        ++stats_.swaps;
    }
    log_info("routing snapshot " + std::to_string(stats_.generation) + (partial ? " rebuilt (changed hosts only) in " : " built in ") +
             std::to_string(stats_.last_build.count()) + "us: " + std::to_string(current_->exact_hosts.size() + current_->wildcard_hosts.size()) +
             " host(s), " + std::to_string(current_->backends.size()) + " backend(s), " +
             std::to_string(current_->diagnostics.size()) + " diagnostic(s)");
}

}  // namespace sluice
