#pragma once
#include <nlohmann/json.hpp>

#include "proxy/route_snapshot.hpp"

namespace sluice {
// The snapshot as /debug/config shows it.
nlohmann::json snapshot_to_json(const route_snapshot& snap);
}  // namespace sluice
