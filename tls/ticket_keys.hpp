#pragma once
// Session-ticket keys for the whole process: a new random key every rotation period, tickets
// made with the previous key still accepted (and renewed) for one more period, older keys wiped.
// Forward secrecy of resumed sessions is thus bounded by two periods, where a key that never
// changes (nginx without reloads) would bound it by the process's lifetime.
#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace sluice::tls {

struct ticket_key {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> aes{};
    std::array<unsigned char, 32> hmac{};
};

class ticket_keys {
public:
    using clock = std::chrono::system_clock;
    explicit ticket_keys(std::chrono::seconds period = std::chrono::hours(1)) : period_(period) {}

    // The key new tickets are made with at `now`.
    ticket_key current(clock::time_point now);
    // The key named `name`, if still accepted at `now`; `is_current` tells whether tickets made
    // with it are fresh (else the handshake renews them).
    std::optional<ticket_key> find(const unsigned char* name, clock::time_point now, bool& is_current);

    // The process-wide instance the TLS contexts use.
    static ticket_keys& process();

private:
    void rotate_if_due(clock::time_point now);

    std::mutex mutex_;  // taken once per full or resumed handshake, never per request
    std::chrono::seconds period_;
    std::array<ticket_key, 2> keys_{};  // [0] current, [1] previous
    int count_ = 0;
    clock::time_point next_rotation_{};
};

}  // namespace sluice::tls
