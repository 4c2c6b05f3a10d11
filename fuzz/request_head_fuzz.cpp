// The downstream request path on raw client bytes, as the proxy runs it on a connection: the
// header stage (raw-byte scan, limits, Beast's parse, the smuggling checks), the request target
// split and normalised, routed against a snapshot with plain, wildcard and regex hosts, then the
// body framed by the parser (fixed length or chunked), and the next pipelined request.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_common.hpp"
#include "proxy/forward_headers.hpp"
#include "proxy/http_wire.hpp"
#include "proxy/path_normalize.hpp"
#include "proxy/request_checks.hpp"

namespace {

using namespace sluice;
namespace http = boost::beast::http;

const route_snapshot& snapshot()
{
    static const std::shared_ptr<route_snapshot> snap = fuzz::build(fuzz::store_of(std::string(fuzz::base_objects) + R"(---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: plain, namespace: default}
spec:
  ingressClassName: nginx
  rules:
  - host: a.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /exact, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api/v1/, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - host: "*.wild.test"
    http:
      paths:
      - {path: /w, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: regex
  namespace: default
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
    nginx.ingress.kubernetes.io/rewrite-target: /$2
spec:
  ingressClassName: nginx
  rules:
  - host: r.test
    http:
      paths:
      - {path: /something(/|$)(.*), pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
      - {path: "/[a-z]+/[0-9]{1,4}", pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
)"));
    return *snap;
}

// The upstream request sluice makes of an accepted one, as forward() makes it, written out and
// read back by sluice's own header stage: exactly one request, which passes every check a client
// request must pass, with the client's method, target and body framing.
void check_upstream_head(const request_head& req, bool chunked, boost::optional<uint64_t> length,
                         std::string_view host, const head_limits& limits)
{
    request_head upstream = req;
    prepare_upstream_request(upstream,
                             forward_context{"127.0.0.1", host, "80", "http", "0123456789abcdef", {}, {}, chunked});
    std::string wire;
    append_head(wire, upstream);
    // The proxy's fields make the head longer than the client's: the limits grow by what it adds.
    const head_limits roomy{limits.header + 4096, limits.request_line + 4096};
    request_parser reparsed;
    reparsed.header_limit(static_cast<uint32_t>(roomy.header));
    reparsed.body_limit(boost::none);
    head_outcome out = parse_request_head(wire, reparsed, roomy);
    if (out.state != head_outcome::ready || out.consumed != wire.size())
        __builtin_trap();
    const auto& again = reparsed.get();
    if (again.method_string() != req.method_string() || again.target() != req.target() || again.version() != 11)
        __builtin_trap();
    if (reparsed.chunked() != chunked || (!chunked && reparsed.content_length() != length))
        __builtin_trap();
    if (again.count(http::field::host) != 1 || again[http::field::host] != host)
        __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const route_snapshot& snap = snapshot();
    const head_limits limits{snap.settings.header_limit, snap.settings.request_line_limit};
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::string path;
    for (int pipelined = 0; pipelined < 8 && !input.empty(); ++pipelined) {
        request_parser parser;
        parser.header_limit(static_cast<uint32_t>(limits.header));
        parser.body_limit(boost::none);
        head_outcome head = parse_request_head(input, parser, limits);
        if (head.state != head_outcome::ready) {
            // A refusal is answered with one of the statuses the proxy sends, then the close.
            if (head.state == head_outcome::refuse && head.status != 400 && head.status != 405 &&
                head.status != 414 && head.status != 431 && head.status != 501 && head.status != 505)
                __builtin_trap();
            return 0;
        }
        input.remove_prefix(head.consumed);
        auto& req = parser.get();

        request_target target;
        if (split_request_target(req.target(), target) && normalize_path(target.path, path)) {
            // A normalised path is absolute and has no dot segments or doubled slashes left.
            if (path.empty() || path.front() != '/' || path.find("//") != std::string::npos)
                __builtin_trap();
            std::string_view host = target.authority;
            if (host.empty())
                host = req[http::field::host];
            route_match m = match_route(snap, host, path);
            if (!m.host || !m.loc)
                __builtin_trap();
            check_upstream_head(req, parser.chunked(), parser.content_length(), host, limits);
        }

        // The body, as the proxy streams it through a fixed scratch buffer.
        char scratch[512];
        for (size_t rounds = input.size() + 2; !parser.is_done(); --rounds) {
            if (rounds == 0)
                __builtin_trap();  // the parser stopped making progress
            parser.get().body().data = scratch;
            parser.get().body().size = sizeof scratch;
            boost::beast::error_code ec;
            size_t used = parser.put(boost::asio::const_buffer(input.data(), input.size()), ec);
            input.remove_prefix(used);
            if (ec == http::error::need_buffer)
                continue;
            if (ec || used == 0)
                return 0;
        }
        if (!req.keep_alive())
            return 0;
    }
    return 0;
}
