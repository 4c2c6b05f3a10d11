#include "controller/yaml_to_json.hpp"

#include <charconv>
#include <cstdlib>

#include <yaml-cpp/yaml.h>

namespace sluice {
namespace {

using json = nlohmann::json;

// YAML 1.2 core schema resolution for plain (unquoted) scalars.
json plain_scalar(const std::string& s)
{
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL")
        return nullptr;
    if (s == "true" || s == "True" || s == "TRUE")
        return true;
    if (s == "false" || s == "False" || s == "FALSE")
        return false;
    const char* b = s.data();
    const char* e = s.data() + s.size();
    const char* digits = b + ((*b == '-' || *b == '+') ? 1 : 0);
    if (digits < e) {
        int64_t v = 0;
        auto [p, ec] = std::from_chars(digits, e, v);
        if (ec == std::errc() && p == e)
            return *b == '-' ? -v : v;
        if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
            auto [p2, ec2] = std::from_chars(b + 2, e, v, s[1] == 'x' ? 16 : 8);
            if (ec2 == std::errc() && p2 == e)
                return v;
        }
        bool looks_float = true;
        bool has_digit = false;
        for (const char* c = digits; c < e; ++c) {
            if (*c >= '0' && *c <= '9')
                has_digit = true;
            else if (*c != '.' && *c != 'e' && *c != 'E' && *c != '-' && *c != '+')
                looks_float = false;
        }
        if (looks_float && has_digit) {
            char* end = nullptr;
            double d = std::strtod(s.c_str(), &end);
            if (end == s.c_str() + s.size())
                return d;
        }
    }
    return s;
}

json to_json(const YAML::Node& node)
{
    switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
        return nullptr;
    case YAML::NodeType::Scalar:
        // Tag "!" marks a quoted scalar: always a string.
        if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str")
            return node.Scalar();
        return plain_scalar(node.Scalar());
    case YAML::NodeType::Sequence: {
        json out = json::array();
        for (const auto& item : node)
            out.push_back(to_json(item));
        return out;
    }
    case YAML::NodeType::Map: {
        json out = json::object();
        for (const auto& kv : node) {
            const YAML::Node& key = kv.first;
            if (!key.IsScalar())
                throw manifest_parse_error("map keys must be scalars", key.Mark().line + 1, key.Mark().column + 1);
            out[key.Scalar()] = to_json(kv.second);
        }
        return out;
    }
    }
    return nullptr;
}

void append_document(std::vector<manifest_document>& out, json object, int line, int column)
{
    if (object.is_null())
        return;
    if (object.is_object()) {
        auto kind = object.find("kind");
        auto items = object.find("items");
        if (kind != object.end() && kind->is_string() && *kind == "List" && items != object.end() && items->is_array()) {
            for (auto& item : *items)
                out.push_back({std::move(item), line, column});
            return;
        }
    }
    out.push_back({std::move(object), line, column});
}

std::pair<int, int> line_column_of(const std::string& text, size_t byte)
{
    int line = 1;
    int column = 1;
    for (size_t i = 0; i < byte && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return {line, column};
}

}  // namespace

std::vector<manifest_document> parse_manifest_text(const std::string& text, bool is_json)
{
    std::vector<manifest_document> out;
    if (is_json) {
        try {
            append_document(out, json::parse(text), 1, 1);
        } catch (const json::parse_error& e) {
            auto [line, column] = line_column_of(text, e.byte > 0 ? e.byte - 1 : 0);
            std::string what = e.what();
            // nlohmann prefixes "[json.exception.parse_error.101] parse error at line L, column C: "
            if (auto colon = what.find(": "); colon != std::string::npos)
                what = what.substr(colon + 2);
            throw manifest_parse_error(what, line, column);
        }
        return out;
    }
    try {
        for (const YAML::Node& doc : YAML::LoadAll(text)) {
            YAML::Mark mark = doc.Mark();
            append_document(out, to_json(doc), mark.line + 1, mark.column + 1);
        }
    } catch (const YAML::Exception& e) {
        throw manifest_parse_error(e.msg, e.mark.line + 1, e.mark.column + 1);
    }
    return out;
}

}  // namespace sluice
