#include <gtest/gtest.h>

#include "controller/yaml_to_json.hpp"

namespace sluice {
namespace {

TEST(yaml_to_json, multi_document_with_positions_and_types)
{
    auto docs = parse_manifest_text("a: 1\nb: \"2\"\nc: true\nd: 'x'\ne: ~\nf: 1.5\ng: 0x10\n---\n# comment only\n---\n"
                                    "kind: Service\nlist: [1, two]\n",
                                    false);
    ASSERT_EQ(docs.size(), 2u);
    EXPECT_EQ(docs[0].object["a"], 1);
    EXPECT_EQ(docs[0].object["b"], "2");
    EXPECT_EQ(docs[0].object["c"], true);
    EXPECT_EQ(docs[0].object["d"], "x");
    EXPECT_TRUE(docs[0].object["e"].is_null());
    EXPECT_EQ(docs[0].object["f"], 1.5);
    EXPECT_EQ(docs[0].object["g"], 16);
    EXPECT_EQ(docs[1].object["kind"], "Service");
    EXPECT_EQ(docs[1].object["list"][1], "two");
    EXPECT_EQ(docs[0].line, 1);
    EXPECT_EQ(docs[1].line, 11);
}

TEST(yaml_to_json, list_kind_is_flattened)
{
    auto docs = parse_manifest_text("kind: List\nitems:\n- kind: Service\n- kind: Secret\n", false);
    ASSERT_EQ(docs.size(), 2u);
    EXPECT_EQ(docs[1].object["kind"], "Secret");
}

TEST(yaml_to_json, yaml_error_names_line_and_column)
{
    try {
        parse_manifest_text("a: 1\nb: [unclosed\nc: 2\n", false);
        FAIL() << "expected a parse error";
    } catch (const manifest_parse_error& e) {
        EXPECT_GE(e.line, 2);
        EXPECT_GE(e.column, 1);
        EXPECT_FALSE(std::string(e.what()).empty());
    }
}

TEST(yaml_to_json, json_files_and_json_errors)
{
    auto docs = parse_manifest_text("{\"kind\": \"Service\", \"n\": 80}", true);
    ASSERT_EQ(docs.size(), 1u);
    EXPECT_EQ(docs[0].object["n"], 80);
    try {
        parse_manifest_text("{\n  \"kind\": \"Service\",\n  \"n\": }\n", true);
        FAIL() << "expected a parse error";
    } catch (const manifest_parse_error& e) {
        EXPECT_EQ(e.line, 3);
        EXPECT_EQ(std::string(e.what()).find("json.exception"), std::string::npos) << e.what();
        EXPECT_EQ(std::string(e.what()).find("parse error"), std::string::npos) << e.what();
    }
}

// Found by the manifest fuzzer: nlohmann's parser throws out_of_range, not parse_error, for a
// number beyond a double's range, which escaped the manifest source and stopped the process.
TEST(yaml_to_json, numbers_beyond_a_double_are_errors_with_their_position)
{
    try {
        parse_manifest_text("{\"kind\": \"Service\",\n \"spec\": {\"ports\": [{\"port\": 1e400}]}}\n", true);
        FAIL() << "expected a parse error";
    } catch (const manifest_parse_error& e) {
        EXPECT_EQ(e.line, 2);
        EXPECT_EQ(e.column, 34);  // the last character of the number
        EXPECT_NE(std::string(e.what()).find("1e400"), std::string::npos) << e.what();
        EXPECT_EQ(std::string(e.what()).find("json.exception"), std::string::npos) << e.what();
    }
    try {
        parse_manifest_text("kind: Service\nspec:\n  ports: [{port: -1e400}]\n", false);
        FAIL() << "expected a parse error";
    } catch (const manifest_parse_error& e) {
        EXPECT_EQ(e.line, 3);
        EXPECT_EQ(e.column, 18);
        EXPECT_EQ(std::string(e.what()), "number out of range: -1e400");
    }
    // Underflow is zero, as in Go's parsers; quoted, it is a string.
    auto docs = parse_manifest_text("a: 1e-400\nb: '1e400'\n", false);
    ASSERT_EQ(docs.size(), 1u);
    EXPECT_EQ(docs[0].object["a"], 0.0);
    EXPECT_EQ(docs[0].object["b"], "1e400");
    docs = parse_manifest_text("{\"a\": 1e-400}", true);
    ASSERT_EQ(docs.size(), 1u);
    EXPECT_EQ(docs[0].object["a"], 0.0);
}

// yaml-cpp passes bytes through; the API server (and kubectl) would refuse text that is not UTF-8.
TEST(yaml_to_json, scalars_that_are_not_utf8_are_errors_with_their_position)
{
    for (const char* text : {"a: \"x\xff\"\n", "a:\n  b: x\xc0\xaf\n", "a: [ok, \"\xed\xa0\x80\"]\n",
                             "\xf4\x90\x80\x80: v\n", "a: \xe2\x82\n"}) {
        try {
            parse_manifest_text(text, false);
            ADD_FAILURE() << "expected an error for " << testing::PrintToString(std::string(text));
        } catch (const manifest_parse_error& e) {
            EXPECT_EQ(std::string(e.what()), "not valid UTF-8");
            EXPECT_GE(e.line, 1);
        }
    }
    try {
        parse_manifest_text("a: 1\nb:\n  c: \"\xff\"\n", false);
        ADD_FAILURE() << "expected an error";
    } catch (const manifest_parse_error& e) {
        EXPECT_EQ(e.line, 3);
        EXPECT_EQ(e.column, 6);
    }
    // Two-, three- and four-byte characters, and escapes that name code points, are text.
    auto docs = parse_manifest_text("a: \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80 \\xff\"\n", false);
    ASSERT_EQ(docs.size(), 1u);
    EXPECT_EQ(docs[0].object["a"], "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80 \xc3\xbf");
}

// Found by the manifest fuzzer: yaml-cpp's LoadAll never returns on a stray flow indicator.
TEST(yaml_to_json, stray_flow_indicator_is_an_error_not_a_hang)
{
    for (const char* text : {",", "a: 1\n---\n,\n", "]"}) {
        try {
            parse_manifest_text(text, false);
            FAIL() << "expected a parse error for " << text;
        } catch (const manifest_parse_error& e) {
            EXPECT_GE(e.line, 1) << text;
        }
    }
}

TEST(yaml_to_json, aliases_expand_and_alias_bombs_are_refused)
{
    auto docs = parse_manifest_text("a: &x {k: [1, 'two']}\nb: *x\n0x10: &y v\n*y : w\n", false);
    ASSERT_EQ(docs.size(), 1u);
    EXPECT_EQ(docs[0].object["b"], docs[0].object["a"]);
    EXPECT_EQ(docs[0].object["b"]["k"][1], "two");
    EXPECT_EQ(docs[0].object["0x10"], "v");  // keys are the text as written
    EXPECT_EQ(docs[0].object["v"], "w");

    std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
    for (char c = 'b'; c <= 'h'; ++c) {
        std::string prev(1, static_cast<char>(c - 1));
        bomb += std::string(1, c) + ": &" + c + " [";
        for (int i = 0; i < 10; ++i)
            bomb += (i ? ", *" : "*") + prev;
        bomb += "]\n";
    }
    try {
        parse_manifest_text(bomb, false);
        FAIL() << "expected the alias bomb to be refused";
    } catch (const manifest_parse_error& e) {
        EXPECT_NE(std::string(e.what()).find("too many values"), std::string::npos);
    }
}

TEST(yaml_to_json, empty_file_has_no_documents)
{
    EXPECT_TRUE(parse_manifest_text("", false).empty());
    EXPECT_TRUE(parse_manifest_text("---\n---\n", false).empty());
}

}  // namespace
}  // namespace sluice
