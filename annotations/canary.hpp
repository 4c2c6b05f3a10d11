#pragma once
#include "annotations/ingress_annotations.hpp"

namespace sluice::annotations {
// canary, canary-by-header, canary-by-header-value, canary-by-header-pattern, canary-by-cookie,
// canary-weight, canary-weight-total (ingress-nginx annotations/canary).
void parse_canary(annotation_reader& reader, ingress_annotations& out);
}  // namespace sluice::annotations
