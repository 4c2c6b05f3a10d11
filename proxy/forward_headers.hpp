#pragma once
// Header rewriting between client and upstream, as ingress-nginx's location template does it.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/client_address.hpp"

#include "proxy/message_parser.hpp"

namespace sluice {

struct forward_context {
    std::string_view client_ip;    // $remote_addr (after real-IP resolution)
    std::string_view best_host;    // $best_http_host: the Host header as sent, or the matched host
    std::string_view server_port;  // $pass_port
    std::string_view scheme;       // $pass_access_scheme
    std::string_view request_id;   // $req_id: the client's X-Request-ID, else a generated one
    std::string_view upstream_host = {};  // upstream-vhost: the Host sent upstream, if set
    std::string_view forwarded_for = {};  // X-Forwarded-For to send; empty: client_ip
    bool chunked_body = false;            // the client's body is chunked: so is the upstream's
};

// The request as the upstream and the logs should see it: nginx's $remote_addr after the realip
// module (recursive), $pass_access_scheme, $pass_port, $best_http_host, and the X-Forwarded-For
// value. The views point at the arguments of resolve_client or at the owned copies below (values
// taken from request fields, which the upstream request rewrites), so a view is filled in place
// and never copied.
struct client_view {
    client_view() = default;
    client_view(const client_view&) = delete;
    client_view& operator=(const client_view&) = delete;
    std::string_view remote_addr;
    std::string_view scheme;
    std::string_view port;
    std::string_view best_host;
    std::string forwarded_for;  // empty: remote_addr
    std::string owned_remote, owned_scheme, owned_port, owned_host;
};
void resolve_client(const forwarding_policy& policy, const request_head& req,
                    std::string_view connection_ip, std::string_view scheme, std::string_view port,
                    std::string_view best_host, client_view& out);

// Removes the hop-by-hop fields of a message: Connection and every field it names, Keep-Alive,
// Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade.
void remove_hop_by_hop(header_fields& fields);

// Turns the client's request header into the upstream request header: hop-by-hop fields out,
// Host, X-Request-ID, X-Real-IP, X-Forwarded-{For,Host,Port,Proto}, X-Scheme,
// X-Original-Forwarded-For set, the httpoxy "Proxy" field dropped. HTTP/1.1 to the upstream, its
// body framed by Content-Length as received or, for a chunked body, by chunked alone.
void prepare_upstream_request(request_head& req, const forward_context& ctx);

// Turns the upstream's response header into the client's: hop-by-hop fields and nginx's
// internal X-Accel-* fields out.
void prepare_downstream_response(response_head& res);

bool is_idempotent(boost::beast::http::verb method);

}  // namespace sluice
