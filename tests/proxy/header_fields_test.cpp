#include "proxy/header_fields.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

#include "proxy/message_parser.hpp"

namespace sluice {
namespace {

namespace http = boost::beast::http;

std::vector<std::string> values_of(const header_fields& f, std::string_view name)
{
    std::vector<std::string> out;
    for (const auto& v : f)
        if (boost::beast::iequals(v.name_string(), name))
            out.emplace_back(v.value());
    return out;
}

TEST(header_fields, finds_fields_by_id_and_by_name_in_any_case)
{
    header_fields f;
    f.insert(http::field::host, "example.com");
    f.insert("x-custom", "  padded\t");
    f.insert(http::field::accept, "text/html");
    EXPECT_EQ(f[http::field::host], "example.com");
    EXPECT_EQ(f["HOST"], "example.com");
    EXPECT_EQ(f["X-Custom"], "padded");
    EXPECT_EQ(f.find("x-CUSTOM")->name(), http::field::unknown);
    EXPECT_EQ(f.find("Accept")->name(), http::field::accept);
    EXPECT_EQ(f.count(http::field::cookie), 0u);
    EXPECT_EQ(f.find("X-Missing"), f.end());
    EXPECT_EQ(f[http::field::cookie], "");
    // A known field inserted by name gets its id, so a lookup by id finds it.
    f.insert("content-type", "text/plain");
    EXPECT_EQ(f[http::field::content_type], "text/plain");
    EXPECT_EQ(f.find(http::field::content_type)->name_string(), "content-type");
}

TEST(header_fields, set_replaces_the_first_in_place_and_drops_the_rest)
{
    header_fields f;
    f.insert("A", "1");
    f.insert(http::field::cookie, "a=1");
    f.insert("B", "2");
    f.insert("cookie", "b=2");
    f.set(http::field::cookie, "c=3");
    ASSERT_EQ(f.size(), 3u);
    EXPECT_EQ(std::next(f.begin())->value(), "c=3");
    f.set("b", "two");
    EXPECT_EQ(values_of(f, "B"), std::vector<std::string>{"two"});
    f.set("C", "3");
    EXPECT_EQ(std::prev(f.end())->name_string(), "C");
    const field_name x_id{"X-Request-ID"};
    f.set(x_id, "r1");
    f.set(x_id, "r2");
    EXPECT_EQ(values_of(f, "x-request-id"), std::vector<std::string>{"r2"});
    EXPECT_EQ(f.erase(x_id), 1u);
    EXPECT_EQ(f.erase("a"), 1u);
    EXPECT_EQ(f.erase(http::field::cookie), 1u);
    EXPECT_EQ(f.erase(http::field::cookie), 0u);
    ASSERT_EQ(f.size(), 2u);
    auto it = f.erase(f.begin());
    EXPECT_EQ(it->name_string(), "C");
}

TEST(header_fields, views_outlive_replacement_erasure_and_growth)
{
    header_fields f;
    f.set("X-Forwarded-For", "10.0.0.1");
    std::string_view before = f["X-Forwarded-For"];
    f.set("X-Forwarded-For", before);  // a value taken from the field it replaces
    f.erase("X-Forwarded-For");
    for (int i = 0; i < 200; ++i)  // several arena blocks
        f.insert("X-Filler-" + std::to_string(i), std::string(100, 'v'));
    EXPECT_EQ(before, "10.0.0.1");
    EXPECT_EQ(f.size(), 200u);
    EXPECT_EQ(f["x-filler-199"], std::string(100, 'v'));
}

TEST(header_fields, insert_front_puts_fields_ahead_in_order_and_erase_if_drops_in_one_pass)
{
    header_fields f;
    f.insert(http::field::accept, "*/*");
    f.insert("X-Drop", "1");
    f.insert(http::field::user_agent, "ua");
    EXPECT_EQ(f.erase_if([](const header_fields::value_type& v) { return v.name_string() == "X-Drop"; }), 1u);
    static const field_name host{"Host"}, custom{"X-Custom"}, empty{"X-Empty"};
    std::string transient = "from a buffer that goes";
    const header_fields::named_value front[] = {{&host, "h.example"}, {&custom, transient}, {&empty, std::string_view()}};
    f.insert_front(front);
    transient.assign(transient.size(), '#');
    std::vector<std::pair<std::string, std::string>> got;
    for (const auto& v : f)
        got.emplace_back(v.name_string(), v.value());
    EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{
                       {"Host", "h.example"}, {"X-Custom", "from a buffer that goes"}, {"X-Empty", ""}, {"Accept", "*/*"}, {"User-Agent", "ua"}}));
    EXPECT_EQ(f.find(http::field::host)->name(), http::field::host);
    EXPECT_EQ(f.find("x-custom")->name(), http::field::unknown);
}

TEST(header_fields, fields_parsed_from_an_adopted_head_point_into_it_and_others_are_copied)
{
    request_parser p;
    std::string text = "GET /a HTTP/1.1\r\nHost: h.example\r\nX-Long-Header-Name: value one\r\n\r\n";
    boost::beast::error_code ec;
    const size_t used = p.put_head(text, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(used, text.size());
    text.assign(text.size(), '#');  // the caller's bytes are not referred to
    auto& m = p.get();
    EXPECT_EQ(m.target(), "/a");
    EXPECT_EQ(m["x-long-header-name"], "value one");
    const std::string_view name = m.find("X-Long-Header-Name")->name_string(), value = m["X-Long-Header-Name"];
    // Views into one copy of the head: the name and its value sit where the head had them.
    EXPECT_EQ(value.data(), name.data() + name.size() + 2);
    m.set("X-Long-Header-Name", std::string("value two"));
    m.insert("X-Added", std::string(" added "));
    EXPECT_EQ(m["x-long-header-name"], "value two");
    EXPECT_EQ(m["x-added"], "added");
    EXPECT_EQ(value, "value one");  // still readable after its field was replaced
}

TEST(header_fields, copies_are_deep_and_moves_take_the_storage)
{
    request_head copy;
    {
        request_head h;
        h.method_string("FROB");
        h.target("/cache/a");
        h.insert("X-A", "1");
        copy = h;
        request_head moved(std::move(h));
        EXPECT_EQ(moved.target(), "/cache/a");
        EXPECT_EQ(moved["x-a"], "1");
    }
    EXPECT_EQ(copy.method(), http::verb::unknown);
    EXPECT_EQ(copy.method_string(), "FROB");
    EXPECT_EQ(copy.target(), "/cache/a");
    EXPECT_EQ(copy["X-A"], "1");
}

TEST(header_fields, chunked_content_length_and_keep_alive_follow_beast)
{
    http::request<http::empty_body, header_fields> r;
    r.version(11);
    EXPECT_FALSE(r.chunked());
    r.set(http::field::transfer_encoding, "gzip");
    r.chunked(true);
    EXPECT_EQ(r[http::field::transfer_encoding], "gzip, chunked");
    EXPECT_TRUE(r.chunked());
    r.chunked(true);
    EXPECT_EQ(r[http::field::transfer_encoding], "gzip, chunked");
    r.chunked(false);
    EXPECT_EQ(r[http::field::transfer_encoding], "gzip");
    r.set(http::field::transfer_encoding, "chunked, gzip");
    EXPECT_FALSE(r.chunked());  // chunked counts only as the last coding
    r.erase(http::field::transfer_encoding);
    r.chunked(true);
    EXPECT_EQ(r[http::field::transfer_encoding], "chunked");
    r.chunked(false);
    EXPECT_EQ(r.count(http::field::transfer_encoding), 0u);

    r.content_length(1234567890123ull);
    EXPECT_EQ(r[http::field::content_length], "1234567890123");
    EXPECT_TRUE(r.has_content_length());
    r.content_length(boost::none);
    EXPECT_FALSE(r.has_content_length());

    EXPECT_TRUE(r.keep_alive());
    r.set(http::field::connection, "Upgrade, Close");
    EXPECT_FALSE(r.keep_alive());
    r.keep_alive(true);
    EXPECT_EQ(r[http::field::connection], "Upgrade");
    r.keep_alive(false);
    EXPECT_EQ(r[http::field::connection], "Upgrade, close");
    r.version(10);
    EXPECT_FALSE(r.keep_alive());
    r.keep_alive(true);
    EXPECT_EQ(r[http::field::connection], "Upgrade, keep-alive");
    EXPECT_TRUE(r.keep_alive());
    r.set(http::field::connection, "close");
    r.keep_alive(true);
    EXPECT_EQ(r[http::field::connection], "keep-alive");
    r.version(11);
    r.keep_alive(true);
    EXPECT_EQ(r.count(http::field::connection), 0u);
}

// The same random operations on Beast's basic_fields and on header_fields: every lookup agrees,
// and each name's values come in the same order.
TEST(header_fields, agrees_with_beast_basic_fields_on_random_operations)
{
    const std::vector<std::string> names{"Host", "host", "Cookie", "X-Forwarded-For", "x-forwarded-for", "X-A",
                                         "Content-Length", "Connection", "Accept", "X-Very-Long-Name-Of-A-Field"};
    std::mt19937 rng(20261127);
    for (int round = 0; round < 200; ++round) {
        http::fields beast;
        header_fields ours;
        for (int op = 0; op < 40; ++op) {
            const std::string& name = names[rng() % names.size()];
            std::string value = " v" + std::to_string(rng() % 1000) + (rng() % 2 ? std::string(rng() % 300, 'x') : "");
            switch (rng() % 4) {
            case 0:
                beast.insert(name, value);
                ours.insert(name, value);
                break;
            case 1:
                // Beast moves a set field to the end; the values of that name are the same.
                beast.set(name, value);
                ours.set(name, value);
                break;
            case 2:
                EXPECT_EQ(beast.erase(name), ours.erase(name));
                break;
            default: {
                auto f = http::string_to_field(name);
                if (f != http::field::unknown) {
                    beast.set(f, value);
                    ours.set(f, value);
                }
            }
            }
            for (const auto& n : names) {
                ASSERT_EQ(beast.count(n), ours.count(n)) << n;
                ASSERT_EQ(std::string(beast[n]), std::string(ours[n])) << n;
                std::vector<std::string> expected;
                for (const auto& f : beast)
                    if (boost::beast::iequals(f.name_string(), n))
                        expected.emplace_back(f.value());
                ASSERT_EQ(expected, values_of(ours, n)) << n;
                if (auto f = http::string_to_field(n); f != http::field::unknown) {
                    ASSERT_EQ(beast.count(f), ours.count(f)) << n;
                }
            }
        }
    }
}

TEST(message_parser, parses_a_request_into_header_fields)
{
    request_parser p;
    const std::string text = "POST /upload?x=1 HTTP/1.1\r\nHost: a.example\r\nX-Trace:  t1 \r\n"
                             "Transfer-Encoding: chunked\r\nx-trace: t2\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    boost::beast::error_code ec;
    char body[16];
    p.get().body().data = body;
    p.get().body().size = sizeof body;
    size_t used = p.put(boost::asio::buffer(text), ec);
    ASSERT_FALSE(ec) << ec.message();
    while (used < text.size() && !p.is_done()) {
        used += p.put(boost::asio::buffer(text.data() + used, text.size() - used), ec);
        ASSERT_FALSE(ec) << ec.message();
    }
    ASSERT_TRUE(p.is_done());
    const auto& m = p.get();
    EXPECT_EQ(m.method(), http::verb::post);
    EXPECT_EQ(m.target(), "/upload?x=1");
    EXPECT_EQ(m.version(), 11u);
    EXPECT_TRUE(m.chunked());
    EXPECT_EQ(values_of(m, "X-Trace"), (std::vector<std::string>{"t1", "t2"}));
    EXPECT_EQ(std::string_view(body, sizeof body - m.body().size), "hello");
}

TEST(message_parser, parses_a_response_with_its_reason)
{
    response_parser p;
    const std::string text = "HTTP/1.0 503 Busy Now\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n";
    boost::beast::error_code ec;
    p.put(boost::asio::buffer(text), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(p.is_done());
    EXPECT_EQ(p.get().result_int(), 503u);
    EXPECT_EQ(p.get().reason(), "Busy Now");
    EXPECT_TRUE(p.get().keep_alive());
    EXPECT_TRUE(p.keep_alive());
}

}  // namespace
}  // namespace sluice
