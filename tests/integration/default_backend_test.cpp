// custom-http-errors, the default-backend annotation and --default-backend-service through the
// real binary, with sluice-echo as the error backend (it shows the headers it was sent).
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Answers every request on the connection with `status` and a short body.
raw_server::handler answer_with(int status)
{
    return [status](tcp::socket& s) {
        boost::system::error_code ec;
        asio::streambuf b;
        while (asio::read_until(s, b, "\r\n\r\n", ec)) {
            b.consume(b.size());
            std::string body = "from the upstream";
            std::string res = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
                              "\r\n\r\n" + body;
            asio::write(s, asio::buffer(res), ec);
            if (ec)
                return;
        }
    };
}

class default_backend_test : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        app_ = new echo_backend("app");
        errors_ = new echo_backend("errors");
        fallback_ = new echo_backend("fallback");
        not_found_ = new raw_server(answer_with(404));
        s_ = new sluice_instance({"--default-backend-service", "default/fallback", "--configmap", "default/cfg"});
        s_->write("class.yaml", ingress_class_yaml());
        s_->write("svc.yaml", service_yaml("app", {app_->port()}) + "---\n" + service_yaml("errors", {errors_->port()}) +
                                  "---\n" + service_yaml("fallback", {fallback_->port()}) + "---\n" +
                                  service_yaml("missing-page", {not_found_->port()}) + "---\n" +
                                  service_yaml("empty", {}) + "---\n" + service_yaml("dead", {closed_port()}));
        s_->write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata:\n  custom-http-errors: \"502\"\n");
        const std::string errors_annotations = "  annotations:\n"
                                               "    nginx.ingress.kubernetes.io/custom-http-errors: \"404,503\"\n"
                                               "    nginx.ingress.kubernetes.io/default-backend: errors\n";
        s_->write("ing.yaml",
                  ingress_yaml("shop", "shop.test", {{"/missing", "Prefix", "missing-page"}, {"/app", "Prefix", "app"},
                                                     {"/empty", "Prefix", "empty"}},
                               errors_annotations) +
                      "---\n" + ingress_yaml("plain", "plain.test", {{"/missing", "Prefix", "missing-page"}, {"/dead", "Prefix", "dead"}}) +
                      "---\n" +
                      ingress_yaml("own-page", "own.test", {{"/missing", "Prefix", "missing-page"}},
                                   "  annotations:\n    nginx.ingress.kubernetes.io/custom-http-errors: \"404\"\n"));
        s_->start();
    }
    static void TearDownTestSuite()
    {
        delete s_;
        delete not_found_;
        delete app_;
        delete errors_;
        delete fallback_;
    }
    static inline echo_backend* app_ = nullptr;
    static inline echo_backend* errors_ = nullptr;
    static inline echo_backend* fallback_ = nullptr;
    static inline raw_server* not_found_ = nullptr;
    static inline sluice_instance* s_ = nullptr;
};

TEST_F(default_backend_test, custom_errors_go_to_the_default_backend_annotation)
{
    http_connection c(s_->port());
    auto r = c.request("GET", "/missing/item?x=1", "shop.test", {{"Accept", "application/json"}});
    ASSERT_EQ(r.status, 200u) << "the error backend's answer, status included, as ingress-nginx";
    auto j = r.json();
    EXPECT_EQ(j["service"], "errors");
    EXPECT_EQ(j["path"], "/");
    EXPECT_EQ(j["method"], "GET");
    EXPECT_EQ(j["headers"]["x-code"][0], "404");
    EXPECT_EQ(j["headers"]["x-format"][0], "application/json");
    EXPECT_EQ(j["headers"]["x-original-uri"][0], "/missing/item?x=1");
    EXPECT_EQ(j["headers"]["x-namespace"][0], "default");
    EXPECT_EQ(j["headers"]["x-ingress-name"][0], "shop");
    EXPECT_EQ(j["headers"]["x-service-name"][0], "missing-page");
    EXPECT_EQ(j["headers"]["x-service-port"][0], "80");
    EXPECT_EQ(j["headers"]["host"][0], "shop.test");
    EXPECT_FALSE(j["headers"]["x-request-id"].empty());
    // The connection stays usable, and other statuses pass through.
    EXPECT_EQ(c.request("GET", "/app/ok", "shop.test").json()["service"], "app");
}

TEST_F(default_backend_test, no_endpoints_are_served_by_the_default_backend_annotation)
{
    auto r = http_get(s_->port(), "/empty/page", "shop.test");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.json()["service"], "errors");
    EXPECT_EQ(r.json()["path"], "/empty/page") << "the request as it is, not a custom error";
}

TEST_F(default_backend_test, configmap_errors_and_the_default_backend_service)
{
    // ConfigMap custom-http-errors 502: a dead endpoint's 502 goes to --default-backend-service.
    auto r = http_get(s_->port(), "/dead/x", "plain.test");
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.json()["service"], "fallback");
    EXPECT_EQ(r.json()["headers"]["x-code"][0], "502");
    // 404 is not in the ConfigMap's list: the upstream's answer passes.
    r = http_get(s_->port(), "/missing/x", "plain.test");
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(r.body, "from the upstream");
    // Unmatched hosts and paths go to the default backend, as they are.
    r = http_get(s_->port(), "/anything", "nobody.test");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.json()["service"], "fallback");
    EXPECT_EQ(r.json()["path"], "/anything");
    EXPECT_EQ(http_get(s_->port(), "/not-a-path", "plain.test").json()["service"], "fallback");
}

TEST_F(default_backend_test, location_list_replaces_the_configmap_list)
{
    // own.test lists 404 only; its error backend is the default backend service.
    auto r = http_get(s_->port(), "/missing/x", "own.test");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.json()["service"], "fallback");
    EXPECT_EQ(r.json()["headers"]["x-code"][0], "404");
}

TEST(custom_errors_without_backend, sluice_answers_with_its_own_page)
{
    raw_server not_found(answer_with(404));
    sluice_instance s;
    s.write("class.yaml", ingress_class_yaml());
    s.write("svc.yaml", service_yaml("missing-page", {not_found.port()}));
    s.write("ing.yaml", ingress_yaml("own", "own.test", {{"/", "Prefix", "missing-page"}},
                                     "  annotations:\n    nginx.ingress.kubernetes.io/custom-http-errors: \"404\"\n"));
    s.start();
    auto r = http_get(s.port(), "/x", "own.test");
    EXPECT_EQ(r.status, 404u);
    EXPECT_NE(r.body.find("404 Not Found"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("from the upstream"), std::string::npos);
}

}  // namespace
}  // namespace sluice::test
