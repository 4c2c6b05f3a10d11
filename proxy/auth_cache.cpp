#include "proxy/auth_cache.hpp"

#include <stdexcept>
#include <string>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace sluice {

auth_cache::auth_cache(size_t capacity) : capacity_(capacity ? capacity : 1)
{
    if (RAND_bytes(hmac_key_.data(), static_cast<int>(hmac_key_.size())) != 1)
        throw std::runtime_error("RAND_bytes failed");
    ring_.reserve(capacity_);
}

auth_cache::digest auth_cache::key_for(std::string_view version, std::string_view user, std::string_view password) const
{
    // Length-prefixed fields: ("ab", "c") and ("a", "bc") never collide.
    std::string data;
    data.reserve(version.size() + user.size() + password.size() + 12);
    for (std::string_view part : {version, user, password}) {
        uint32_t n = static_cast<uint32_t>(part.size());
        data.append(reinterpret_cast<const char*>(&n), sizeof n);
        data.append(part);
    }
    digest out{};
    unsigned len = 0;
    HMAC(EVP_sha256(), hmac_key_.data(), static_cast<int>(hmac_key_.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
    OPENSSL_cleanse(data.data(), data.size());
    return out;
}

void auth_cache::insert(const digest& key)
{
    if (entries_.contains(key))
        return;
    if (ring_.size() < capacity_) {
        ring_.push_back(key);
    } else {
        entries_.erase(ring_[next_]);
        ring_[next_] = key;
        next_ = (next_ + 1) % capacity_;
    }
    entries_.insert(key);
}

}  // namespace sluice
