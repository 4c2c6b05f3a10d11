#pragma once
#include "annotations/ingress_annotations.hpp"

namespace sluice::annotations {
// temporal-redirect(-code), permanent-redirect(-code), from-to-www-redirect (ingress-nginx
// annotations/redirect). A temporal redirect wins over a permanent one.
void parse_redirect(annotation_reader& reader, ingress_annotations& out);
}  // namespace sluice::annotations
