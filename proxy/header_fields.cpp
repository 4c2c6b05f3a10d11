#include "proxy/header_fields.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <new>
#include <string>

#include "proxy/text.hpp"

namespace sluice {

namespace http = boost::beast::http;

namespace {

// The first block fits a typical request's or response's strings (jemalloc's 1 KiB class); each
// further block doubles.
constexpr size_t first_block_bytes = 1024;
constexpr size_t first_list_capacity = 16;

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

bool equal_ignoring_case(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i] && lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

// The last item of a comma-separated list and what precedes it, without the comma
// ("gzip, chunked" → "gzip", "chunked").
std::pair<std::string_view, std::string_view> split_last_item(std::string_view list)
{
    list = trim_ows(list);
    while (!list.empty() && list.back() == ',')
        list = trim_ows(list.substr(0, list.size() - 1));
    auto comma = list.rfind(',');
    if (comma == std::string_view::npos)
        return {{}, list};
    return {trim_ows(list.substr(0, comma)), trim_ows(list.substr(comma + 1))};
}

bool has_token(std::string_view list, std::string_view token)
{
    bool found = false;
    for_each_item(list, [&](std::string_view item) { found = found || equal_ignoring_case(item, token); });
    return found;
}

}  // namespace

header_fields::header_fields(const header_fields& other) { copy_from(other); }

header_fields::header_fields(header_fields&& other) noexcept
    : list_(std::move(other.list_)), blocks_(std::exchange(other.blocks_, nullptr)),
      method_(std::exchange(other.method_, {})), target_or_reason_(std::exchange(other.target_or_reason_, {})),
      adopted_(std::exchange(other.adopted_, {}))
{
    other.list_.clear();
}

header_fields& header_fields::operator=(const header_fields& other)
{
    if (this != &other) {
        header_fields copy(other);
        *this = std::move(copy);
    }
    return *this;
}

header_fields& header_fields::operator=(header_fields&& other) noexcept
{
    if (this != &other) {
        release();
        list_ = std::move(other.list_);
        other.list_.clear();
        blocks_ = std::exchange(other.blocks_, nullptr);
        method_ = std::exchange(other.method_, {});
        target_or_reason_ = std::exchange(other.target_or_reason_, {});
        adopted_ = std::exchange(other.adopted_, {});
    }
    return *this;
}

header_fields::~header_fields() { release(); }

void header_fields::release() noexcept
{
    for (block* b = blocks_; b;) {
        block* next = b->next;
        ::operator delete(b);
        b = next;
    }
    blocks_ = nullptr;
    list_.clear();
    method_ = {};
    target_or_reason_ = {};
    adopted_ = {};
}

void header_fields::copy_from(const header_fields& other)
{
    list_.reserve(other.list_.size());
    for (const auto& v : other.list_)
        list_.push_back(make(v.name(), v.name_string(), v.value()));
    method_ = keep(other.method_);
    target_or_reason_ = keep(other.target_or_reason_);
}

char* header_fields::room(size_t need)
{
    if (!blocks_ || blocks_->size - blocks_->used < need) {
        size_t size = std::max(need, blocks_ ? blocks_->size * 2 : first_block_bytes - sizeof(block));
        auto* b = static_cast<block*>(::operator new(sizeof(block) + size));
        b->next = blocks_;
        b->size = size;
        b->used = 0;
        blocks_ = b;
    }
    char* at = blocks_->data() + blocks_->used;
    blocks_->used += need;
    return at;
}

std::string_view header_fields::keep(std::string_view s)
{
    if (s.empty())
        return {};
    // Each string is followed by a NUL: it is a C string too, and a reader that looks one byte
    // past a view's end (Beast's iequals does, on a mismatch in case at the last character) stays
    // inside the block.
    char* at = room(s.size() + 1);
    std::memcpy(at, s.data(), s.size());
    at[s.size()] = '\0';
    return {at, s.size()};
}

std::string_view header_fields::adopt(std::string_view head)
{
    adopted_ = keep(head);
    return adopted_;
}

bool header_fields::adopted(std::string_view s) const noexcept
{
    // Compared as addresses: `s` may point anywhere.
    const auto at = reinterpret_cast<uintptr_t>(s.data()), from = reinterpret_cast<uintptr_t>(adopted_.data());
    return at >= from && at - from <= adopted_.size() && s.size() <= adopted_.size() - (at - from);
}

std::string_view header_fields::hold(std::string_view s) { return adopted(s) ? s : keep(s); }

header_fields::value_type header_fields::make(field name, std::string_view name_string, std::string_view value,
                                              bool keep_name)
{
    if (keep_name && !adopted(name_string)) {
        // A known field spelled as Beast spells it needs no copy of its name.
        const std::string_view canonical =
            name == field::unknown ? std::string_view() : std::string_view(http::to_string(name));
        if (name_string.size() == canonical.size() &&
            std::memcmp(name_string.data(), canonical.data(), canonical.size()) == 0)
            name_string = canonical;
        else
            name_string = keep(name_string);
    }
    return field_of(name, name_string, hold(trim_ows(value)));
}

header_fields::value_type header_fields::field_of(field name, std::string_view name_string, std::string_view value) noexcept
{
    value_type v;
    v.name_ = name;
    v.name_text_ = name_string.data();
    v.name_size_ = static_cast<uint32_t>(name_string.size());
    v.value_text_ = value.data();
    v.value_size_ = static_cast<uint32_t>(value.size());
    return v;
}

namespace {

// The two ways a field is named: by Beast's id, or by its text in any case.
auto with_id(http::field name)
{
    return [name](const header_fields::value_type& v) { return v.name() == name; };
}

auto with_name(std::string_view name)
{
    return [name](const header_fields::value_type& v) { return equal_ignoring_case(v.name_string(), name); };
}

}  // namespace

header_fields::const_iterator header_fields::find(field name) const noexcept
{
    return std::find_if(list_.begin(), list_.end(), with_id(name));
}

header_fields::const_iterator header_fields::find(std::string_view name) const noexcept
{
    return std::find_if(list_.begin(), list_.end(), with_name(name));
}

size_t header_fields::count(field name) const noexcept
{
    return static_cast<size_t>(std::count_if(list_.begin(), list_.end(), with_id(name)));
}

size_t header_fields::count(std::string_view name) const noexcept
{
    return static_cast<size_t>(std::count_if(list_.begin(), list_.end(), with_name(name)));
}

std::string_view header_fields::operator[](field name) const noexcept
{
    auto it = find(name);
    return it == end() ? std::string_view() : it->value();
}

std::string_view header_fields::operator[](std::string_view name) const noexcept
{
    auto it = find(name);
    return it == end() ? std::string_view() : it->value();
}

void header_fields::insert(field name, std::string_view value) { insert(name, http::to_string(name), value); }

void header_fields::insert(std::string_view name, std::string_view value)
{
    insert(http::string_to_field(name), name, value);
}

void header_fields::insert(field name, std::string_view name_string, std::string_view value)
{
    append(make(name, name_string, value));
}

void header_fields::append(value_type v)
{
    if (list_.capacity() == 0)
        list_.reserve(first_list_capacity);
    list_.push_back(v);
}

template <class Same>
bool header_fields::replace_first(Same same, std::string_view value)
{
    auto it = std::find_if(list_.begin(), list_.end(), same);
    if (it == list_.end())
        return false;
    const std::string_view kept = keep(trim_ows(value));
    it->value_text_ = kept.data();
    it->value_size_ = static_cast<uint32_t>(kept.size());
    list_.erase(std::remove_if(it + 1, list_.end(), same), list_.end());
    return true;
}

void header_fields::set(field name, std::string_view value)
{
    if (!replace_first(with_id(name), value))
        insert(name, value);
}

void header_fields::set(std::string_view name, std::string_view value)
{
    if (!replace_first(with_name(name), value))
        insert(name, value);
}

void header_fields::set(const field_name& name, std::string_view value)
{
    if (name.id != field::unknown)
        set(name.id, value);
    else if (!replace_first(with_name(name.text), value))
        append(make(field::unknown, name.text, value, false));
}

header_fields::const_iterator header_fields::erase(const_iterator pos) { return list_.erase(pos); }

size_t header_fields::erase(field name) { return erase_if(with_id(name)); }

size_t header_fields::erase(std::string_view name) { return erase_if(with_name(name)); }

void header_fields::insert_front(std::span<const named_value> fields)
{
    if (list_.capacity() == 0)
        list_.reserve(first_list_capacity);
    // The values go into the arena together: one room check for all of them.
    size_t bytes = 0;
    for (const auto& f : fields)
        bytes += f.value.size() + 1;
    char* to = room(bytes);
    auto at = list_.insert(list_.begin(), fields.size(), value_type{});
    for (const auto& f : fields) {
        const std::string_view value = trim_ows(f.value);
        if (!value.empty())  // an empty view may have no data at all
            std::memcpy(to, value.data(), value.size());
        to[value.size()] = '\0';
        *at++ = field_of(f.name->id, f.name->text, {to, value.size()});
        to += value.size() + 1;
    }
}

bool header_fields::get_chunked_impl() const
{
    // Chunked when it is the last transfer coding of the (first) Transfer-Encoding field.
    return equal_ignoring_case(split_last_item((*this)[field::transfer_encoding]).second, "chunked");
}

bool header_fields::get_keep_alive_impl(unsigned version) const
{
    auto it = find(field::connection);
    if (version < 11)
        return it != end() && has_token(it->value(), "keep-alive");
    return it == end() || !has_token(it->value(), "close");
}

void header_fields::set_chunked_impl(bool value)
{
    auto it = find(field::transfer_encoding);
    if (value) {
        if (it == end())
            return set(field::transfer_encoding, "chunked");
        if (get_chunked_impl())
            return;
        std::string codings(trim_ows(it->value()));
        codings += ", chunked";
        return set(field::transfer_encoding, codings);
    }
    if (it == end() || !get_chunked_impl())
        return;
    std::string_view rest = split_last_item(it->value()).first;
    if (rest.empty())
        erase(field::transfer_encoding);
    else
        set(field::transfer_encoding, rest);
}

void header_fields::set_content_length_impl(const boost::optional<std::uint64_t>& value)
{
    if (!value) {
        erase(field::content_length);
        return;
    }
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, *value);
    set(field::content_length, std::string_view(digits, static_cast<size_t>(end - digits)));
}

void header_fields::set_keep_alive_impl(unsigned version, bool keep_alive)
{
    // Connection keeps its other options; "close" and "keep-alive" are replaced by what the
    // version needs to say: "close" to end an HTTP/1.1 connection, "keep-alive" to keep 1.0's.
    auto it = find(field::connection);
    if (it == end() && (version >= 11) == keep_alive)
        return;  // the version's default, and no field to change: the common case
    const std::string_view current = it == end() ? std::string_view() : it->value();
    std::string options;
    for_each_item(current, [&](std::string_view item) {
        if (equal_ignoring_case(item, "close") || equal_ignoring_case(item, "keep-alive"))
            return;
        if (!options.empty())
            options += ", ";
        options.append(item.data(), item.size());
    });
    const char* say = version >= 11 ? (keep_alive ? nullptr : "close") : (keep_alive ? "keep-alive" : nullptr);
    if (say) {
        if (!options.empty())
            options += ", ";
        options += say;
    }
    if (options.empty())
        erase(field::connection);
    else
        set(field::connection, options);
}

}  // namespace sluice
