#include "proxy/forward_headers.hpp"

#include <string>
#include <vector>

#include <boost/beast/core/string.hpp>

namespace sluice {

namespace http = boost::beast::http;

void remove_hop_by_hop(http::fields& fields)
{
    // Fields named by Connection are hop-by-hop too ("Connection: close, X-Foo").
    std::vector<std::string> named;
    for (auto range = fields.equal_range(http::field::connection); range.first != range.second; ++range.first) {
        std::string_view v = range.first->value();
        while (!v.empty()) {
            auto comma = v.find(',');
            std::string_view token = v.substr(0, comma);
            while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
                token.remove_prefix(1);
            while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
                token.remove_suffix(1);
            if (!token.empty())
                named.emplace_back(token);
            if (comma == std::string_view::npos)
                break;
            v.remove_prefix(comma + 1);
        }
    }
    for (const auto& name : named) {
        // Never let a client strip the fields the proxy itself sets for the upstream.
        if (boost::beast::iequals(name, "host"))
            continue;
        fields.erase(name);
    }
    fields.erase(http::field::connection);
    fields.erase(http::field::keep_alive);
    fields.erase(http::field::proxy_connection);
    fields.erase(http::field::te);
    fields.erase(http::field::trailer);
    fields.erase(http::field::transfer_encoding);
    fields.erase(http::field::upgrade);
}

void prepare_upstream_request(http::request_header<>& req, const forward_context& ctx)
{
    std::string original_xff;
    if (auto it = req.find("X-Forwarded-For"); it != req.end())
        original_xff = std::string(it->value());
    remove_hop_by_hop(req);
    req.erase(http::field::expect);  // sluice answers 100-continue itself
    req.erase("Proxy");
    req.version(11);
    req.set(http::field::host, ctx.upstream_host.empty() ? ctx.best_host : ctx.upstream_host);
    req.set("X-Request-ID", ctx.request_id);
    req.set("X-Real-IP", ctx.client_ip);
    req.set("X-Forwarded-For", ctx.client_ip);
    req.set("X-Forwarded-Host", ctx.best_host);
    req.set("X-Forwarded-Port", ctx.server_port);
    req.set("X-Forwarded-Proto", ctx.scheme);
    req.set("X-Scheme", ctx.scheme);
    if (original_xff.empty())
        req.erase("X-Original-Forwarded-For");
    else
        req.set("X-Original-Forwarded-For", original_xff);
}

void prepare_downstream_response(http::response_header<>& res)
{
    remove_hop_by_hop(res);
    for (auto it = res.begin(); it != res.end();) {
        std::string_view name = it->name_string();
        if (name.size() >= 8 && boost::beast::iequals(name.substr(0, 8), "x-accel-"))
            it = res.erase(it);
        else
            ++it;
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
