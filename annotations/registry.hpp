#pragma once
// Every annotation group sluice reads, in one list, and the entry point that runs them all over an
// Ingress's annotations.
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "annotations/ingress_annotations.hpp"

namespace sluice::annotations {

struct annotation_group {
    const char* name;
    std::span<const char* const> keys;
    void (*parse)(annotation_reader&, ingress_annotations&);
};

// The groups sluice applies, in the order they run.
std::span<const annotation_group> registry();

// ingress-nginx annotations sluice knows but does not apply yet (ignored with one diagnostic).
bool is_known_unsupported(std::string_view name);

// Runs every group. Unknown keys under the prefix, and known ones not applied yet, each get one
// diagnostic per Ingress listing them.
ingress_annotations parse_ingress_annotations(const std::map<std::string, std::string>& annotations,
                                              std::string_view prefix);

}  // namespace sluice::annotations
