#include "annotations/annotation_reader.hpp"

#include <charconv>

#include "controller/global_settings.hpp"

namespace sluice::annotations {
namespace {

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool all_of(std::string_view s, std::string_view extra)
{
    for (char c : s)
        if (!is_alnum(c) && extra.find(c) == std::string_view::npos)
            return false;
    return true;
}

}  // namespace

bool only_chars(std::string_view s, std::string_view extra) { return !s.empty() && all_of(s, extra); }

bool is_path_with_capture(std::string_view s) { return all_of(s, "-._~/:$"); }

bool is_url_with_variables(std::string_view s) { return all_of(s, "-._~/:, ?&=$"); }

bool is_host_with_port(std::string_view s)
{
    if (s.empty() || s.size() > 261)
        return false;
    return all_of(s, "-.:") && s.front() != '-' && s.front() != '.';
}

std::optional<bool> parse_go_bool(std::string_view s)
{
    if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True")
        return true;
    if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False")
        return false;
    return std::nullopt;
}

annotation_reader::annotation_reader(const std::map<std::string, std::string>& annotations, std::string_view prefix)
    : annotations_(annotations), prefix_(std::string(prefix) + "/")
{
}

std::string annotation_reader::full_name(std::string_view name) const { return prefix_ + std::string(name); }

std::optional<std::string_view> annotation_reader::raw(std::string_view name)
{
    std::string key = full_name(name);
    read_.insert(key);
    auto it = annotations_.find(key);
    if (it == annotations_.end() || it->second.empty())
        return std::nullopt;
    return std::string_view(it->second);
}

void annotation_reader::invalid(std::string_view name, const std::string& why)
{
    diagnostics_.push_back({full_name(name), why});
}

void annotation_reader::refuse(std::string_view name, const std::string& why)
{
    diagnostics_.push_back({full_name(name), why});
}

parsed<std::string> annotation_reader::string(std::string_view name, bool (*valid)(std::string_view),
                                              const char* expected)
{
    auto v = raw(name);
    if (!v)
        return {};
    if (v->find_first_of("\r\n") != std::string_view::npos || (valid && !valid(*v))) {
        invalid(name, "invalid value \"" + std::string(*v) + "\": expected " + expected + "; ignored");
        return {value_state::invalid};
    }
    return {value_state::valid, std::string(*v)};
}

parsed<bool> annotation_reader::boolean(std::string_view name)
{
    auto v = raw(name);
    if (!v)
        return {};
    auto b = parse_go_bool(*v);
    if (!b) {
        invalid(name, "invalid value \"" + std::string(*v) + "\": expected true or false; ignored");
        return {value_state::invalid};
    }
    return {value_state::valid, *b};
}

parsed<int64_t> annotation_reader::integer(std::string_view name)
{
    auto v = raw(name);
    if (!v)
        return {};
    int64_t n = 0;
    const char* b = v->data();
    const char* e = b + v->size();
    if (b != e && *b == '+')
        ++b;
    auto [p, ec] = std::from_chars(b, e, n);
    if (ec != std::errc() || p != e || b == e) {
        invalid(name, "invalid value \"" + std::string(*v) + "\": expected an integer; ignored");
        return {value_state::invalid};
    }
    return {value_state::valid, n};
}

parsed<uint64_t> annotation_reader::size(std::string_view name)
{
    auto v = raw(name);
    if (!v)
        return {};
    // ingress-nginx's SizeRegex: ^(?i)\d+[bkmg]?$
    std::string_view s = *v;
    if (s.size() >= 2 && (s.back() == 'b' || s.back() == 'B') && s[s.size() - 2] >= '0' && s[s.size() - 2] <= '9')
        s.remove_suffix(1);
    auto n = parse_nginx_size(s);
    if (!n || s.empty() || s.find(' ') != std::string_view::npos) {
        invalid(name, "invalid value \"" + std::string(*v) + "\": expected an nginx size such as 8m; ignored");
        return {value_state::invalid};
    }
    return {value_state::valid, *n};
}

std::vector<std::string> annotation_reader::unread() const
{
    std::vector<std::string> out;
    for (const auto& [key, value] : annotations_)
        if (key.compare(0, prefix_.size(), prefix_) == 0 && !read_.contains(key))
            out.push_back(key.substr(prefix_.size()));
    return out;
}

}  // namespace sluice::annotations
