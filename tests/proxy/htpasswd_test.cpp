// Every hash format nginx's auth_basic accepts, generated at test time by Apache's htpasswd and
// OpenSSL's passwd, verified by sluice.
#include <chrono>
#include <cstdio>

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "controller/k8s_objects.hpp"
#include "proxy/auth_cache.hpp"
#include "proxy/htpasswd.hpp"

namespace sluice {
namespace {

std::string run(const std::string& command)
{
    std::string out;
    FILE* p = popen(command.c_str(), "r");
    if (!p)
        return out;
    char buf[512];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        out.append(buf, n);
    pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
        out.pop_back();
    return out;
}

std::string htpasswd_hash(const std::string& flags, const std::string& password)
{
    std::string line = run("htpasswd -nb " + flags + " user '" + password + "'");
    return line.substr(line.find(':') + 1);
}

std::string base64(const std::string& in)
{
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string ssha(const std::string& password, const std::string& salt)
{
    unsigned char md[20];
    unsigned n = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr);
    EVP_DigestUpdate(ctx, password.data(), password.size());
    EVP_DigestUpdate(ctx, salt.data(), salt.size());
    EVP_DigestFinal_ex(ctx, md, &n);
    EVP_MD_CTX_free(ctx);
    return "{SSHA}" + base64(std::string(reinterpret_cast<char*>(md), n) + salt);
}

struct format {
    const char* name;
    std::string hash;  // of "s3cret pass"
};

std::vector<format> all_formats()
{
    const std::string pw = "s3cret pass";
    return {
        {"apr1 (htpasswd -m)", htpasswd_hash("-m", pw)},
        {"bcrypt $2y$ (htpasswd -B)", htpasswd_hash("-B -C 5", pw)},
        {"{SHA} (htpasswd -s)", htpasswd_hash("-s", pw)},
        {"sha256-crypt $5$ (htpasswd -2)", htpasswd_hash("-2", pw)},
        {"sha512-crypt $6$ (htpasswd -5)", htpasswd_hash("-5", pw)},
        {"md5-crypt $1$ (openssl passwd -1)", run("openssl passwd -1 -salt abcdefgh '" + pw + "'")},
        {"sha256-crypt $5$ (openssl passwd -5)", run("openssl passwd -5 '" + pw + "'")},
        {"sha512-crypt $6$ (openssl passwd -6)", run("openssl passwd -6 '" + pw + "'")},
        {"{SSHA}", ssha(pw, "saltsalt")},
        {"{PLAIN}", "{PLAIN}" + pw},
    };
}

TEST(htpasswd, every_format_verifies_the_right_password_only)
{
    for (const auto& f : all_formats()) {
        ASSERT_FALSE(f.hash.empty()) << f.name;
        EXPECT_EQ(verify_password("s3cret pass", f.hash), password_check::match) << f.name << " " << f.hash;
        EXPECT_EQ(verify_password("s3cret pasS", f.hash), password_check::mismatch) << f.name;
        EXPECT_EQ(verify_password("", f.hash), password_check::mismatch) << f.name;
    }
}

TEST(htpasswd, bcrypt_variants_and_des)
{
    std::string b = htpasswd_hash("-B -C 4", "pw");
    ASSERT_EQ(b.substr(0, 4), "$2y$");
    for (const char* variant : {"$2a$", "$2b$", "$2y$"}) {
        std::string h = variant + b.substr(4);
        EXPECT_EQ(verify_password("pw", h), password_check::match) << variant;
    }
    // Traditional DES uses the first 8 characters only, as crypt(3) always did.
    std::string des = htpasswd_hash("-d", "password");
    EXPECT_EQ(verify_password("password", des), password_check::match);
    EXPECT_EQ(verify_password("passwordXYZ", des), password_check::match);
    EXPECT_EQ(verify_password("passwor", des), password_check::mismatch);
}

TEST(htpasswd, a_nul_in_the_password_never_matches_a_prefix)
{
    std::string h = htpasswd_hash("-B -C 4", "pw");
    EXPECT_EQ(verify_password(std::string("pw\0extra", 8), h), password_check::mismatch);
}

TEST(htpasswd, malformed_hashes_are_errors_not_matches)
{
    EXPECT_EQ(verify_password("x", "{SHA}!!!notbase64"), password_check::error);
    EXPECT_EQ(verify_password("x", "{SSHA}c2hvcnQ="), password_check::error);
    EXPECT_EQ(verify_password("x", "$2y$99$bad"), password_check::error);
    EXPECT_NE(verify_password("x", ""), password_check::match);
}

TEST(htpasswd, hashes_that_would_take_too_long_to_check_are_refused_at_once)
{
    // Cost 25 is 2^25 rounds: minutes of a core per check, which a wrong password would start.
    const std::string costly = "$2y$25$abcdefghijklmnopqrstuuA0GabcdefghijklmnopqrstuvwxyzAB";
    EXPECT_NE(excessive_work(costly), "");
    EXPECT_EQ(excessive_work("$2y$17$abcdefghijklmnopqrstuuA0GabcdefghijklmnopqrstuvwxyzAB"), "");
    EXPECT_EQ(excessive_work("$2b$10$abcdefghijklmnopqrstuu"), "");
    EXPECT_NE(excessive_work("$6$rounds=999999999$salt$hash"), "");
    EXPECT_NE(excessive_work("$5$rounds=100000000000000000000000$salt$hash"), "");
    EXPECT_EQ(excessive_work("$6$rounds=5000$salt$hash"), "");
    EXPECT_EQ(excessive_work("$6$salt$hash"), "");
    EXPECT_EQ(excessive_work("{PLAIN}x"), "");
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(verify_password("guess", costly), password_check::error);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));

    auto t = htpasswd_table::parse_file("alice:{PLAIN}a\nbob:" + costly + "\nbob:{PLAIN}b\n");
    ASSERT_EQ(t.refused().size(), 1u);
    EXPECT_EQ(t.refused()[0].rfind("user bob: bcrypt cost 25 is over 17", 0), 0u) << t.refused()[0];
    ASSERT_NE(t.find("bob"), nullptr);
    EXPECT_EQ(*t.find("bob"), costly);  // the first line for a user still wins
    EXPECT_EQ(htpasswd_table::from_map({{"carol", "$6$rounds=999999999$s$h"}}).refused().size(), 1u);
}

TEST(htpasswd, file_parsing)
{
    auto t = htpasswd_table::parse_file("# comment\r\nalice:{PLAIN}one:comment\r\n\nbob:{PLAIN}two\nalice:{PLAIN}later\n"
                                        ":{PLAIN}nouser\nnocolon\nfoo:\n");
    ASSERT_NE(t.find("alice"), nullptr);
    EXPECT_EQ(*t.find("alice"), "{PLAIN}one");  // first line wins; ":comment" is not part of it
    EXPECT_EQ(*t.find("bob"), "{PLAIN}two");
    ASSERT_NE(t.find("foo"), nullptr);
    EXPECT_EQ(*t.find("foo"), "");  // "foo:" has an empty hash: no password matches
    EXPECT_NE(verify_password("", *t.find("foo")), password_check::match);
    EXPECT_EQ(t.find("nocolon"), nullptr);
    EXPECT_EQ(t.size(), 3u);
    auto m = htpasswd_table::from_map({{"carol", "{PLAIN}three\n"}});
    EXPECT_EQ(*m.find("carol"), "{PLAIN}three");
}

TEST(htpasswd, basic_credentials)
{
    std::string user, password;
    struct row {
        std::string header;
        bool ok;
        const char* user;
        const char* password;
    };
    const row rows[] = {
        {"Basic " + base64("alice:secret"), true, "alice", "secret"},
        {"basic " + base64("alice:sec:ret"), true, "alice", "sec:ret"},
        {"BASIC  " + base64("alice:"), true, "alice", ""},
        {"Basic " + base64("alice"), false, "", ""},   // no colon
        {"Basic " + base64(":secret"), false, "", ""}, // empty user
        {"Basic !!!", false, "", ""},                  // bad base64
        {"Basic ", false, "", ""},                     // empty
        {"Bearer " + base64("alice:secret"), false, "", ""},
        {"", false, "", ""},
        {"Basic " + std::string(10000, 'A'), false, "", ""},  // huge
    };
    for (const auto& r : rows) {
        EXPECT_EQ(parse_basic_credentials(r.header, user, password), r.ok) << r.header.substr(0, 40);
        if (r.ok) {
            EXPECT_EQ(user, r.user);
            EXPECT_EQ(password, r.password);
        }
    }
}

TEST(auth_cache, keys_separate_fields_and_versions_and_the_bound_holds)
{
    auth_cache cache(3);
    auto k1 = cache.key_for("v1", "ab", "c");
    EXPECT_NE(k1, cache.key_for("v1", "a", "bc"));
    EXPECT_NE(k1, cache.key_for("v2", "ab", "c"));
    EXPECT_EQ(k1, cache.key_for("v1", "ab", "c"));
    auth_cache other(3);
    EXPECT_NE(k1, other.key_for("v1", "ab", "c"));  // per-instance random key
    cache.insert(k1);
    EXPECT_TRUE(cache.contains(k1));
    for (int i = 0; i < 3; ++i)
        cache.insert(cache.key_for("v1", "user" + std::to_string(i), "p"));
    EXPECT_EQ(cache.size(), 3u);
    EXPECT_FALSE(cache.contains(k1));  // the oldest went first
}

}  // namespace
}  // namespace sluice
