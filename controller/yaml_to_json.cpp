#include "controller/yaml_to_json.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include <map>
#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace sluice {
namespace {

using json = nlohmann::json;

// Whether `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s)
{
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t n = 0;
        uint32_t cp = 0, min = 0;
        if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        for (size_t k = 1; k <= n; ++k) {
            if (i + k >= s.size())
                return false;
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

// YAML 1.2 core schema resolution for plain (unquoted) scalars. A float beyond a double's range
// ("1e400") is an error at `mark`, as in JSON files and as kubectl's conversion has it.
json plain_scalar(const std::string& s, const YAML::Mark& mark)
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
            if (end == s.c_str() + s.size()) {
                if (std::isinf(d))
                    throw manifest_parse_error("number out of range: " + s, mark.line + 1, mark.column + 1);
                return d;
            }
        }
    }
    return s;
}

// Builds JSON straight from the parser's events. yaml-cpp's YAML::LoadAll loops forever on some
// malformed input (a file holding only "," yields an empty document at the same place without
// end), so documents are read one at a time here, and one that starts where the previous one
// started is an error. Aliases are expanded; the values they add are counted, so a small file of
// nested aliases ("billion laughs") is refused instead of exhausting memory.
class json_builder final : public YAML::EventHandler {
public:
    static constexpr size_t max_values = 1'000'000;

    struct document {
        json value;
        YAML::Mark mark;
    };

    // The next document, or false at the end of the stream. Throws manifest_parse_error.
    bool next(YAML::Parser& parser, document& out)
    {
        root_ = nullptr;
        have_root_ = false;
        if (!parser.HandleNextDocument(*this))
            return false;
        out.value = std::move(root_);
        out.mark = root_mark_;
        return true;
    }

    void OnDocumentStart(const YAML::Mark& mark) override
    {
        if (started_ && mark.pos <= last_start_)
            throw manifest_parse_error("unexpected character", mark.line + 1, mark.column + 1);
        started_ = true;
        last_start_ = mark.pos;
        anchors_.clear();
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { add(mark, nullptr, anchor, 1, nullptr); }
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override
    {
        auto it = anchors_.find(anchor);
        if (it == anchors_.end())
            throw manifest_parse_error("unknown alias", mark.line + 1, mark.column + 1);
        add(mark, it->second.value, 0, it->second.count, it->second.is_scalar ? &it->second.raw : nullptr);
    }
    void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor, const std::string& value) override
    {
        // YAML is Unicode text, and the API server would refuse anything else: a key or value that
        // is not UTF-8 is an error here, not bytes passed on to headers and logs.
        if (!valid_utf8(value))
            throw manifest_parse_error("not valid UTF-8", mark.line + 1, mark.column + 1);
        // Tag "!" marks a quoted scalar: always a string.
        bool string = tag == "!" || tag == "tag:yaml.org,2002:str";
        add(mark, string ? json(value) : plain_scalar(value, mark), anchor, 1, &value);
    }
    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override
    {
        open(mark, json::array(), anchor);
    }
    void OnSequenceEnd() override { close(); }
    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override
    {
        open(mark, json::object(), anchor);
    }
    void OnMapEnd() override { close(); }

private:
    struct frame {
        json value;
        YAML::Mark mark;
        YAML::anchor_t anchor = 0;
        size_t count = 1;        // values inside, itself included
        bool key_next = true;    // maps: the next event is a key
        std::string key;
    };
    struct anchored {
        json value;
        size_t count = 1;
        bool is_scalar = false;
        std::string raw;  // a scalar's text, for use as a map key
    };

    void open(const YAML::Mark& mark, json value, YAML::anchor_t anchor)
    {
        if (!stack_.empty() && stack_.back().value.is_object() && stack_.back().key_next)
            throw manifest_parse_error("map keys must be scalars", mark.line + 1, mark.column + 1);
        frame f;
        f.value = std::move(value);
        f.mark = mark;
        f.anchor = anchor;
        stack_.push_back(std::move(f));
    }
    void close()
    {
        frame f = std::move(stack_.back());
        stack_.pop_back();
        total_ -= f.count;  // add() counts it again, with what it holds
        add(f.mark, std::move(f.value), f.anchor, f.count, nullptr);
    }
    // `raw`: a scalar's text as written (map keys are that text, not its resolved value).
    void add(const YAML::Mark& mark, json value, YAML::anchor_t anchor, size_t count, const std::string* raw)
    {
        total_ += count;
        if (total_ > max_values)
            throw manifest_parse_error("too many values (aliases expand to more than a million)", mark.line + 1,
                                       mark.column + 1);
        if (anchor)
            anchors_[anchor] = {value, count, raw != nullptr, raw ? *raw : std::string()};
        if (stack_.empty()) {
            root_ = std::move(value);
            root_mark_ = mark;
            have_root_ = true;
            return;
        }
        frame& parent = stack_.back();
        parent.count += count;
        if (parent.value.is_array()) {
            parent.value.push_back(std::move(value));
        } else if (parent.key_next) {
            if (!raw)
                throw manifest_parse_error("map keys must be scalars", mark.line + 1, mark.column + 1);
            parent.key = *raw;
            parent.key_next = false;
        } else {
            parent.value[parent.key] = std::move(value);
            parent.key_next = true;
        }
    }

    std::vector<frame> stack_;
    std::map<YAML::anchor_t, anchored> anchors_;
    json root_;
    YAML::Mark root_mark_;
    bool have_root_ = false;
    bool started_ = false;
    int last_start_ = 0;
    size_t total_ = 0;
};

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

// nlohmann's DOM parser that keeps where parsing failed instead of throwing. json::parse reports
// a position only for syntax errors; a number too large for a double ("1e400") throws
// out_of_range without one.
class located_json_parser final : public nlohmann::detail::json_sax_dom_parser<json> {
public:
    explicit located_json_parser(json& root) : json_sax_dom_parser(root, false) {}

    template <class Exception>
    bool parse_error(size_t byte, const std::string&, const Exception& e)
    {
        error_byte = byte;
        error = e.what();
        // nlohmann prefixes "[json.exception.parse_error.101] parse error at line L, column C: "
        if (auto bracket = error.find("] "); error.starts_with("[json.exception.") && bracket != std::string::npos)
            error.erase(0, bracket + 2);
        if (auto colon = error.find(": "); error.starts_with("parse error") && colon != std::string::npos)
            error.erase(0, colon + 2);
        return false;
    }

    size_t error_byte = 0;
    std::string error;
};

}  // namespace

std::vector<manifest_document> parse_manifest_text(const std::string& text, bool is_json)
{
    std::vector<manifest_document> out;
    if (is_json) {
        json object;
        located_json_parser parser(object);
        if (!json::sax_parse(text, &parser)) {
            auto [line, column] = line_column_of(text, parser.error_byte > 0 ? parser.error_byte - 1 : 0);
            throw manifest_parse_error(parser.error, line, column);
        }
        append_document(out, std::move(object), 1, 1);
        return out;
    }
    try {
        std::istringstream in(text);
        YAML::Parser parser(in);
        json_builder builder;
        json_builder::document doc;
        while (builder.next(parser, doc))
            append_document(out, std::move(doc.value), doc.mark.line + 1, doc.mark.column + 1);
    } catch (const YAML::Exception& e) {
        throw manifest_parse_error(e.msg, e.mark.line + 1, e.mark.column + 1);
    }
    return out;
}

}  // namespace sluice
