#pragma once
// Reads an object's annotations under the configured prefix, with ingress-nginx's value rules
// (Go strconv booleans and integers, nginx sizes, its validator character sets). Every parser
// gets a typed value or tells apart: absent, invalid (ignored, default kept) and refused.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::annotations {

enum class value_state { absent, valid, invalid, refused };

template <class T>
struct parsed {
    value_state state = value_state::absent;
    T value{};
    bool ok() const { return state == value_state::valid; }
};

// One diagnostic about one annotation: key is the full name with prefix.
struct annotation_diagnostic {
    std::string key;
    std::string message;
};

class annotation_reader {
public:
    annotation_reader(const std::map<std::string, std::string>& annotations, std::string_view prefix);

    // The raw value of prefix/name; empty values count as absent (ingress-nginx skips them).
    std::optional<std::string_view> raw(std::string_view name);

    parsed<std::string> string(std::string_view name, bool (*valid)(std::string_view), const char* expected);
    parsed<bool> boolean(std::string_view name);
    parsed<int64_t> integer(std::string_view name);
    parsed<uint64_t> size(std::string_view name);

    // Records that prefix/name is refused (never interpreted).
    void refuse(std::string_view name, const std::string& why);
    void invalid(std::string_view name, const std::string& why);

    std::string full_name(std::string_view name) const;
    // Keys under the prefix that no parser asked for.
    std::vector<std::string> unread() const;
    std::vector<annotation_diagnostic>& diagnostics() { return diagnostics_; }

private:
    const std::map<std::string, std::string>& annotations_;
    std::string prefix_;  // with the trailing '/'
    std::set<std::string, std::less<>> read_;
    std::vector<annotation_diagnostic> diagnostics_;
};

// Non-empty, and every character a letter, a digit or one of `extra`.
bool only_chars(std::string_view s, std::string_view extra);

// ingress-nginx's validator character sets (internal/ingress/annotations/parser/validators.go).
bool is_path_with_capture(std::string_view s);      // ^/?[-._~a-zA-Z0-9/:$]*$
bool is_url_with_variables(std::string_view s);     // ^[-._~a-zA-Z0-9/:, ?&=$]*$
bool is_host_with_port(std::string_view s);         // host names and host:port

std::optional<bool> parse_go_bool(std::string_view s);

}  // namespace sluice::annotations
