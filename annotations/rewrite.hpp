#pragma once
#include "annotations/ingress_annotations.hpp"

namespace sluice::annotations {
// rewrite-target, use-regex, app-root, x-forwarded-prefix (ingress-nginx annotations/rewrite and
// annotations/xforwardedprefix).
void parse_rewrite(annotation_reader& reader, ingress_annotations& out);
}  // namespace sluice::annotations
