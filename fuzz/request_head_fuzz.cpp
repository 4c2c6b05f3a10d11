// The downstream request path on raw client bytes, as the proxy runs it on a connection: the
// header stage (raw-byte scan, limits, Beast's parse, the smuggling checks), the request target
// split and normalised, routed against a snapshot with plain, wildcard and regex hosts, then the
// body framed by the parser (fixed length or chunked), and the next pipelined request.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_common.hpp"
#include "proxy/forward_headers.hpp"
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
            request_head upstream = req;
            remove_hop_by_hop(upstream);
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
