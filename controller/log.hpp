#pragma once
// Log lines go to stderr, one write(2) per line so that lines from different threads never
// interleave. Diagnostics about user objects are also kept on the snapshot for /debug/config.
#include <string_view>

namespace sluice {

enum class log_level { error = 0, warning = 1, info = 2, debug = 3 };

void set_log_level(log_level level);
bool log_enabled(log_level level);
void log_line(log_level level, std::string_view message);

inline void log_error(std::string_view m) { log_line(log_level::error, m); }
inline void log_warning(std::string_view m) { log_line(log_level::warning, m); }
inline void log_info(std::string_view m) { log_line(log_level::info, m); }

}  // namespace sluice
