#include "controller/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <unistd.h>

namespace sluice {
namespace {
// The one process-wide setting: stderr is itself process-wide.
std::atomic<int> g_level{static_cast<int>(log_level::info)};

char level_letter(log_level level)
{
    switch (level) {
    case log_level::error: return 'E';
    case log_level::warning: return 'W';
    case log_level::info: return 'I';
    case log_level::debug: return 'D';
    }
    return '?';
}
}  // namespace

void set_log_level(log_level level) { g_level.store(static_cast<int>(level)); }

bool log_enabled(log_level level) { return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed); }

void log_line(log_level level, std::string_view message)
{
    if (!log_enabled(level))
        return;
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char prefix[48];
    int n = std::snprintf(prefix, sizeof prefix, "%c%02d%02d %02d:%02d:%02d.%03d ", level_letter(level),
                          tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    std::string line;
    line.reserve(static_cast<size_t>(n) + message.size() + 1);
    line.append(prefix, static_cast<size_t>(n));
    line.append(message);
    line.push_back('\n');
    // A failed write to stderr has nowhere to be reported.
    [[maybe_unused]] auto ignored = ::write(2, line.data(), line.size());
}

}  // namespace sluice
