// HTTPS through the real binary with real clients: openssl s_client and curl for SNI, chains,
// protocols, resumption and redirects; a Beast TLS client for a connection held open across a
// certificate rotation. Certificates are made by the openssl command at test time.
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <stop_token>
#include <thread>

#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace fs = std::filesystem;

// Root CA → intermediate → leaves (EC P-256), plus an expired leaf and a key that matches nothing.
const char* make_certificates = R"SH(
set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.crt -days 30 -subj "/CN=sluice test root" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout int.key -out int.csr -subj "/CN=sluice test intermediate" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > int.ext
openssl x509 -req -in int.csr -CA root.crt -CAkey root.key -CAcreateserial -days 30 -extfile int.ext -out int.crt 2>/dev/null
leaf() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  printf 'subjectAltName=DNS:%s\n' "$2" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA int.crt -CAkey int.key -CAcreateserial -days 30 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  cat "$1.crt" int.crt > "$1.chain"
}
leaf a a.test
leaf a2 a.test
leaf b b.test
leaf wild '*.wild.test'
leaf backend backend.internal
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.csr -subj "/CN=other" 2>/dev/null
mkdir -p ca && : > ca/index.txt && echo 01 > ca/serial
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=ca/index.txt\nnew_certs_dir=ca\nserial=ca/serial\npolicy=p\ndefault_md=sha256\ncopy_extensions=copy\n[p]\ncommonName=supplied\n' > ca.cnf
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout expired.key -out expired.csr -subj "/CN=expired.test" -addext "subjectAltName=DNS:expired.test" 2>/dev/null
openssl ca -batch -config ca.cnf -cert int.crt -keyfile int.key -in expired.csr -startdate 20200101000000Z -enddate 20200201000000Z -notext -out expired.crt 2>/dev/null
cat expired.crt int.crt > expired.chain
echo ok
)SH";

std::string read_file(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string tls_secret_yaml(const std::string& name, const std::string& crt, const std::string& key)
{
    return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\ntype: kubernetes.io/tls\ndata:\n  tls.crt: " +
           base64_encode(crt) + "\n  tls.key: " + base64_encode(key) + "\n";
}

// An Ingress with one rule per host (all to `service`) and a TLS section.
std::string tls_ingress(const std::string& name, const std::vector<std::string>& hosts, const std::string& tls_section,
                        const std::string& annotations = "", const std::string& service = "echo", int port = 80)
{
    std::string y = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name + "\n";
    if (!annotations.empty())
        y += "  annotations:\n" + annotations;
    y += "spec:\n  ingressClassName: nginx\n";
    if (!tls_section.empty())
        y += "  tls:\n" + tls_section;
    y += "  rules:\n";
    for (const auto& h : hosts)
        y += "  - host: \"" + h + "\"\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n"
             "        backend: {service: {name: " + service + ", port: {number: " + std::to_string(port) + "}}}\n";
    return y;
}

// A TLS keep-alive client connection (no verification: the tests read the certificate).
class https_connection {
public:
    https_connection(uint16_t port, const std::string& sni) : ctx_(asio::ssl::context::tls_client), stream_(io_, ctx_)
    {
        if (!sni.empty())
            SSL_set_tlsext_host_name(stream_.native_handle(), sni.c_str());
        stream_.next_layer().connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        stream_.handshake(asio::ssl::stream_base::client);
    }
    std::string peer_subject()
    {
        X509* cert = SSL_get1_peer_certificate(stream_.native_handle());
        if (!cert)
            return "";
        char buf[512];
        X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
        X509_free(cert);
        return buf;
    }
    response get(const std::string& target, const std::string& host)
    {
        http::request<http::empty_body> req{http::verb::get, target, 11};
        req.set(http::field::host, host);
        http::write(stream_, req);
        return read_response();
    }
    void send(const std::string& bytes) { asio::write(stream_, asio::buffer(bytes)); }
    // Raw bytes up to and including `delim` (what follows stays for the next call).
    std::string read_until(const std::string& delim)
    {
        size_t n = asio::read_until(stream_, asio::dynamic_buffer(raw_), delim);
        std::string out = raw_.substr(0, n);
        raw_.erase(0, n);
        return out;
    }
    // If the connection is still open `limit` from now, it is shut down, so that a read waiting
    // for bytes that never come fails instead of waiting for ever.
    void bound_lifetime(std::chrono::seconds limit)
    {
        watchdog_ = std::jthread([fd = stream_.next_layer().native_handle(), limit](std::stop_token stop) {
            std::mutex m;
            std::condition_variable_any never;
            std::unique_lock lock(m);
            never.wait_for(lock, stop, limit, [] { return false; });
            if (!stop.stop_requested())
                ::shutdown(fd, SHUT_RDWR);
        });
    }
    response read_response()
    {
        http::response<http::string_body> res;
        http::read(stream_, buffer_, res);
        return to_response(std::move(res));
    }

private:
    asio::io_context io_;
    asio::ssl::context ctx_;
    asio::ssl::stream<asio::ip::tcp::socket> stream_;
    boost::beast::flat_buffer buffer_;
    std::string raw_;
    std::jthread watchdog_;  // destroyed first, while the socket is still open
};

class tls_test : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        certs_ = new fs::path(fs::temp_directory_path() / ("sluice-tls-" + std::to_string(getpid())));
        fs::create_directories(*certs_);
        std::ofstream(*certs_ / "make.sh") << make_certificates;
        ASSERT_EQ(run_command("cd '" + certs_->string() + "' && sh make.sh 2>&1"), "ok\n");
        echo_ = new echo_backend("echo");
        https_echo_ = new echo_backend("secure", {"--tls-cert", (*certs_ / "backend.chain").string(), "--tls-key",
                                                  (*certs_ / "backend.key").string()});
        s_ = new sluice_instance();
        s_->write("class.yaml", ingress_class_yaml());
        s_->write("svc.yaml", service_yaml("echo", {echo_->port()}) + "---\n" + service_yaml("secure", {https_echo_->port()}));
        s_->write("secret-a.yaml", tls_secret_yaml("a-tls", file("a.chain"), file("a.key")));
        s_->write("secrets.yaml", tls_secret_yaml("b-tls", file("b.chain"), file("b.key")) + "---\n" +
                                      tls_secret_yaml("wild-tls", file("wild.chain"), file("wild.key")) + "---\n" +
                                      tls_secret_yaml("mismatch-tls", file("b.chain"), file("other.key")) + "---\n" +
                                      tls_secret_yaml("garbage-tls", "-----BEGIN CERTIFICATE-----\nnot base64\n"
                                                                     "-----END CERTIFICATE-----\n", file("b.key")) +
                                      "---\n" + tls_secret_yaml("expired-tls", file("expired.chain"), file("expired.key")) +
                                      "---\napiVersion: v1\nkind: Secret\nmetadata: {name: backend-ca}\nstringData:\n"
                                      "  ca.crt: |\n" + indent(file("root.crt")));
        s_->write("a.yaml", tls_ingress("a", {"a.test"}, "  - hosts: [a.test]\n    secretName: a-tls\n"));
        // The SAN of b-tls covers b.test though the TLS entry lists no host (ingress-nginx's fallback).
        s_->write("b.yaml", tls_ingress("b", {"b.test"}, "  - secretName: b-tls\n"));
        s_->write("wild.yaml", tls_ingress("wild", {"*.wild.test"}, "  - hosts: ['*.wild.test']\n    secretName: wild-tls\n"));
        s_->write("plain.yaml", tls_ingress("plain", {"plain.test"}, ""));
        s_->write("bad.yaml", tls_ingress("bad", {"mismatch.test", "garbage.test", "expired.test", "missing.test"},
                                          "  - hosts: [mismatch.test]\n    secretName: mismatch-tls\n"
                                          "  - hosts: [garbage.test]\n    secretName: garbage-tls\n"
                                          "  - hosts: [expired.test]\n    secretName: expired-tls\n"
                                          "  - hosts: [missing.test]\n    secretName: no-such-secret\n"));
        s_->write("noredirect.yaml", tls_ingress("noredirect", {"noredirect.test"}, "  - hosts: [noredirect.test]\n",
                                                 "    nginx.ingress.kubernetes.io/ssl-redirect: \"false\"\n"));
        s_->write("force.yaml", tls_ingress("force", {"force.test"}, "",
                                            "    nginx.ingress.kubernetes.io/force-ssl-redirect: \"true\"\n"
                                            "    nginx.ingress.kubernetes.io/preserve-trailing-slash: \"true\"\n"));
        s_->write("backend.yaml",
                  tls_ingress("secure", {"secure.test"}, "",
                              "    nginx.ingress.kubernetes.io/backend-protocol: HTTPS\n"
                              "    nginx.ingress.kubernetes.io/proxy-ssl-verify: \"on\"\n"
                              "    nginx.ingress.kubernetes.io/proxy-ssl-secret: backend-ca\n"
                              "    nginx.ingress.kubernetes.io/proxy-ssl-name: backend.internal\n"
                              "    nginx.ingress.kubernetes.io/proxy-ssl-server-name: \"on\"\n",
                              "secure") +
                      "---\n" +
                      tls_ingress("secure-wrong-name", {"wrong-name.test"}, "",
                                  "    nginx.ingress.kubernetes.io/backend-protocol: HTTPS\n"
                                  "    nginx.ingress.kubernetes.io/proxy-ssl-verify: \"on\"\n"
                                  "    nginx.ingress.kubernetes.io/proxy-ssl-secret: backend-ca\n"
                                  "    nginx.ingress.kubernetes.io/proxy-ssl-name: not-the-backend.internal\n",
                                  "secure") +
                      "---\n" +
                      tls_ingress("secure-unverified", {"unverified.test"}, "",
                                  "    nginx.ingress.kubernetes.io/backend-protocol: HTTPS\n", "secure"));
        s_->start();
    }
    static void TearDownTestSuite()
    {
        delete s_;
        delete echo_;
        delete https_echo_;
        fs::remove_all(*certs_);
        delete certs_;
    }
    static std::string file(const std::string& name) { return read_file(*certs_ / name); }
    static std::string indent(const std::string& text)
    {
        std::string out;
        size_t start = 0;
        while (start < text.size()) {
            size_t end = text.find('\n', start);
            out += "    " + text.substr(start, end - start) + "\n";
            start = end == std::string::npos ? text.size() : end + 1;
        }
        return out;
    }
    // What openssl s_client prints for one handshake (stdin closed after a moment).
    static std::string s_client(const std::string& args)
    {
        return run_command("(sleep 0.3) | openssl s_client -connect 127.0.0.1:" + std::to_string(s_->https_port()) + " " +
                           args + " 2>&1");
    }
    static std::string subject_for(const std::string& servername)
    {
        std::string out = s_client(servername.empty() ? "" : "-servername " + servername);
        auto at = out.find("subject=");
        return at == std::string::npos ? "(no certificate)\n" + out : out.substr(at, out.find('\n', at) - at);
    }
    static std::string curl(const std::string& host, const std::string& args)
    {
        std::string port = std::to_string(s_->https_port());
        return run_command("curl -s --cacert '" + (*certs_ / "root.crt").string() + "' --resolve " + host + ":" + port +
                           ":127.0.0.1 " + args + " https://" + host + ":" + port + "/hello 2>&1");
    }
    static bool has_diagnostic(const std::string& needle)
    {
        auto config = s_->debug_config();
        for (const auto& d : config["diagnostics"])
            if ((d["object"].get<std::string>() + ": " + d["field"].get<std::string>() + ": " + d["message"].get<std::string>())
                    .find(needle) != std::string::npos)
                return true;
        return false;
    }
    static inline fs::path* certs_ = nullptr;
    static inline echo_backend* echo_ = nullptr;
    static inline echo_backend* https_echo_ = nullptr;
    static inline sluice_instance* s_ = nullptr;
};

constexpr const char* fake_subject = "CN = Kubernetes Ingress Controller Fake Certificate";

TEST_F(tls_test, sni_selects_the_certificate_of_each_host)
{
    EXPECT_EQ(subject_for("a.test"), "subject=CN = a.test");
    EXPECT_EQ(subject_for("A.TEST"), "subject=CN = a.test") << "SNI is case-insensitive";
    EXPECT_EQ(subject_for("b.test"), "subject=CN = b.test") << "a TLS entry without hosts covers the hosts its SAN names";
    EXPECT_EQ(subject_for("x.wild.test"), "subject=CN = *.wild.test");
    EXPECT_NE(subject_for("unknown.test").find(fake_subject), std::string::npos);
    EXPECT_NE(subject_for("plain.test").find(fake_subject), std::string::npos);
    EXPECT_NE(subject_for("").find(fake_subject), std::string::npos) << "no SNI: the default certificate";
}

TEST_F(tls_test, the_chain_verifies_against_the_root)
{
    std::string out = s_client("-servername a.test -verify_return_error -CAfile '" + (*certs_ / "root.crt").string() + "'");
    EXPECT_NE(out.find("Verify return code: 0 (ok)"), std::string::npos) << out;
    EXPECT_NE(out.find("CN = sluice test intermediate"), std::string::npos) << "the intermediate is sent\n" << out;
}

TEST_F(tls_test, curl_gets_the_backend_over_https_with_hsts_and_forwarded_proto)
{
    std::string out = curl("a.test", "-i -v");
    EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
    EXPECT_NE(out.find("ALPN: server accepted http/1.1"), std::string::npos) << out;
    EXPECT_NE(out.find("Strict-Transport-Security: max-age=31536000; includeSubDomains"), std::string::npos) << out;
    EXPECT_NE(out.find("\"x-forwarded-proto\":[\"https\"]"), std::string::npos) << out;
    EXPECT_NE(out.find("\"x-forwarded-port\":[\"" + std::to_string(s_->https_port()) + "\"]"), std::string::npos) << out;
    // A host served with the default certificate because it has no TLS section gets no HSTS.
    std::string plain = run_command("curl -sk -i -H 'Host: plain.test' https://127.0.0.1:" + std::to_string(s_->https_port()) + "/");
    EXPECT_NE(plain.find("HTTP/1.1 200"), std::string::npos) << plain;
    EXPECT_EQ(plain.find("Strict-Transport-Security"), std::string::npos) << plain;
}

TEST_F(tls_test, tls_1_0_and_1_1_are_refused_by_the_server)
{
    // The client is allowed the old protocol (security level 0), so the refusal is the server's.
    for (const char* flag : {"-tls1", "-tls1_1"}) {
        std::string out = s_client(std::string(flag) + " -cipher 'DEFAULT:@SECLEVEL=0' -servername a.test");
        EXPECT_NE(out.find("alert protocol version"), std::string::npos) << flag << "\n" << out;
    }
    EXPECT_NE(s_client("-tls1_2 -servername a.test").find("New, TLSv1.2"), std::string::npos);
    EXPECT_NE(s_client("-tls1_3 -servername a.test").find("New, TLSv1.3"), std::string::npos);
}

TEST_F(tls_test, sessions_resume_with_tickets)
{
    for (const char* version : {"-tls1_2", "-tls1_3"}) {
        fs::path sess = *certs_ / (std::string("session") + version);
        std::string first = s_client(std::string(version) + " -servername a.test -sess_out '" + sess.string() + "'");
        ASSERT_NE(first.find("New, "), std::string::npos) << first;
        std::string second = s_client(std::string(version) + " -servername a.test -sess_in '" + sess.string() + "'");
        EXPECT_NE(second.find("Reused, "), std::string::npos) << version << "\n" << second;
    }
}

TEST_F(tls_test, http_redirects_to_https_on_hosts_with_tls)
{
    auto r = http_get(s_->port(), "/path/?q=1", "a.test");
    EXPECT_EQ(r.status, 308u);
    EXPECT_EQ(r.headers["location"], "https://a.test/path/?q=1");
    r = http_get(s_->port(), "/path/", "a.test:8080");
    EXPECT_EQ(r.status, 308u);
    EXPECT_EQ(r.headers["location"], "https://a.test/path") << "the trailing slash goes, as ingress-nginx";
    EXPECT_EQ(r.headers.count("strict-transport-security"), 0u) << "no HSTS over plain HTTP";
    // Every rule host of an Ingress with a TLS section has TLS (default certificate if unlisted).
    EXPECT_EQ(http_get(s_->port(), "/", "missing.test").status, 308u);
    EXPECT_EQ(http_get(s_->port(), "/", "plain.test").status, 200u);
    EXPECT_EQ(http_get(s_->port(), "/", "noredirect.test").status, 200u) << "ssl-redirect: false";
    r = http_get(s_->port(), "/keep/", "force.test");
    EXPECT_EQ(r.status, 308u) << "force-ssl-redirect without TLS";
    EXPECT_EQ(r.headers["location"], "https://force.test/keep/") << "preserve-trailing-slash";
    // HTTPS requests are not redirected.
    EXPECT_NE(curl("a.test", "-o /dev/null -w '%{http_code}'").find("200"), std::string::npos);
}

TEST_F(tls_test, unusable_secrets_fall_back_to_the_default_certificate_with_a_diagnostic)
{
    for (const char* host : {"mismatch.test", "garbage.test", "expired.test", "missing.test"})
        EXPECT_NE(subject_for(host).find(fake_subject), std::string::npos) << host;
    EXPECT_TRUE(has_diagnostic("Ingress default/bad: spec.tls[0].secretName: Secret default/mismatch-tls tls.key does not "
                               "match the certificate in tls.crt; host mismatch.test uses the default certificate"));
    EXPECT_TRUE(has_diagnostic("Secret default/garbage-tls tls.crt holds no PEM certificate"));
    EXPECT_TRUE(has_diagnostic("spec.tls[2].secretName: the certificate of Secret default/expired-tls (CN=expired.test) "
                               "expired on 2020-02-01T00:00:00Z"));
    EXPECT_TRUE(has_diagnostic("spec.tls[3].secretName: Secret default/no-such-secret not found"));
    // The good hosts are untouched.
    EXPECT_EQ(subject_for("a.test"), "subject=CN = a.test");
}

TEST_F(tls_test, a_rotated_certificate_serves_new_handshakes_and_open_connections_stay)
{
    https_connection before(s_->https_port(), "a.test");
    std::string old_subject = before.peer_subject();
    ASSERT_NE(old_subject.find("CN=a.test"), std::string::npos);
    ASSERT_EQ(before.get("/x", "a.test").status, 200u);
    auto fingerprint = [](const std::string& servername) {
        return run_command("(sleep 0.3) | openssl s_client -connect 127.0.0.1:" + std::to_string(s_->https_port()) +
                           " -servername " + servername + " 2>/dev/null | openssl x509 -noout -fingerprint -sha256");
    };
    std::string old_fp = fingerprint("a.test");
    std::string a2_fp = run_command("openssl x509 -noout -fingerprint -sha256 -in '" + (*certs_ / "a2.crt").string() + "'");
    ASSERT_NE(old_fp, a2_fp);
    uint64_t g = s_->generation();
    s_->write("secret-a.yaml", tls_secret_yaml("a-tls", file("a2.chain"), file("a2.key")));
    s_->wait_for_generation_after(g);
    EXPECT_TRUE(wait_until([&] { return fingerprint("a.test") == a2_fp; })) << fingerprint("a.test");
    // The connection made before the rotation keeps working.
    EXPECT_EQ(before.get("/y", "a.test").status, 200u);
    // Put the first certificate back for the other tests.
    g = s_->generation();
    s_->write("secret-a.yaml", tls_secret_yaml("a-tls", file("a.chain"), file("a.key")));
    s_->wait_for_generation_after(g);
    EXPECT_TRUE(wait_until([&] { return fingerprint("a.test") == old_fp; }));
}

TEST_F(tls_test, tls_reads_wait_for_readiness)
{
    // As on plain connections (proxying.a_read_that_empties_a_socket_makes_the_next_wait_for_readiness):
    // a TLS read that emptied the socket is not followed by one that fails with EAGAIN, on a
    // client's keep-alive connection nor on a pooled HTTPS upstream connection.
    https_connection client(s_->https_port(), "a.test");
    ASSERT_EQ(client.get("/warm", "a.test").status, 200u);
    http_connection to_secure(s_->port());
    ASSERT_EQ(to_secure.request("GET", "/warm", "secure.test").status, 200u);
    const int requests = 5;
    auto reads = trace_reads(s_->proc(), *certs_ / "reads.strace", [&] {
        for (int i = 0; i < requests; ++i) {
            std::this_thread::sleep_for(50ms);  // every read finds the socket empty at first
            EXPECT_EQ(client.get("/n" + std::to_string(i), "a.test").status, 200u);
            std::this_thread::sleep_for(50ms);
            auto r = to_secure.request("GET", "/n" + std::to_string(i), "secure.test");
            EXPECT_EQ(r.status, 200u);
            EXPECT_EQ(r.json()["service"], "secure");
        }
    });
    EXPECT_GE(reads.succeeded, 4 * requests) << "each request and each response is read";
    EXPECT_TRUE(reads.eagain.empty()) << reads.eagain.size() << " reads failed with EAGAIN, the first: "
                                      << reads.eagain.front();
}

TEST_F(tls_test, a_tunnel_from_a_tls_client_reads_each_message_after_a_wait)
{
    // An upgraded connection from a TLS client: each message comes after a pause, so each of
    // sluice's reads of the client finds the socket drained and waits for it (the tunnel's own
    // wait, which must make the next read try the socket again).
    raw_server upstream([](asio::ip::tcp::socket& s) {
        asio::streambuf req;
        asio::read_until(s, req, "\r\n\r\n");
        asio::write(s, asio::buffer(std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: shout/1\r\n"
                                                "Connection: Upgrade\r\n\r\n")));
        upper_case_echo(s);
    });
    uint64_t g = s_->generation();
    s_->write("shout.yaml", service_yaml("shout", {upstream.port()}) + "---\n" +
                                ingress_yaml("shout", "shout.test", {{"/", "Prefix", "shout"}}));
    s_->wait_for_generation_after(g);
    https_connection c(s_->https_port(), "shout.test");
    c.bound_lifetime(10s);
    c.send("GET /talk HTTP/1.1\r\nHost: shout.test\r\nUpgrade: shout/1\r\nConnection: Upgrade\r\n\r\n");
    EXPECT_TRUE(c.read_until("\r\n\r\n").starts_with("HTTP/1.1 101 "));
    for (int i = 0; i < 3; ++i) {
        std::this_thread::sleep_for(50ms);
        c.send("word " + std::to_string(i) + "\n");
        EXPECT_EQ(c.read_until("\n"), "WORD " + std::to_string(i) + "\n");
    }
    s_->remove("shout.yaml");
    s_->wait_for_generation_after(s_->generation());
}

TEST_F(tls_test, https_backends_with_verification_and_sni)
{
    auto r = http_get(s_->port(), "/x", "secure.test");
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.json()["service"], "secure");
    EXPECT_EQ(r.json()["sni"], "backend.internal") << "proxy-ssl-server-name sends proxy-ssl-name";
    // Pooled TLS connections are reused.
    double reuses = s_->metric("sluice_upstream_reuses_total");
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(http_get(s_->port(), "/x", "secure.test").status, 200u);
    EXPECT_GT(s_->metric("sluice_upstream_reuses_total"), reuses);
    // A body of many records to the upstream, over a pooled connection.
    fs::path body = *certs_ / "to-upstream.bin";
    run_command("head -c 1000000 /dev/urandom > '" + body.string() + "'");
    std::string sha = run_command("sha256sum < '" + body.string() + "' | cut -d' ' -f1");
    std::string echoed = run_command("curl -s -H 'Host: secure.test' -H 'Expect:' --data-binary @'" + body.string() +
                                     "' http://127.0.0.1:" + std::to_string(s_->port()) + "/up");
    auto echo = nlohmann::json::parse(echoed, nullptr, false);
    ASSERT_FALSE(echo.is_discarded()) << echoed;
    EXPECT_EQ(echo["body_bytes"], 1000000);
    EXPECT_EQ(echo["body_sha256"].get<std::string>() + "\n", sha);
    // A name the certificate does not carry fails verification: 502, never an unverified request.
    EXPECT_EQ(http_get(s_->port(), "/x", "wrong-name.test").status, 502u);
    // Without proxy-ssl-verify the upstream's certificate is not checked, and no SNI is sent.
    r = http_get(s_->port(), "/x", "unverified.test");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.json()["sni"], "");
}

TEST_F(tls_test, a_tls_upstream_connection_with_bytes_left_in_openssl_is_not_reused)
{
    // An HTTPS upstream that answers /extra with two responses, each its own TLS record, in one TCP
    // segment: sluice reads both records at once (read-ahead), so the second waits decrypted in
    // OpenSSL, not in the socket, where the pool's watch for readability cannot see it.
    asio::ssl::context server_ctx(asio::ssl::context::tls_server);
    server_ctx.use_certificate_chain_file((*certs_ / "backend.chain").string());
    server_ctx.use_private_key_file((*certs_ / "backend.key").string(), asio::ssl::context::pem);
    raw_server upstream([&](asio::ip::tcp::socket& sock) {
        asio::ssl::stream<asio::ip::tcp::socket&> tls(sock, server_ctx);
        boost::system::error_code ec;
        tls.handshake(asio::ssl::stream_base::server, ec);
        std::string in;
        while (!ec) {
            const size_t n = asio::read_until(tls, asio::dynamic_buffer(in), "\r\n\r\n", ec);
            if (ec)
                return;
            const std::string head = in.substr(0, n);
            in.erase(0, n);
            if (head.starts_with("GET /extra ")) {
                int on = 1, off = 0;
                ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_CORK, &on, sizeof on);
                asio::write(tls, asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")), ec);
                asio::write(tls, asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsmugg")), ec);
                ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_CORK, &off, sizeof off);
            } else {
                asio::write(tls, asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")), ec);
            }
        }
    });
    uint64_t g = s_->generation();
    s_->write("records.yaml", service_yaml("records", {upstream.port()}) + "---\n" +
                                  tls_ingress("records", {"records.test"}, "",
                                              "    nginx.ingress.kubernetes.io/backend-protocol: HTTPS\n", "records"));
    s_->wait_for_generation_after(g);

    http_connection c(s_->port());
    auto r = c.request("GET", "/extra", "records.test");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "ok");
    for (int i = 0; i < 3; ++i) {
        auto next = c.request("GET", "/next", "records.test");
        EXPECT_EQ(next.status, 200u);
        EXPECT_EQ(next.body, "ok") << "request " << i << " after /extra";
    }
    s_->remove("records.yaml");
    s_->wait_for_generation_after(s_->generation());
}

TEST_F(tls_test, configmap_restricts_protocols_and_reports_old_ones)
{
    sluice_instance s({"--configmap", "default/cfg"});
    s.write("class.yaml", ingress_class_yaml());
    s.write("svc.yaml", service_yaml("echo", {echo_->port()}));
    s.write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata:\n  ssl-protocols: TLSv1.3\n"
                       "  http-redirect-code: \"301\"\n  hsts-max-age: \"60\"\n  hsts-include-subdomains: \"false\"\n");
    s.write("secret.yaml", tls_secret_yaml("a-tls", file("a.chain"), file("a.key")));
    s.write("a.yaml", tls_ingress("a", {"a.test"}, "  - hosts: [a.test]\n    secretName: a-tls\n"));
    s.start();
    auto handshake = [&](const char* flag) {
        return run_command("(sleep 0.3) | openssl s_client -connect 127.0.0.1:" + std::to_string(s.https_port()) + " " +
                           flag + " -servername a.test 2>&1");
    };
    EXPECT_NE(handshake("-tls1_3").find("New, TLSv1.3"), std::string::npos);
    EXPECT_NE(handshake("-tls1_2").find("alert protocol version"), std::string::npos);
    auto r = http_get(s.port(), "/", "a.test");
    EXPECT_EQ(r.status, 301u) << "http-redirect-code";
    std::string out = run_command("curl -sk -i --resolve a.test:" + std::to_string(s.https_port()) +
                                  ":127.0.0.1 https://a.test:" + std::to_string(s.https_port()) + "/");
    EXPECT_NE(out.find("Strict-Transport-Security: max-age=60\r\n"), std::string::npos) << out;

    // An old protocol is refused with a diagnostic; the previous setting stays.
    uint64_t g = s.generation();
    s.write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata:\n  ssl-protocols: TLSv1.1 TLSv1.2\n");
    s.wait_for_generation_after(g);
    bool found = false;
    auto config = s.debug_config();
    for (const auto& d : config["diagnostics"])
        found = found || d["message"].get<std::string>().find("TLSv1.1 is not offered by sluice") != std::string::npos;
    EXPECT_TRUE(found);
    EXPECT_NE(handshake("-tls1_2").find("New, TLSv1.2"), std::string::npos) << "the default protocols apply";
}


// Idle TLS keep-alive connections are parked like plain ones, and an idle TLS connection costs
// little more than OpenSSL's own state of it (about 14 KiB). Asio's ssl::stream, which sluice
// used before, kept about 70 KiB of buffers per connection.
TEST_F(tls_test, idle_tls_connections_are_parked_with_bounded_memory_and_served_again)
{
    constexpr int n = 300;
    ASSERT_EQ(curl("a.test", "-o /dev/null -w '%{http_code}'"), "200");  // warm up
    const double parked_before = s_->metric("sluice_connections_parked");
    long before = s_->proc().memory_kib("VmRSS");
    std::vector<std::unique_ptr<https_connection>> conns;
    for (int i = 0; i < n; ++i) {
        conns.push_back(std::make_unique<https_connection>(s_->https_port(), "a.test"));
        ASSERT_EQ(conns.back()->get("/first", "a.test").status, 200u);
    }
    ASSERT_TRUE(wait_until([&] { return s_->metric("sluice_connections_parked") >= parked_before + n; }, 5s))
        << s_->metric("sluice_connections_parked");
    long after = s_->proc().memory_kib("VmRSS");
    double per_connection = static_cast<double>(after - before) * 1024 / n;
    std::printf("resident memory per idle TLS connection: %.0f bytes\n", per_connection);
    if (!sanitized_build) {
        EXPECT_LT(per_connection, 32 * 1024);
    }
    for (auto& c : conns) {
        response r = c->get("/second", "a.test");
        ASSERT_EQ(r.status, 200u);
        EXPECT_EQ(nlohmann::json::parse(r.body)["path"], "/second");
    }
}

TEST_F(tls_test, large_bodies_cross_tls_intact_both_ways_and_to_a_slow_reader)
{
    // An upstream answering 8 MiB of a pattern that shows any lost, repeated or reordered byte.
    const size_t total = 8u << 20;
    std::string body(total, '\0');
    for (size_t i = 0; i < total; ++i)
        body[i] = static_cast<char>((i * 7 + i / 65536) & 0xff);
    raw_server big([&](asio::ip::tcp::socket& socket) {
        asio::streambuf req;
        asio::read_until(socket, req, "\r\n\r\n");
        asio::write(socket, asio::buffer("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(total) + "\r\n\r\n"));
        boost::system::error_code ec;
        asio::write(socket, asio::buffer(body), ec);
    });
    uint64_t g = s_->generation();
    s_->write("big.yaml", service_yaml("big", {big.port()}) + "---\n" +
                              tls_ingress("big", {"big.test"}, "  - hosts: [big.test]\n    secretName: a-tls\n", "", "big") +
                              "---\n" +
                              tls_ingress("upload", {"upload.test"}, "  - hosts: [upload.test]\n    secretName: a-tls\n",
                                          "    nginx.ingress.kubernetes.io/proxy-body-size: 8m\n"));
    s_->wait_for_generation_after(g);

    // Up: 6 MiB through the echo backend, which reports the size and SHA-256 of what it read.
    fs::path upload = *certs_ / "upload.bin";
    run_command("head -c 6291456 /dev/urandom > '" + upload.string() + "'");
    std::string sha = run_command("sha256sum < '" + upload.string() + "' | cut -d' ' -f1");
    std::string echoed = run_command("curl -sk -H 'Expect:' --data-binary @'" + upload.string() + "' --resolve upload.test:" +
                                     std::to_string(s_->https_port()) + ":127.0.0.1 https://upload.test:" +
                                     std::to_string(s_->https_port()) + "/up");
    auto echo = nlohmann::json::parse(echoed, nullptr, false);
    ASSERT_FALSE(echo.is_discarded()) << echoed;
    EXPECT_EQ(echo["body_bytes"], 6291456);
    EXPECT_EQ(echo["body_sha256"].get<std::string>() + "\n", sha);

    // Down: the 8 MiB to curl reading at 4 MB/s, so that sluice's writes find the socket full
    // again and again.
    fs::path download = *certs_ / "download.bin";
    std::string code = run_command("curl -sk --limit-rate 4M -o '" + download.string() + "' -w '%{http_code}' --resolve big.test:" +
                                   std::to_string(s_->https_port()) + ":127.0.0.1 https://big.test:" +
                                   std::to_string(s_->https_port()) + "/big");
    EXPECT_EQ(code, "200");
    std::string got = read_file(download);
    EXPECT_EQ(got.size(), total);
    EXPECT_TRUE(got == body) << "the body arrived changed";
    g = s_->generation();
    s_->remove("big.yaml");
    s_->wait_for_generation_after(g);
}

TEST_F(tls_test, pipelined_requests_over_tls_are_answered_in_order)
{
    // Three requests in one record: after the first, the rest are already inside OpenSSL or
    // sluice's buffer, and must be served without waiting for the socket.
    https_connection c(s_->https_port(), "a.test");
    c.send("GET /one HTTP/1.1\r\nHost: a.test\r\n\r\n"
           "POST /two HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello"
           "GET /three HTTP/1.1\r\nHost: a.test\r\n\r\n");
    for (const char* path : {"/one", "/two", "/three"}) {
        response r = c.read_response();
        ASSERT_EQ(r.status, 200u) << path;
        EXPECT_EQ(nlohmann::json::parse(r.body)["path"], path);
    }
    EXPECT_EQ(c.get("/four", "a.test").status, 200u) << "the connection stays usable";
}

TEST_F(tls_test, websockets_over_tls_are_tunnelled_both_ways)
{
    namespace websocket = boost::beast::websocket;
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    websocket::stream<asio::ssl::stream<asio::ip::tcp::socket>> ws(io, ctx);
    SSL_set_tlsext_host_name(ws.next_layer().native_handle(), "a.test");
    boost::beast::get_lowest_layer(ws).connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), s_->https_port()));
    ws.next_layer().handshake(asio::ssl::stream_base::client);
    ws.handshake("a.test", "/chat");
    auto exchange = [&](const std::string& text) {
        ws.text(true);
        ws.write(asio::buffer(text));
        boost::beast::flat_buffer b;
        ws.read(b);
        return boost::beast::buffers_to_string(b.data());
    };
    EXPECT_EQ(exchange("hello"), "hello");
    std::string big(300 * 1024, 'w');
    for (size_t i = 0; i < big.size(); i += 97)
        big[i] = static_cast<char>('a' + i % 26);
    EXPECT_EQ(exchange(big), big) << "a message of many records, both ways";
    auto who = nlohmann::json::parse(exchange("whoami"));
    EXPECT_EQ(who["headers"]["x-forwarded-proto"][0], "https");
    ws.close(websocket::close_code::normal);
}

// An open tunnel holds a body buffer only while it moves bytes, over TLS too: OpenSSL's
// read-ahead may hold bytes the socket will not signal again, so the tunnel reads those first and
// waits for the socket only when OpenSSL has no complete record.
TEST_F(tls_test, idle_websockets_over_tls_hold_no_body_buffer)
{
    namespace websocket = boost::beast::websocket;
    using wss = websocket::stream<asio::ssl::stream<asio::ip::tcp::socket>>;
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    std::vector<std::unique_ptr<wss>> tunnels;
    auto exchange = [](wss& ws, const std::string& text) {
        ws.text(true);
        ws.write(asio::buffer(text));
        boost::beast::flat_buffer b;
        ws.read(b);
        return boost::beast::buffers_to_string(b.data());
    };
    std::string big(100 * 1024, 'b');
    for (size_t i = 0; i < big.size(); i += 89)
        big[i] = static_cast<char>('a' + i % 26);
    for (int i = 0; i < 20; ++i) {
        auto ws = std::make_unique<wss>(io, ctx);
        SSL_set_tlsext_host_name(ws->next_layer().native_handle(), "a.test");
        boost::beast::get_lowest_layer(*ws).connect(
            asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), s_->https_port()));
        ws->next_layer().handshake(asio::ssl::stream_base::client);
        ws->handshake("a.test", "/chat");
        ASSERT_EQ(exchange(*ws, i % 2 ? big : "small " + std::to_string(i)), i % 2 ? big : "small " + std::to_string(i));
        tunnels.push_back(std::move(ws));
    }
    EXPECT_GE(s_->metric("sluice_upgraded_connections_active"), 20);
    EXPECT_TRUE(wait_until([&] { return s_->metric("sluice_body_buffers_in_use") == 0; }, 5s))
        << s_->metric("sluice_body_buffers_in_use") << " buffers held by 20 idle tunnels";
    // Several messages written at once reach OpenSSL in one read; each still gets through.
    auto& ws = *tunnels.front();
    ws.text(true);
    for (int i = 0; i < 5; ++i)
        ws.write(asio::buffer("burst " + std::to_string(i)));
    for (int i = 0; i < 5; ++i) {
        boost::beast::flat_buffer b;
        ws.read(b);
        EXPECT_EQ(boost::beast::buffers_to_string(b.data()), "burst " + std::to_string(i));
    }
    for (auto& t : tunnels)
        EXPECT_EQ(exchange(*t, "again"), "again");
    for (auto& t : tunnels)
        t->close(websocket::close_code::normal);
}

}  // namespace
}  // namespace sluice::test
