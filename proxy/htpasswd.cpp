#include "proxy/htpasswd.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "controller/k8s_objects.hpp"

namespace sluice {
namespace {

constexpr char itoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

bool equal_constant_time(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

class md5 {
public:
    md5() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr); }
    ~md5() { EVP_MD_CTX_free(ctx_); }
    md5(const md5&) = delete;
    md5& operator=(const md5&) = delete;
    void reset() { EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr); }
    void update(const void* p, size_t n) { EVP_DigestUpdate(ctx_, p, n); }
    void update(std::string_view s) { update(s.data(), s.size()); }
    std::array<unsigned char, 16> final()
    {
        std::array<unsigned char, 16> out{};
        unsigned n = 0;
        EVP_DigestFinal_ex(ctx_, out.data(), &n);
        return out;
    }

private:
    EVP_MD_CTX* ctx_;
};

// Apache's $apr1$: md5-crypt (Poul-Henning Kamp's algorithm) with the "$apr1$" magic.
std::string apr1(std::string_view pw, std::string_view salt)
{
    constexpr std::string_view magic = "$apr1$";
    md5 ctx;
    ctx.update(pw);
    ctx.update(magic);
    ctx.update(salt);
    md5 alt_ctx;
    alt_ctx.update(pw);
    alt_ctx.update(salt);
    alt_ctx.update(pw);
    auto alt = alt_ctx.final();
    for (size_t left = pw.size(); left > 0; left -= std::min<size_t>(left, 16))
        ctx.update(alt.data(), std::min<size_t>(left, 16));
    for (size_t i = pw.size(); i; i >>= 1) {
        if (i & 1)
            ctx.update("\0", 1);
        else
            ctx.update(pw.data(), pw.empty() ? 0 : 1);
    }
    auto final = ctx.final();
    md5 round;
    for (int i = 0; i < 1000; ++i) {
        round.reset();
        if (i & 1)
            round.update(pw);
        else
            round.update(final.data(), 16);
        if (i % 3)
            round.update(salt);
        if (i % 7)
            round.update(pw);
        if (i & 1)
            round.update(final.data(), 16);
        else
            round.update(pw);
        final = round.final();
    }
    std::string out(magic);
    out += salt;
    out += '$';
    auto to64 = [&](uint32_t v, int n) {
        while (n-- > 0) {
            out.push_back(itoa64[v & 0x3f]);
            v >>= 6;
        }
    };
    to64((uint32_t(final[0]) << 16) | (uint32_t(final[6]) << 8) | final[12], 4);
    to64((uint32_t(final[1]) << 16) | (uint32_t(final[7]) << 8) | final[13], 4);
    to64((uint32_t(final[2]) << 16) | (uint32_t(final[8]) << 8) | final[14], 4);
    to64((uint32_t(final[3]) << 16) | (uint32_t(final[9]) << 8) | final[15], 4);
    to64((uint32_t(final[4]) << 16) | (uint32_t(final[10]) << 8) | final[5], 4);
    to64(final[11], 2);
    return out;
}

std::string sha1(std::string_view a, std::string_view b = {})
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr);
    EVP_DigestUpdate(ctx, a.data(), a.size());
    EVP_DigestUpdate(ctx, b.data(), b.size());
    EVP_DigestFinal_ex(ctx, md, &n);
    EVP_MD_CTX_free(ctx);
    return std::string(reinterpret_cast<char*>(md), n);
}

}  // namespace

htpasswd_table htpasswd_table::parse_file(std::string_view content)
{
    htpasswd_table t;
    while (!content.empty()) {
        auto nl = content.find('\n');
        std::string_view line = content.substr(0, nl);
        content.remove_prefix(nl == std::string_view::npos ? content.size() : nl + 1);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.empty() || line.front() == '#')
            continue;
        auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
            continue;
        std::string_view user = line.substr(0, colon);
        std::string_view hash = line.substr(colon + 1);
        // nginx ends the password at ':' (an optional comment follows), except that "{SSHA}"
        // and bcrypt never contain ':' anyway.
        hash = hash.substr(0, hash.find(':'));
        t.add(user, hash);
    }
    return t;
}

void htpasswd_table::add(std::string_view user, std::string_view hash)
{
    if (!users_.try_emplace(std::string(user), std::string(hash)).second)
        return;  // the first line for a user wins
    if (std::string why = excessive_work(hash); !why.empty())
        refused_.push_back("user " + std::string(user) + ": " + why);
}

htpasswd_table htpasswd_table::from_map(const std::map<std::string, std::string>& users)
{
    htpasswd_table t;
    for (const auto& [user, hash] : users) {
        std::string_view h = hash;
        while (!h.empty() && (h.back() == '\n' || h.back() == '\r'))
            h.remove_suffix(1);
        t.add(user, h);
    }
    return t;
}

const std::string* htpasswd_table::find(std::string_view user) const
{
    auto it = users_.find(user);
    return it == users_.end() ? nullptr : &it->second;
}

std::string excessive_work(std::string_view hash)
{
    constexpr unsigned max_bcrypt_cost = 17;             // htpasswd -B -C takes 4 to 17
    constexpr uint64_t max_sha_crypt_rounds = 10000000;  // 5,000 unless rounds= says otherwise
    // bcrypt: $2a$, $2b$, $2x$ or $2y$, then the cost (log2 of the rounds) in two digits.
    if (hash.size() >= 7 && hash.starts_with("$2") && hash[3] == '$' && std::isdigit(static_cast<unsigned char>(hash[4])) &&
        std::isdigit(static_cast<unsigned char>(hash[5])) && hash[6] == '$') {
        const unsigned cost = static_cast<unsigned>((hash[4] - '0') * 10 + (hash[5] - '0'));
        if (cost > max_bcrypt_cost)
            return "bcrypt cost " + std::to_string(cost) + " is over " + std::to_string(max_bcrypt_cost) +
                   ": each check of a password would keep a core busy for longer than about ten seconds";
        return {};
    }
    // sha-crypt: $5$ or $6$, then an optional "rounds=N$".
    if ((hash.starts_with("$5$rounds=") || hash.starts_with("$6$rounds="))) {
        std::string_view digits = hash.substr(10, hash.find('$', 10) - 10);
        uint64_t rounds = 0;
        for (char c : digits) {
            if (!std::isdigit(static_cast<unsigned char>(c)))
                return {};  // not a number: crypt refuses the hash itself
            rounds = std::min<uint64_t>(rounds * 10 + static_cast<uint64_t>(c - '0'), max_sha_crypt_rounds + 1);
        }
        if (rounds > max_sha_crypt_rounds)
            return "sha-crypt rounds=" + std::string(digits) + " is over " + std::to_string(max_sha_crypt_rounds) +
                   ": each check of a password would keep a core busy for longer than about ten seconds";
    }
    return {};
}

bool is_slow_hash(std::string_view hash)
{
    return !(hash.starts_with("{PLAIN}") || hash.starts_with("{SHA}") || hash.starts_with("{SSHA}"));
}

password_check verify_password(std::string_view password, std::string_view hash)
{
    if (password.find('\0') != std::string_view::npos)
        return password_check::mismatch;  // crypt() would stop at the NUL and compare a prefix
    if (hash.starts_with("{PLAIN}"))
        return equal_constant_time(password, hash.substr(7)) ? password_check::match : password_check::mismatch;
    if (hash.starts_with("{SHA}")) {
        std::string stored;
        if (!k8s::base64_decode(hash.substr(5), stored))
            return password_check::error;
        return equal_constant_time(sha1(password), stored) ? password_check::match : password_check::mismatch;
    }
    if (hash.starts_with("{SSHA}")) {
        std::string stored;
        if (!k8s::base64_decode(hash.substr(6), stored) || stored.size() <= 20)
            return password_check::error;
        std::string_view digest(stored.data(), 20);
        std::string_view salt(stored.data() + 20, stored.size() - 20);
        return equal_constant_time(sha1(password, salt), digest) ? password_check::match : password_check::mismatch;
    }
    if (hash.starts_with("$apr1$")) {
        std::string_view rest = hash.substr(6);
        std::string_view salt = rest.substr(0, std::min<size_t>(rest.find('$'), 8));
        return equal_constant_time(apr1(password, salt), hash) ? password_check::match : password_check::mismatch;
    }
    if (!excessive_work(hash).empty())
        return password_check::error;
    // libxcrypt: bcrypt, sha-crypt, md5-crypt, DES. crypt_data is large: one per thread.
    thread_local std::unique_ptr<crypt_data> data = std::make_unique<crypt_data>();
    std::string pw(password);
    std::string setting(hash);
    std::memset(data.get(), 0, sizeof(crypt_data));
    const char* out = crypt_r(pw.c_str(), setting.c_str(), data.get());
    if (!out || out[0] == '*')
        return password_check::error;
    return equal_constant_time(out, hash) ? password_check::match : password_check::mismatch;
}

bool parse_basic_credentials(std::string_view authorization, std::string& user, std::string& password)
{
    // The scheme is case-insensitive; one or more spaces follow it.
    if (authorization.size() < 6)
        return false;
    for (size_t i = 0; i < 5; ++i)
        if (std::tolower(static_cast<unsigned char>(authorization[i])) != "basic"[i])
            return false;
    if (authorization[5] != ' ')
        return false;
    std::string_view encoded = authorization.substr(6);
    while (!encoded.empty() && encoded.front() == ' ')
        encoded.remove_prefix(1);
    if (encoded.empty() || encoded.size() > 4096)
        return false;
    std::string decoded;
    if (!k8s::base64_decode(encoded, decoded))
        return false;
    auto colon = decoded.find(':');
    if (colon == std::string::npos || colon == 0)
        return false;  // no separator, or an empty user: 401 as nginx
    user = decoded.substr(0, colon);
    password = decoded.substr(colon + 1);
    return true;
}

}  // namespace sluice
