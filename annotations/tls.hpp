#pragma once
#include "annotations/ingress_annotations.hpp"

namespace sluice::annotations {
// ssl-redirect, force-ssl-redirect, preserve-trailing-slash, use-port-in-redirects.
void parse_ssl_redirect(annotation_reader& reader, ingress_annotations& out);
// backend-protocol, proxy-ssl-verify, proxy-ssl-verify-depth, proxy-ssl-name,
// proxy-ssl-server-name, proxy-ssl-secret.
void parse_backend_tls(annotation_reader& reader, ingress_annotations& out);
}  // namespace sluice::annotations
