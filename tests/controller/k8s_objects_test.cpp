#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "controller/k8s_objects.hpp"

namespace sluice::k8s {
namespace {

using json = nlohmann::json;

json ingress_with_path(json path)
{
    return json{{"kind", "Ingress"},
                {"metadata", {{"name", "web"}}},
                {"spec", {{"rules", json::array({{{"host", "a.com"}, {"http", {{"paths", json::array({path})}}}}})}}}};
}

std::string decode_error_field(const json& obj)
{
    try {
        decode_ingress(obj);
    } catch (const decode_error& e) {
        return e.field + ": " + e.what();
    }
    return "";
}

TEST(k8s_objects, ingress_decodes_with_defaults)
{
    auto ing = decode_ingress(ingress_with_path(
        {{"path", "/x"}, {"pathType", "Prefix"}, {"backend", {{"service", {{"name", "s"}, {"port", {{"name", "http"}}}}}}}}));
    EXPECT_EQ(ing.meta.ns, "default");
    ASSERT_EQ(ing.rules.size(), 1u);
    EXPECT_EQ(ing.rules[0].paths[0].type, path_type::prefix);
    EXPECT_EQ(ing.rules[0].paths[0].backend.service_port.name, "http");
}

TEST(k8s_objects, ingress_errors_name_the_field)
{
    json svc = {{"service", {{"name", "s"}, {"port", {{"number", 80}}}}}};
    EXPECT_EQ(decode_error_field(ingress_with_path({{"path", "/"}, {"pathType", "Bogus"}, {"backend", svc}})),
              "spec.rules[0].http.paths[0].pathType: must be Exact, Prefix or ImplementationSpecific, not \"Bogus\"");
    EXPECT_EQ(decode_error_field(ingress_with_path({{"path", "/"}, {"backend", svc}})),
              "spec.rules[0].http.paths[0]: pathType is required");
    json bad_port = {{"service", {{"name", "s"}, {"port", {{"number", 70000}}}}}};
    EXPECT_EQ(decode_error_field(ingress_with_path({{"path", "/"}, {"pathType", "Exact"}, {"backend", bad_port}})),
              "spec.rules[0].http.paths[0].backend.service.port.number: must be between 1 and 65535");
    json both = {{"service", {{"name", "s"}, {"port", {{"number", 80}, {"name", "x"}}}}}};
    EXPECT_NE(decode_error_field(ingress_with_path({{"path", "/"}, {"pathType", "Exact"}, {"backend", both}})), "");
    EXPECT_EQ(decode_error_field(json{{"kind", "Ingress"}, {"metadata", {{"namespace", "x"}}}}), "metadata: name is required");
}

TEST(k8s_objects, secret_merges_string_data_over_base64_data)
{
    auto obj = decode(kind::secret, json{{"metadata", {{"name", "s"}}},
                                         {"data", {{"a", "aGVsbG8="}, {"b", "Ym9i"}}},
                                         {"stringData", {{"b", "plain"}}}});
    const auto& s = std::get<secret>(obj);
    EXPECT_EQ(s.data.at("a"), "hello");
    EXPECT_EQ(s.data.at("b"), "plain");
    EXPECT_THROW(decode(kind::secret, json{{"metadata", {{"name", "s"}}}, {"data", {{"a", "!!!"}}}}), decode_error);
}

TEST(k8s_objects, endpoint_slice_conditions)
{
    auto es = decode_endpoint_slice(json{
        {"metadata", {{"name", "e"}, {"labels", {{"kubernetes.io/service-name", "svc"}}}}},
        {"addressType", "IPv4"},
        {"ports", json::array({{{"name", "http"}, {"port", 8080}}})},
        {"endpoints", json::array({{{"addresses", {"10.0.0.1"}}, {"conditions", {{"ready", false}}}},
                                   {{"addresses", {"10.0.0.2"}}}})}});
    EXPECT_EQ(es.service_name, "svc");
    ASSERT_EQ(es.endpoints.size(), 2u);
    EXPECT_EQ(es.endpoints[0].ready, false);
    EXPECT_FALSE(es.endpoints[1].ready.has_value());
}

TEST(k8s_objects, base64)
{
    std::string out;
    EXPECT_TRUE(base64_decode("aGk=", out));
    EXPECT_EQ(out, "hi");
    EXPECT_TRUE(base64_decode("aGVs\nbG8=", out));
    EXPECT_EQ(out, "hello");
    EXPECT_FALSE(base64_decode("a=b", out));
    EXPECT_FALSE(base64_decode("*", out));
}

}  // namespace
}  // namespace sluice::k8s
