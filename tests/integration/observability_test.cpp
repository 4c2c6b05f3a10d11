// Metrics after known traffic, access-log lines parsed back, and ConfigMap changes applied live
// (log format, forwarded headers), through the real binary.
#include <filesystem>
#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> read_lines(const fs::path& p)
{
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

// The value of the first metric line that starts with `name{` and contains every one of `labels`.
double metric_value(const std::string& text, const std::string& name, const std::vector<std::string>& labels)
{
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(name + "{", 0) != 0)
            continue;
        bool all = true;
        for (const auto& l : labels)
            all = all && line.find(l) != std::string::npos;
        if (all)
            return std::stod(line.substr(line.rfind(' ') + 1));
    }
    return -1;
}

class observability_test : public ::testing::Test {
protected:
    void SetUp() override
    {
        log_path_ = fs::temp_directory_path() / ("sluice-access-" + std::to_string(getpid()) + "-" +
                                                 ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".log");
        fs::remove(log_path_);
        s_ = std::make_unique<sluice_instance>(std::vector<std::string>{"--access-log", log_path_.string(), "--configmap", "default/cfg"});
        s_->write("class.yaml", ingress_class_yaml());
        s_->write("svc.yaml", service_yaml("echo", {echo_.port()}));
        s_->write("ing.yaml", ingress_yaml("web", "m.test", {{"/api", "Prefix", "echo", 80}}));
        s_->write("quiet.yaml", ingress_yaml("quiet", "quiet.test", {{"/", "Prefix", "echo", 80}},
                                             "  annotations:\n    nginx.ingress.kubernetes.io/enable-access-log: \"false\"\n"));
    }
    void TearDown() override
    {
        s_.reset();
        fs::remove(log_path_);
    }
    std::vector<std::string> wait_for_lines(size_t n)
    {
        std::vector<std::string> lines;
        wait_until([&] { return (lines = read_lines(log_path_)).size() >= n; });
        return lines;
    }
    void set_configmap(const std::string& data)
    {
        uint64_t g = s_->generation();
        s_->write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata:\n" + data);
        s_->wait_for_generation_after(g);
    }
    echo_backend echo_{"echo"};
    fs::path log_path_;
    std::unique_ptr<sluice_instance> s_;
};

TEST_F(observability_test, request_metrics_count_known_traffic)
{
    s_->start();
    uint64_t bytes_200 = 0;
    for (int i = 0; i < 3; ++i) {
        http_connection c(s_->port());
        auto r = c.request("GET", "/api/x" + std::to_string(i), "m.test");
        ASSERT_EQ(r.status, 200u);
    }
    {
        http_connection c(s_->port());
        EXPECT_EQ(c.request("POST", "/api/post", "m.test", {}, "hello").status, 200u);
        EXPECT_EQ(c.request("GET", "/elsewhere", "m.test").status, 404u);
    }
    (void)bytes_200;
    const std::vector<std::string> api{"host=\"m.test\"", "ingress=\"web\"", "namespace=\"default\"", "path=\"/api\"",
                                       "service=\"echo\""};
    auto with = [&](std::vector<std::string> extra) {
        extra.insert(extra.end(), api.begin(), api.end());
        return extra;
    };
    // A request is counted just after its response is written: wait for the last one.
    std::string text;
    wait_until([&] {
        text = http_get(s_->status_port(), "/metrics", "localhost").body;
        return metric_value(text, "nginx_ingress_controller_requests", {"host=\"m.test\"", "status=\"404\""}) == 1 &&
               metric_value(text, "nginx_ingress_controller_requests", with({"method=\"POST\""})) == 1;
    });
    EXPECT_EQ(metric_value(text, "nginx_ingress_controller_requests", with({"method=\"GET\"", "status=\"200\""})), 3) << text;
    EXPECT_EQ(metric_value(text, "nginx_ingress_controller_requests", with({"method=\"POST\"", "status=\"200\""})), 1);
    EXPECT_EQ(metric_value(text, "nginx_ingress_controller_request_duration_seconds_count",
                           with({"method=\"GET\"", "status=\"200\""})), 3);
    EXPECT_EQ(metric_value(text, "nginx_ingress_controller_request_duration_seconds_bucket",
                           with({"method=\"GET\"", "status=\"200\"", "le=\"+Inf\""})), 3);
    EXPECT_GT(metric_value(text, "nginx_ingress_controller_response_size_sum", with({"method=\"GET\"", "status=\"200\""})), 300);
    EXPECT_EQ(metric_value(text, "nginx_ingress_controller_response_duration_seconds_count",
                           with({"method=\"GET\"", "status=\"200\""})), 3) << "time on the upstream";
    EXPECT_EQ(metric_value(text, "nginx_ingress_controller_response_duration_seconds_count", {"status=\"404\""}), -1)
        << "no upstream answered the 404";
    // The 404 from the host's fallback has the host's labels and no service.
    EXPECT_EQ(metric_value(text, "nginx_ingress_controller_requests", {"host=\"m.test\"", "status=\"404\"", "service=\"\""}), 1);
    EXPECT_EQ(s_->metric("nginx_ingress_controller_config_last_reload_successful"), 1);
    EXPECT_GE(s_->metric("sluice_requests_total"), 5);
    EXPECT_EQ(s_->metric("sluice_access_log_dropped_total"), 0);
}

TEST_F(observability_test, access_log_lines_in_ingress_nginx_format)
{
    s_->start();
    http_connection c(s_->port());
    auto r = c.request("GET", "/api/v1?q=1", "m.test",
                       {{"Referer", "http://ref/\"quoted\""}, {"User-Agent", "tester/1.0"}, {"Authorization", "Basic " + base64_encode("alice:pw")}});
    ASSERT_EQ(r.status, 200u);
    std::string request_id = r.json()["headers"]["x-request-id"][0];
    EXPECT_EQ(c.request("GET", "/", "quiet.test").status, 200u);  // enable-access-log: false
    EXPECT_EQ(c.request("GET", "/nothing", "m.test").status, 404u);
    auto lines = wait_for_lines(2);
    ASSERT_EQ(lines.size(), 2u) << "the quiet Ingress is not logged";
    std::smatch m;
    std::regex format(R"re(^(\S+) - (\S+) \[(\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "([^"]*)" (\d+) (\d+) "([^"]*)" "([^"]*)" (\d+) (\d+\.\d{3}) \[(\S*)\] \[(\S*)\] (\S+) (\S+) (\S+) (\S+) (\S+)$)re");
    ASSERT_TRUE(std::regex_match(lines[0], m, format)) << lines[0];
    EXPECT_EQ(m[1], "127.0.0.1");
    EXPECT_EQ(m[2], "alice") << "$remote_user from any Basic header, as nginx";
    EXPECT_EQ(m[4], "GET /api/v1?q=1 HTTP/1.1");
    EXPECT_EQ(m[5], "200");
    EXPECT_EQ(std::stoul(m[6]), r.body.size()) << "$body_bytes_sent";
    EXPECT_EQ(m[7], "http://ref/\\x22quoted\\x22") << "nginx's default escaping";
    EXPECT_EQ(m[8], "tester/1.0");
    EXPECT_GT(std::stoul(m[9]), 60u) << "$request_length counts the header";
    EXPECT_EQ(m[11], "default-echo-80") << "$proxy_upstream_name";
    EXPECT_EQ(m[12], "");
    EXPECT_EQ(m[13], "127.0.0.1:" + std::to_string(echo_.port()));
    EXPECT_EQ(std::stoul(m[14]), r.body.size()) << "$upstream_response_length";
    EXPECT_EQ(m[16], "200");
    EXPECT_EQ(m[17], request_id) << "$req_id is the X-Request-ID the upstream saw";

    ASSERT_TRUE(std::regex_match(lines[1], m, format)) << lines[1];
    EXPECT_EQ(m[4], "GET /nothing HTTP/1.1");
    EXPECT_EQ(m[5], "404");
    EXPECT_EQ(m[11], "upstream-default-backend");
    EXPECT_EQ(m[13], "-") << "no upstream was asked";
}

TEST_F(observability_test, json_log_format_and_live_configmap_changes)
{
    s_->start();
    set_configmap("  log-format-escape-json: \"true\"\n"
                  "  log-format-upstream: '{\"time\": \"$time_iso8601\", \"status\": $status, \"uri\": \"$request_uri\", "
                  "\"ua\": \"$http_user_agent\", \"upstream\": \"$upstream_addr\", \"ingress\": \"$namespace/$ingress_name\", "
                  "\"service\": \"$service_name\", \"path\": \"$location_path\", \"remote\": \"$remote_addr\"}'\n");
    http_connection c(s_->port());
    ASSERT_EQ(c.request("GET", "/api/json", "m.test", {{"User-Agent", "quote\" and \\ backslash"}}).status, 200u);
    auto lines = wait_for_lines(1);
    ASSERT_EQ(lines.size(), 1u);
    auto j = nlohmann::json::parse(lines[0]);  // throws, and fails the test, if the escaping is wrong
    EXPECT_EQ(j["status"], 200);
    EXPECT_EQ(j["uri"], "/api/json");
    EXPECT_EQ(j["ua"], "quote\" and \\ backslash");
    EXPECT_EQ(j["upstream"], "127.0.0.1:" + std::to_string(echo_.port()));
    EXPECT_EQ(j["ingress"], "default/web");
    EXPECT_EQ(j["service"], "echo");
    EXPECT_EQ(j["path"], "/api");
    EXPECT_TRUE(std::regex_match(j["time"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d)")));

    // use-forwarded-headers, applied live: the client address comes from X-Forwarded-For and the
    // scheme from X-Forwarded-Proto.
    set_configmap("  log-format-upstream: '$remote_addr $status'\n  use-forwarded-headers: \"true\"\n");
    auto r = c.request("GET", "/api/fwd", "m.test", {{"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-Proto", "https"}});
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.json()["headers"]["x-real-ip"][0], "203.0.113.9");
    EXPECT_EQ(r.json()["headers"]["x-forwarded-proto"][0], "https");
    lines = wait_for_lines(2);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[1], "203.0.113.9 200");

    // A format with an unknown variable is a diagnostic; the default format applies.
    set_configmap("  log-format-upstream: '$remote_addr $no_such_thing'\n  disable-access-log: \"false\"\n");
    auto config = s_->debug_config();
    bool found = false;
    for (const auto& d : config["diagnostics"])
        found = found || d["message"].get<std::string>().find("unknown variable $no_such_thing") != std::string::npos;
    EXPECT_TRUE(found);
    ASSERT_EQ(c.request("GET", "/api/default", "m.test").status, 200u);
    lines = wait_for_lines(3);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_NE(lines[2].find("\"GET /api/default HTTP/1.1\" 200"), std::string::npos) << lines[2];

    // disable-access-log turns every line off.
    set_configmap("  disable-access-log: \"true\"\n");
    ASSERT_EQ(c.request("GET", "/api/silent", "m.test").status, 200u);
    ASSERT_EQ(c.request("GET", "/api/silent2", "m.test").status, 200u);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // two writer periods
    EXPECT_EQ(read_lines(log_path_).size(), 3u);
}

}  // namespace
}  // namespace sluice::test
