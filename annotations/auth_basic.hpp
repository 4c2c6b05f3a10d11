#pragma once
#include "annotations/ingress_annotations.hpp"

namespace sluice::annotations {
// auth-type, auth-secret, auth-secret-type, auth-realm (ingress-nginx annotations/auth).
void parse_auth_basic(annotation_reader& reader, ingress_annotations& out);
}  // namespace sluice::annotations
