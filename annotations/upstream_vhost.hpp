#pragma once
#include "annotations/ingress_annotations.hpp"

namespace sluice::annotations {
// upstream-vhost: the Host field sent upstream instead of the client's.
void parse_upstream_vhost(annotation_reader& reader, ingress_annotations& out);
}  // namespace sluice::annotations
