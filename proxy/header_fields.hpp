#pragma once
// The fields of a message as the proxy holds them: a list in arrival order whose names and values
// live in one arena per message, looked up by a linear scan. A request or response carries tens
// of fields at most, and the proxy asks for a handful of them, so a scan over a contiguous list
// is cheaper than Beast's `basic_fields` (a red-black tree of separately allocated elements with
// case-insensitive comparisons), and a message costs two allocations instead of one per field.
//
// The class meets Beast's Fields requirements, so `http::header<isRequest, header_fields>` and
// `http::message<isRequest, Body, header_fields>` work as with `basic_fields`, and its public
// interface is the part of `basic_fields`'s interface that the proxy uses. Two differences:
//  - every view it hands out (names, values, method, target, reason) stays valid until the
//    object is destroyed or assigned, even after the field is erased or replaced;
//  - `set` replaces a field where it stands instead of moving it to the end.
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <boost/beast/http/field.hpp>
#include <boost/optional/optional.hpp>

namespace sluice {

// A field name resolved once: Beast's id for it (unknown for a name Beast does not know) and its
// text, which must outlive every header_fields it is set in (a string literal). Setting a field by
// such a name neither hashes nor copies the name.
struct field_name {
    explicit field_name(std::string_view text) : id(boost::beast::http::string_to_field(text)), text(text) {}
    boost::beast::http::field id;
    std::string_view text;
};

class header_fields {
public:
    using field = boost::beast::http::field;

    class value_type {
    public:
        field name() const noexcept { return name_; }
        std::string_view name_string() const noexcept { return {name_text_, name_size_}; }
        std::string_view value() const noexcept { return {value_text_, value_size_}; }

    private:
        friend class header_fields;
        const char* name_text_;
        const char* value_text_;
        uint32_t name_size_;
        uint32_t value_size_;
        field name_;
    };
    using const_iterator = std::vector<value_type>::const_iterator;
    using iterator = const_iterator;

    header_fields() = default;
    header_fields(const header_fields& other);
    header_fields(header_fields&& other) noexcept;
    header_fields& operator=(const header_fields& other);
    header_fields& operator=(header_fields&& other) noexcept;
    ~header_fields();

    const_iterator begin() const noexcept { return list_.begin(); }
    const_iterator end() const noexcept { return list_.end(); }
    size_t size() const noexcept { return list_.size(); }

    // The first field of that name, end() when there is none.
    const_iterator find(field name) const noexcept;
    const_iterator find(std::string_view name) const noexcept;
    size_t count(field name) const noexcept;
    size_t count(std::string_view name) const noexcept;
    // The first field's value, empty when there is none.
    std::string_view operator[](field name) const noexcept;
    std::string_view operator[](std::string_view name) const noexcept;

    // Appends a field. Values lose their leading and trailing spaces and tabs.
    void insert(field name, std::string_view value);
    void insert(std::string_view name, std::string_view value);
    void insert(field name, std::string_view name_string, std::string_view value);
    // The first field of that name takes the value, the others are erased; appended when absent.
    void set(field name, std::string_view value);
    void set(std::string_view name, std::string_view value);
    void set(const field_name& name, std::string_view value);

    const_iterator erase(const_iterator pos);
    size_t erase(field name);
    size_t erase(std::string_view name);
    size_t erase(const field_name& name) { return name.id == field::unknown ? erase(name.text) : erase(name.id); }
    // Erases every field `drop` matches, in one pass.
    template <class Drop>
    size_t erase_if(Drop drop)
    {
        const size_t before = list_.size();
        list_.erase(std::remove_if(list_.begin(), list_.end(), drop), list_.end());
        return before - list_.size();
    }

    // Puts these fields, in this order, ahead of the others: what a proxy sets itself comes
    // first, as nginx writes its proxy_set_header fields before the client's. The names are not
    // copied; the values are.
    struct named_value {
        const field_name* name;
        std::string_view value;
    };
    void insert_front(std::span<const named_value> fields);

    // Copies a message's header bytes into the arena, once, and returns the copy. Strings later
    // given that lie inside the copy (fields parsed from it) are kept as views into it instead of
    // being copied each.
    std::string_view adopt(std::string_view head);
    void clear() noexcept { list_.clear(); }

protected:
    // Beast's Fields requirements, called by http::header and http::message.
    std::string_view get_method_impl() const noexcept { return method_; }
    std::string_view get_target_impl() const noexcept { return target_or_reason_; }
    std::string_view get_reason_impl() const noexcept { return target_or_reason_; }
    bool get_chunked_impl() const;
    bool get_keep_alive_impl(unsigned version) const;
    bool has_content_length_impl() const noexcept { return find(field::content_length) != end(); }
    void set_method_impl(std::string_view s) { method_ = hold(s); }
    void set_target_impl(std::string_view s) { target_or_reason_ = hold(s); }
    void set_reason_impl(std::string_view s) { target_or_reason_ = hold(s); }
    void set_chunked_impl(bool value);
    void set_content_length_impl(const boost::optional<std::uint64_t>& value);
    void set_keep_alive_impl(unsigned version, bool keep_alive);

private:
    struct block {
        block* next;
        size_t size;
        size_t used;
        char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
    };

    // `need` bytes in the arena's newest block, a new block when they do not fit.
    char* room(size_t need);
    // A copy of `s` in the arena (no copy for an empty view).
    std::string_view keep(std::string_view s);
    // Whether `s` lies in the header bytes given to adopt.
    bool adopted(std::string_view s) const noexcept;
    // `s` itself when it lies in the adopted header bytes, else keep(s).
    std::string_view hold(std::string_view s);
    value_type make(field name, std::string_view name_string, std::string_view value, bool keep_name = true);
    // A field of these views, as they are (make decides what to copy).
    static value_type field_of(field name, std::string_view name_string, std::string_view value) noexcept;
    void append(value_type v);
    // Gives the first field that `same` matches the value and erases the others; false when none.
    template <class Same>
    bool replace_first(Same same, std::string_view value);
    void copy_from(const header_fields& other);
    void release() noexcept;

    std::vector<value_type> list_;
    block* blocks_ = nullptr;  // the newest first
    std::string_view method_;
    std::string_view target_or_reason_;
    std::string_view adopted_;  // the header bytes given to adopt, in the arena
};

}  // namespace sluice
