#include "tls/ticket_keys.hpp"

#include <cstring>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/rand.h>

namespace sluice::tls {

ticket_keys& ticket_keys::process()
{
    static ticket_keys keys;
    return keys;
}

void ticket_keys::rotate_if_due(clock::time_point now)
{
    if (count_ > 0 && now < next_rotation_)
        return;
    // After a long pause (no handshake for two periods) the previous key is too old as well.
    bool keep_previous = count_ > 0 && now < next_rotation_ + period_;
    OPENSSL_cleanse(&keys_[1], sizeof keys_[1]);
    if (keep_previous) {
        keys_[1] = keys_[0];
        count_ = 2;
    } else {
        count_ = 1;
    }
    ticket_key fresh;
    if (RAND_bytes(fresh.name.data(), static_cast<int>(fresh.name.size())) != 1 ||
        RAND_bytes(fresh.aes.data(), static_cast<int>(fresh.aes.size())) != 1 ||
        RAND_bytes(fresh.hmac.data(), static_cast<int>(fresh.hmac.size())) != 1)
        throw std::runtime_error("no randomness for a session-ticket key");
    keys_[0] = fresh;
    OPENSSL_cleanse(&fresh, sizeof fresh);
    next_rotation_ = now + period_;
}

ticket_key ticket_keys::current(clock::time_point now)
{
    std::lock_guard lock(mutex_);
    rotate_if_due(now);
    return keys_[0];
}

std::optional<ticket_key> ticket_keys::find(const unsigned char* name, clock::time_point now, bool& is_current)
{
    std::lock_guard lock(mutex_);
    rotate_if_due(now);
    for (int i = 0; i < count_; ++i) {
        if (CRYPTO_memcmp(keys_[i].name.data(), name, keys_[i].name.size()) == 0) {
            is_current = i == 0;
            return keys_[i];
        }
    }
    return std::nullopt;
}

}  // namespace sluice::tls
