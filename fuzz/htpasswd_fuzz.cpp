// htpasswd files, Basic credentials and the password hashes nginx accepts. The input is a file;
// its first line also serves as an Authorization value and as a password checked against every
// user's hash. Slow hashes (bcrypt and the crypt family) are checked only for short inputs so a
// run stays fast; their parsing is libxcrypt's.
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/htpasswd.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace sluice;
    std::string_view input(reinterpret_cast<const char*>(data), size);
    htpasswd_table table = htpasswd_table::parse_file(input);
    std::string_view first = input.substr(0, input.find('\n'));

    std::string user, password;
    if (parse_basic_credentials(first, user, password)) {
        if (const std::string* hash = table.find(user); hash && !is_slow_hash(*hash))
            (void)verify_password(password, *hash);
    }
    // Each line's hash field, checked against the first line as a password. A hash must never
    // match a password it was not made from by accident of parsing: "{PLAIN}x" matches only "x".
    size_t slow_checks = 0;
    std::string_view rest = input;
    while (!rest.empty()) {
        auto eol = rest.find('\n');
        std::string_view line = rest.substr(0, eol);
        rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
        auto colon = line.find(':');
        if (colon == std::string_view::npos)
            continue;
        std::string_view hash = line.substr(colon + 1);
        hash = hash.substr(0, hash.find(':'));
        if (is_slow_hash(hash) && (size > 256 || ++slow_checks > 2))
            continue;
        password_check r = verify_password(first, hash);
        // (A password with a NUL byte never matches, by design: crypt() would compare a prefix.)
        bool nul = first.find('\0') != std::string_view::npos;
        if (hash.starts_with("{PLAIN}") && (r == password_check::match) != (hash.substr(7) == first && !nul))
            __builtin_trap();
    }
    return 0;
}
