#include "kube/leader_election.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include "controller/log.hpp"

namespace sluice::kube {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;

std::string micro_time(std::chrono::system_clock::time_point t)
{
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%06lldZ", static_cast<long long>(us % 1'000'000));
    return std::string(buf) + frac;
}

leader_election::leader_election(asio::io_context& io, api_client& client, election_options options,
                                 std::function<void(bool)> on_change)
    : io_(io), client_(client), options_(std::move(options)), on_change_(std::move(on_change))
{
}

leader_election::~leader_election() { *alive_ = false; }

void leader_election::start() { asio::co_spawn(io_, run(), asio::detached); }

void leader_election::set_leading(bool leading)
{
    if (leading == leading_)
        return;
    leading_ = leading;
    log_info(std::string(leading ? "became the leader" : "stopped leading") + " (Lease " + options_.ns + "/" +
             options_.name + ", identity " + options_.identity + ")");
    if (on_change_)
        on_change_(leading);
}

asio::awaitable<void> leader_election::run()
{
    std::shared_ptr<bool> alive = alive_;
    for (;;) {
        // A Lease of the wrong shape (someone edited it) is one this replica does not hold: a
        // leader that cannot read it steps down below, as client-go's fails to decode it.
        bool held = false;
        std::string failure;
        try {
            held = co_await try_acquire_or_renew();
        } catch (const std::exception& e) {
            failure = e.what();
        }
        if (!*alive)
            co_return;
        if (!failure.empty())
            log_warning("leader election: cannot use Lease " + options_.ns + "/" + options_.name + ": " + failure);
        const auto now = std::chrono::steady_clock::now();
        if (held)
            last_renewal_ = now;
        // A leader that cannot renew within renew_deadline steps down before its lease expires
        // for the others.
        if (leading_ && !held && now - last_renewal_ > options_.renew_deadline)
            set_leading(false);
        else if (held)
            set_leading(true);
        asio::steady_timer t(io_, options_.retry_period);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        if (!*alive)
            co_return;
    }
}

asio::awaitable<bool> leader_election::try_acquire_or_renew()
{
    const std::string path = "/apis/coordination.k8s.io/v1/namespaces/" + options_.ns + "/leases/" + options_.name;
    const auto now = std::chrono::system_clock::now();
    api_reply got = co_await client_.request(http::verb::get, path);
    if (got.status == 404) {
        json lease{{"apiVersion", "coordination.k8s.io/v1"},
                   {"kind", "Lease"},
                   {"metadata", {{"name", options_.name}, {"namespace", options_.ns}}},
                   {"spec",
                    {{"holderIdentity", options_.identity},
                     {"leaseDurationSeconds", options_.lease_duration.count()},
                     {"acquireTime", micro_time(now)},
                     {"renewTime", micro_time(now)},
                     {"leaseTransitions", 0}}}};
        api_reply created = co_await client_.request(
            http::verb::post, "/apis/coordination.k8s.io/v1/namespaces/" + options_.ns + "/leases", lease.dump());
        co_return created.status == 201 || created.status == 200;
    }
    if (got.status != 200)
        co_return false;
    json lease = json::parse(got.body, nullptr, false);
    if (!lease.is_object() || !lease.contains("spec"))
        co_return false;
    json& spec = lease["spec"];
    const std::string holder = spec.value("holderIdentity", "");
    const std::string record = holder + "|" + spec.value("renewTime", "");
    const auto seen = std::chrono::steady_clock::now();
    if (record != observed_record_) {
        observed_record_ = record;
        observed_at_ = seen;
    }
    const auto duration = std::chrono::seconds(spec.value("leaseDurationSeconds", options_.lease_duration.count()));
    if (!holder.empty() && holder != options_.identity && seen - observed_at_ < duration)
        co_return false;  // someone else holds a live lease
    if (holder != options_.identity) {
        spec["acquireTime"] = micro_time(now);
        spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + 1;
        spec["holderIdentity"] = options_.identity;
    }
    spec["renewTime"] = micro_time(now);
    spec["leaseDurationSeconds"] = options_.lease_duration.count();
    // The resourceVersion read makes the update conditional: a concurrent winner makes this 409.
    api_reply put = co_await client_.request(http::verb::put, path, lease.dump());
    if (put.status == 200) {
        json updated = json::parse(put.body, nullptr, false);
        if (updated.is_object() && updated.contains("spec"))
            observed_record_ = options_.identity + "|" + updated["spec"].value("renewTime", "");
        observed_at_ = std::chrono::steady_clock::now();
        co_return true;
    }
    co_return false;
}

}  // namespace sluice::kube
