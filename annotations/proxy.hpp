#pragma once
#include "annotations/ingress_annotations.hpp"

namespace sluice::annotations {
// proxy-connect-timeout, proxy-send-timeout, proxy-read-timeout (integer seconds),
// proxy-body-size, client-body-buffer-size (nginx sizes), proxy-next-upstream-tries (ingress-nginx
// annotations/proxy). An invalid value keeps the ConfigMap's.
void parse_proxy(annotation_reader& reader, ingress_annotations& out);
}  // namespace sluice::annotations
