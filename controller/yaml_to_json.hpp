#pragma once
// Manifest files to JSON documents. YAML (multi-document) and JSON files both become the JSON
// form the Kubernetes API serves, so one decoder handles every source.
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice {

struct manifest_document {
    nlohmann::json object;
    int line = 0;  // 1-based position of the document (or List item) in its file
    int column = 0;
};

// A file that does not parse: line and column are 1-based.
struct manifest_parse_error : std::runtime_error {
    int line;
    int column;
    manifest_parse_error(const std::string& what, int l, int c) : std::runtime_error(what), line(l), column(c) {}
};

// Parses `text` as YAML (or JSON when `is_json`). Empty documents are skipped; `kind: List`
// documents are flattened into their items. Throws manifest_parse_error.
std::vector<manifest_document> parse_manifest_text(const std::string& text, bool is_json);

}  // namespace sluice
