#pragma once
// A worker's bounded memory of successful basic-auth checks, so that a slow hash (bcrypt at cost
// 14 takes about a second) is computed once per credential, not once per request. Entries are
// keyed by HMAC-SHA256 under a per-worker random key of (Secret version, user, password): no
// plaintext or reusable hash is kept, a changed Secret stops matching old entries at once, and
// failures are never stored.
#include <array>
#include <cstring>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace sluice {

class auth_cache {
public:
    using digest = std::array<unsigned char, 32>;

    struct digest_hash {
        size_t operator()(const digest& d) const noexcept
        {
            size_t h;
            static_assert(sizeof h <= sizeof(digest));
            std::memcpy(&h, d.data(), sizeof h);
            return h;
        }
    };

    explicit auth_cache(size_t capacity = 4096);

    digest key_for(std::string_view secret_version, std::string_view user, std::string_view password) const;
    bool contains(const digest& key) const { return entries_.contains(key); }
    void insert(const digest& key);
    size_t size() const { return entries_.size(); }

private:
    std::array<unsigned char, 32> hmac_key_{};
    std::unordered_set<digest, digest_hash> entries_;
    std::vector<digest> ring_;  // insertion order, for eviction
    size_t next_ = 0;
    size_t capacity_;
};

}  // namespace sluice
