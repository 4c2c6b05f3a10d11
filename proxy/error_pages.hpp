#pragma once
#include <string_view>

namespace sluice {
// The small HTML body sluice sends with a status it generates itself (404, 502, ...).
std::string_view error_page(unsigned status);
}  // namespace sluice
