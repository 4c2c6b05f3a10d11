#pragma once
// htpasswd files and the password hashes nginx's auth_basic accepts: $apr1$, {PLAIN}, {SHA},
// {SSHA} (implemented here, as nginx does) and everything else through libxcrypt's crypt_r:
// bcrypt $2a$/$2b$/$2y$, sha-crypt $5$/$6$, md5-crypt $1$, traditional DES.
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/route_snapshot.hpp"

namespace sluice {

class htpasswd_table {
public:
    // "user:hash[:comment]" lines; '#' starts a comment line; the first line for a user wins.
    static htpasswd_table parse_file(std::string_view content);
    // auth-map: one key per user, the value is the hash.
    static htpasswd_table from_map(const std::map<std::string, std::string>& users);

    const std::string* find(std::string_view user) const;
    size_t size() const { return users_.size(); }
    // Users whose hash would take too long to check (excessive_work), each with why: "user bob:
    // bcrypt cost 25 is over 17 ...". They stay in the table; their logins fail as with any hash
    // that cannot be used.
    const std::vector<std::string>& refused() const { return refused_; }

private:
    void add(std::string_view user, std::string_view hash);

    string_map<std::string> users_;
    std::vector<std::string> refused_;
};

enum class password_check { match, mismatch, error };

// Why one check of a password against `hash` would keep a core busy for more than about ten
// seconds (a bcrypt cost over 17, a sha-crypt rounds= over 10,000,000), or empty. Anyone can make
// sluice run a check by sending a wrong password for that user, so such a hash would let any
// client tie up the threads that check passwords; verify_password refuses it (an error, 500, as
// for any hash it cannot use), and the table reports its user for a diagnostic.
std::string excessive_work(std::string_view hash);

// Compares in constant time once the candidate hash is computed.
password_check verify_password(std::string_view password, std::string_view hash);

// Hashes that take long enough (bcrypt, sha-crypt, md5-crypt, apr1, DES) to be checked off the
// proxy workers; {PLAIN}, {SHA} and {SSHA} are checked inline.
bool is_slow_hash(std::string_view hash);

// "Basic <base64(user:password)>" → user and password; false when malformed.
bool parse_basic_credentials(std::string_view authorization, std::string& user, std::string& password);

}  // namespace sluice
