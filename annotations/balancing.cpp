#include "annotations/balancing.hpp"

#include "proxy/route_snapshot.hpp"

namespace sluice::annotations {
namespace {

// Cookie names and domains: letters, digits, '-', '_', '.'.
bool is_token(std::string_view s) { return only_chars(s, "-_."); }
bool is_cookie_path(std::string_view s) { return s.starts_with('/') && only_chars(s, "-_./~%"); }
bool is_connection_value(std::string_view s) { return only_chars(s, "-_., "); }

}  // namespace

void parse_balancing(annotation_reader& reader, ingress_annotations& out)
{
    balancing_config& b = out.balancing;
    if (auto v = reader.raw("load-balance")) {
        if (*v == "round_robin")
            b.load_balance = balance_kind::round_robin;
        else if (*v == "ewma")
            b.load_balance = balance_kind::ewma;
        else
            reader.invalid("load-balance", "\"" + std::string(*v) + "\" is not round_robin or ewma; ignored");
    }
    if (auto v = reader.raw("upstream-hash-by")) {
        std::string error;
        if (auto t = request_template::parse(*v, error))
            b.hash_by = std::make_shared<request_template>(std::move(*t));
        else
            reader.invalid("upstream-hash-by", error + "; ignored");
    }
    auto subset = reader.boolean("upstream-hash-by-subset");
    auto subset_size = reader.integer("upstream-hash-by-subset-size");
    if (subset.ok() && subset.value) {
        b.subset_size = 3;
        if (subset_size.ok()) {
            if (subset_size.value < 1 || subset_size.value > 1000)
                reader.invalid("upstream-hash-by-subset-size", std::to_string(subset_size.value) + " is out of range (1-1000); 3 used");
            else
                b.subset_size = static_cast<uint32_t>(subset_size.value);
        }
    }

    if (auto v = reader.raw("affinity")) {
        if (*v != "cookie") {
            reader.invalid("affinity", "\"" + std::string(*v) + "\" is not a supported affinity type (cookie); ignored");
        } else {
            auto c = std::make_shared<affinity_cookie>();
            if (auto mode = reader.raw("affinity-mode")) {
                if (*mode == "persistent")
                    c->persistent = true;
                else if (*mode != "balanced")
                    reader.invalid("affinity-mode", "\"" + std::string(*mode) + "\" is not balanced or persistent; balanced used");
            }
            if (auto n = reader.string("session-cookie-name", is_token, "a cookie name"); n.ok())
                c->name = n.value;
            if (auto n = reader.string("session-cookie-path", is_cookie_path, "a path"); n.ok())
                c->path = n.value;
            if (auto n = reader.string("session-cookie-domain", is_token, "a domain"); n.ok())
                c->domain = n.value;
            if (auto n = reader.raw("session-cookie-samesite")) {
                if (*n == "None" || *n == "Lax" || *n == "Strict")
                    c->samesite = std::string(*n);
                else
                    reader.invalid("session-cookie-samesite", "\"" + std::string(*n) + "\" is not None, Lax or Strict; ignored");
            }
            auto seconds = [&](const char* name, std::optional<uint64_t>& into) {
                auto n = reader.integer(name);
                if (!n.ok())
                    return;
                if (n.value < 0)
                    reader.invalid(name, "a negative number of seconds; ignored");
                else
                    into = static_cast<uint64_t>(n.value);
            };
            seconds("session-cookie-expires", c->expires);
            seconds("session-cookie-max-age", c->max_age);
            if (auto n = reader.boolean("session-cookie-secure"); n.ok())
                c->secure = n.value;
            if (auto n = reader.boolean("session-cookie-change-on-failure"); n.ok())
                c->change_on_failure = n.value;
            b.affinity = std::move(c);
        }
    }
    if (auto v = reader.boolean("service-upstream"); v.ok())
        b.service_upstream = v.value;
    if (auto v = reader.raw("proxy-next-upstream")) {
        if (auto mask = parse_next_upstream(*v))
            b.next_upstream = *mask;
        else
            reader.invalid("proxy-next-upstream",
                           "\"" + std::string(*v) +
                               "\" is not a list of error, timeout, invalid_header, http_500, http_502, http_503, "
                               "http_504, http_403, http_404, http_429, non_idempotent, or off; ignored");
    }
    if (auto v = reader.integer("proxy-next-upstream-timeout"); v.ok()) {
        if (v.value < 0 || v.value > 86400)
            reader.invalid("proxy-next-upstream-timeout", std::to_string(v.value) + " is out of range (0-86400 seconds); ignored");
        else
            b.next_upstream_timeout = std::chrono::seconds(v.value);
    }
    if (auto v = reader.string("connection-proxy-header", is_connection_value, "a Connection header value"); v.ok())
        b.connection_header = v.value;
}

}  // namespace sluice::annotations
