#include "proxy/access_control.hpp"

namespace sluice {

bool in_networks(const std::vector<ip_network>& nets, const boost::asio::ip::address& client)
{
    for (const auto& n : nets)
        if (n.contains(client))
            return true;
    return false;
}

bool source_allowed(const access_rules& rules, const boost::asio::ip::address& client)
{
    if (in_networks(rules.deny, client))
        return false;
    return rules.allow.empty() || in_networks(rules.allow, client);
}

rate_limits::rate_limits(size_t max_entries) : max_per_shard_(std::max<size_t>(max_entries / shard_count, 16)) {}

rate_limits& rate_limits::shared()
{
    static rate_limits instance;
    return instance;
}

size_t rate_limits::key_hash::operator()(const key& k) const noexcept
{
    uint64_t h = k.zone ^ 0x9e3779b97f4a7c15ULL;
    for (unsigned char c : k.address)
        h = (h ^ c) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return static_cast<size_t>(h);
}

rate_limits::key rate_limits::make_key(uint64_t zone, const boost::asio::ip::address& client)
{
    key k{zone, {}};
    boost::asio::ip::address a = client;
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        a = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
    if (a.is_v4()) {
        auto b = a.to_v4().to_bytes();
        std::copy(b.begin(), b.end(), k.address.begin());
    } else {
        k.address = a.to_v6().to_bytes();
        k.zone ^= 1;  // keep ::a.b.c.d apart from a.b.c.d
    }
    return k;
}

rate_limits::shard& rate_limits::shard_for(const key& k) { return shards_[key_hash{}(k) % shard_count]; }

void rate_limits::sweep(shard& s, clock::time_point now)
{
    // An entry whose excess has drained for a minute and has nothing in progress is forgotten:
    // a new one would start in the same state. (No rate is slower than one per minute.)
    for (auto it = s.table.begin(); it != s.table.end();) {
        if (it->second.in_progress == 0 && now - it->second.last > std::chrono::minutes(1) +
                                                                     std::chrono::milliseconds(it->second.excess * 60))
            it = s.table.erase(it);
        else
            ++it;
    }
    s.since_sweep = 0;
}

bool rate_limits::take_request(uint64_t zone, const boost::asio::ip::address& client, uint32_t per_period,
                               std::chrono::seconds period, uint32_t burst, clock::time_point now)
{
    key k = make_key(zone, client);
    k.zone += static_cast<uint64_t>(period.count()) << 1;  // the rpm and rps zones are separate
    shard& s = shard_for(k);
    std::lock_guard lock(s.mutex);
    if (++s.since_sweep > 4096 || s.table.size() >= max_per_shard_)
        sweep(s, now);
    auto it = s.table.find(k);
    if (it == s.table.end()) {
        if (s.table.size() >= max_per_shard_)
            return false;  // nginx: no room for the client's state refuses the request
        s.table.emplace(k, state{0, now, 0});
        return true;
    }
    state& st = it->second;
    // nginx: rate in milli-requests per second; excess drains at that rate.
    const int64_t rate = static_cast<int64_t>(per_period) * 1000 / period.count();
    const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - st.last).count();
    int64_t excess = st.excess - rate * std::max<int64_t>(ms, 0) / 1000 + 1000;
    if (excess < 0)
        excess = 0;
    if (excess > static_cast<int64_t>(burst) * 1000)
        return false;
    st.excess = excess;
    st.last = now;
    return true;
}

bool rate_limits::acquire_connection(uint64_t zone, const boost::asio::ip::address& client, uint32_t limit)
{
    key k = make_key(zone, client);
    shard& s = shard_for(k);
    std::lock_guard lock(s.mutex);
    auto [it, fresh] = s.table.try_emplace(k);
    if (fresh)
        it->second.last = clock::now();
    if (it->second.in_progress >= limit)
        return false;
    ++it->second.in_progress;
    return true;
}

void rate_limits::release_connection(uint64_t zone, const boost::asio::ip::address& client)
{
    key k = make_key(zone, client);
    shard& s = shard_for(k);
    std::lock_guard lock(s.mutex);
    auto it = s.table.find(k);
    if (it == s.table.end() || it->second.in_progress == 0)
        return;
    if (--it->second.in_progress == 0)
        s.table.erase(it);
}

size_t rate_limits::entries() const
{
    size_t n = 0;
    for (const auto& s : shards_) {
        std::lock_guard lock(s.mutex);
        n += s.table.size();
    }
    return n;
}

bool connection_slot::acquire(rate_limits& limits, uint64_t zone, const boost::asio::ip::address& client, uint32_t limit)
{
    release();
    if (!limits.acquire_connection(zone, client, limit))
        return false;
    limits_ = &limits;
    zone_ = zone;
    client_ = client;
    return true;
}

void connection_slot::release()
{
    if (limits_)
        limits_->release_connection(zone_, client_);
    limits_ = nullptr;
}

}  // namespace sluice
