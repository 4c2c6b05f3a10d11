#include "proxy/forward_headers.hpp"

#include "proxy/text.hpp"

#include <algorithm>
#include <array>
#include <span>
#include <string>
#include <vector>

#include <boost/beast/core/string.hpp>

namespace sluice {

namespace http = boost::beast::http;

namespace {

const field_name host{"Host"}, x_request_id{"X-Request-ID"}, x_real_ip{"X-Real-IP"},
    x_forwarded_for{"X-Forwarded-For"}, x_forwarded_host{"X-Forwarded-Host"}, x_forwarded_port{"X-Forwarded-Port"},
    x_forwarded_proto{"X-Forwarded-Proto"}, x_scheme{"X-Scheme"}, x_original_forwarded_for{"X-Original-Forwarded-For"},
    proxy{"Proxy"}, transfer_encoding{"Transfer-Encoding"};

bool is_hop_by_hop(http::field id)
{
    switch (id) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
        return true;
    default:
        return false;
    }
}

// Drops the hop-by-hop fields, and those `also` matches, in one pass over the list. Fields named
// by Connection are hop-by-hop too ("Connection: close, X-Foo"): they go first, by name. A
// value stays readable after its field is erased (header_fields keeps it until the message goes).
template <class Also>
void drop_hop_by_hop(header_fields& fields, Also also)
{
    for (auto it = fields.find(http::field::connection); it != fields.end(); it = fields.find(http::field::connection)) {
        const std::string_view named = it->value();
        fields.erase(it);
        for_each_item(named, [&](std::string_view name) {
            // Never let a client strip the fields the proxy itself sets for the upstream.
            if (!boost::beast::iequals(name, "host"))
                fields.erase(name);
        });
    }
    fields.erase_if([&](const header_fields::value_type& f) { return is_hop_by_hop(f.name()) || also(f); });
}

bool named_any_of(const header_fields::value_type& f, std::span<const field_name* const> names)
{
    for (const field_name* name : names)
        if (f.name_string().size() == name->text.size() && boost::beast::iequals(f.name_string(), name->text))
            return true;
    return false;
}

}  // namespace

void remove_hop_by_hop(header_fields& fields)
{
    drop_hop_by_hop(fields, [](const header_fields::value_type&) { return false; });
}

void prepare_upstream_request(request_head& req, const forward_context& ctx)
{
    // The fields' views outlive their erasure (header_fields keeps every value until the
    // message goes), so the client's X-Forwarded-For needs no copy.
    const std::string_view original_xff = req[x_forwarded_for.text];
    // With the hop-by-hop fields go the fields sluice sets itself, Expect (sluice answers
    // 100-continue itself), the httpoxy "Proxy" field and, for a chunked body, Content-Length
    // (the client's Transfer-Encoding is hop-by-hop).
    static const field_name* const replaced[] = {&x_request_id,     &x_real_ip,        &x_forwarded_for,
                                                 &x_forwarded_host, &x_forwarded_port, &x_forwarded_proto,
                                                 &x_scheme,         &x_original_forwarded_for, &proxy};
    const bool chunked = ctx.chunked_body;
    drop_hop_by_hop(req, [chunked](const header_fields::value_type& f) {
        switch (f.name()) {
        case http::field::host:
        case http::field::expect:
            return true;
        case http::field::content_length:
            return chunked;
        case http::field::unknown:
            return named_any_of(f, replaced);
        default:
            return false;
        }
    });
    req.version(11);
    // In ingress-nginx's order, ahead of the client's fields.
    header_fields::named_value set[10] = {
        {&host, ctx.upstream_host.empty() ? ctx.best_host : ctx.upstream_host},
        {&x_request_id, ctx.request_id},
        {&x_real_ip, ctx.client_ip},
        {&x_forwarded_for, ctx.forwarded_for.empty() ? ctx.client_ip : ctx.forwarded_for},
        {&x_forwarded_host, ctx.best_host},
        {&x_forwarded_port, ctx.server_port},
        {&x_forwarded_proto, ctx.scheme},
        {&x_scheme, ctx.scheme},
    };
    size_t count = 8;
    if (!original_xff.empty())
        set[count++] = {&x_original_forwarded_for, original_xff};
    if (chunked)
        set[count++] = {&transfer_encoding, "chunked"};
    req.insert_front(std::span(set, count));
}

void prepare_downstream_response(response_head& res)
{
    // nginx's internal X-Accel-* fields never reach a client.
    drop_hop_by_hop(res, [](const header_fields::value_type& f) {
        const std::string_view name = f.name_string();
        return f.name() == http::field::unknown && name.size() >= 8 && boost::beast::iequals(name.substr(0, 8), "x-accel-");
    });
}

std::optional<std::vector<ip_network>> ip_network::parse_list(std::string_view list)
{
    std::vector<ip_network> nets;
    for (auto item : split_list(list)) {
        auto net = parse(item);
        if (!net)
            return std::nullopt;
        nets.push_back(*net);
    }
    return nets;
}

std::optional<ip_network> ip_network::parse(std::string_view text)
{
    auto slash = text.find('/');
    boost::system::error_code ec;
    auto base = boost::asio::ip::make_address(std::string(text.substr(0, slash)), ec);
    if (ec)
        return std::nullopt;
    unsigned max = base.is_v4() ? 32 : 128;
    unsigned prefix = max;
    if (slash != std::string_view::npos) {
        std::string_view digits = text.substr(slash + 1);
        if (digits.empty() || digits.size() > 3)
            return std::nullopt;
        prefix = 0;
        for (char c : digits) {
            if (c < '0' || c > '9')
                return std::nullopt;
            prefix = prefix * 10 + static_cast<unsigned>(c - '0');
        }
        if (prefix > max)
            return std::nullopt;
    }
    return ip_network{base, prefix};
}

bool ip_network::contains(const boost::asio::ip::address& a) const
{
    auto bytes_of = [](const boost::asio::ip::address& x) {
        std::array<unsigned char, 16> out{};
        if (x.is_v4()) {
            auto b = x.to_v4().to_bytes();
            std::copy(b.begin(), b.end(), out.begin());
        } else {
            out = x.to_v6().to_bytes();
        }
        return out;
    };
    boost::asio::ip::address addr = a;
    if (a.is_v6() && a.to_v6().is_v4_mapped() && base.is_v4())
        addr = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
    if (addr.is_v4() != base.is_v4())
        return false;
    auto x = bytes_of(addr), y = bytes_of(base);
    unsigned full = prefix / 8, rest = prefix % 8;
    if (!std::equal(x.begin(), x.begin() + full, y.begin()))
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
    return (x[full] & mask) == (y[full] & mask);
}

namespace {

bool trusted(const forwarding_policy& policy, const boost::asio::ip::address& a)
{
    for (const auto& n : policy.trusted)
        if (n.contains(a))
            return true;
    return false;
}

// nginx's realip module with real_ip_recursive on: from a trusted peer, walk the header's
// addresses from the right, skipping trusted ones; the first untrusted is the client, the
// leftmost if all are trusted. A malformed entry stops the walk and keeps the peer's address.
std::string real_ip(const forwarding_policy& policy, std::string_view peer, std::string_view header)
{
    boost::system::error_code ec;
    auto peer_addr = boost::asio::ip::make_address(std::string(peer), ec);
    if (ec || header.empty() || !trusted(policy, peer_addr))
        return std::string(peer);
    std::string found(peer);
    while (!header.empty()) {
        auto comma = header.rfind(',');
        std::string_view item = trim_ows(comma == std::string_view::npos ? header : header.substr(comma + 1));
        header = comma == std::string_view::npos ? std::string_view() : header.substr(0, comma);
        if (item.empty())
            continue;
        auto addr = boost::asio::ip::make_address(std::string(item), ec);
        if (ec)
            return std::string(peer);
        found = addr.to_string();
        if (!trusted(policy, addr))
            return found;
    }
    return found;
}

}  // namespace

void resolve_client(const forwarding_policy& policy, const request_head& req, std::string_view connection_ip,
                    std::string_view scheme, std::string_view port, std::string_view best_host, client_view& v)
{
    v.remote_addr = connection_ip;
    v.scheme = scheme;
    v.port = port;
    v.best_host = best_host;
    v.forwarded_for.clear();
    if (policy.use_forwarded_headers || policy.enable_real_ip) {
        if (auto it = req.find(policy.forwarded_for_header); it != req.end()) {
            v.owned_remote = real_ip(policy, connection_ip, it->value());
            v.remote_addr = v.owned_remote;
        }
    }
    if (policy.use_forwarded_headers) {
        auto take = [&](const char* name, std::string& owned, std::string_view& view) {
            if (auto it = req.find(name); it != req.end() && !it->value().empty()) {
                owned = std::string(it->value());
                view = owned;
            }
        };
        take("X-Forwarded-Proto", v.owned_scheme, v.scheme);
        take("X-Forwarded-Port", v.owned_port, v.port);
        take("X-Forwarded-Host", v.owned_host, v.best_host);
    }
    if (policy.compute_full_forwarded_for) {
        // "$http_x_forwarded_for, $realip_remote_addr"
        auto it = req.find("X-Forwarded-For");
        v.forwarded_for = it != req.end() && !it->value().empty()
                              ? std::string(it->value()) + ", " + std::string(connection_ip)
                              : std::string(connection_ip);
    }
}

bool is_idempotent(http::verb method)
{
    switch (method) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::put:
    case http::verb::delete_:
    case http::verb::options:
    case http::verb::trace:
        return true;
    default:
        return false;
    }
}

}  // namespace sluice
