#pragma once
// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: the
// holder renews the lease every retry period; another candidate takes it over once it has seen
// the same record unchanged for a whole lease duration (its own clock, so clocks need not agree).
// Updates carry the resourceVersion read, so two candidates cannot both win (409 Conflict).
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "kube/api_client.hpp"

namespace sluice::kube {

struct election_options {
    std::string ns;        // the Lease's namespace (the controller's)
    std::string name = "sluice-leader";
    std::string identity;  // this candidate (the pod's name)
    std::chrono::seconds lease_duration{15};
    std::chrono::seconds renew_deadline{10};
    std::chrono::milliseconds retry_period{2000};
};

class leader_election {
public:
    // `on_change(true)` when this candidate starts leading, `(false)` when it stops.
    leader_election(boost::asio::io_context& io, api_client& client, election_options options,
                    std::function<void(bool)> on_change);
    ~leader_election();
    void start();
    bool leading() const { return leading_; }

private:
    boost::asio::awaitable<void> run();
    boost::asio::awaitable<bool> try_acquire_or_renew();
    void set_leading(bool leading);

    boost::asio::io_context& io_;
    api_client& client_;
    election_options options_;
    std::function<void(bool)> on_change_;
    bool leading_ = false;
    std::string observed_record_;  // holder and renew time last read
    std::chrono::steady_clock::time_point observed_at_{};
    std::chrono::steady_clock::time_point last_renewal_{};
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// RFC 3339 with microseconds (MicroTime), UTC.
std::string micro_time(std::chrono::system_clock::time_point t);

}  // namespace sluice::kube
