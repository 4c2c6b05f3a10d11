#pragma once
#include "annotations/ingress_annotations.hpp"

namespace sluice::annotations {
// configuration-snippet, server-snippet, stream-snippet, auth-snippet, modsecurity-snippet:
// raw nginx text. sluice never interprets user text as configuration: each is refused.
void refuse_snippets(annotation_reader& reader, ingress_annotations& out);
}  // namespace sluice::annotations
