// Logging to stderr with a verbosity level set once by the CLI (--verbose / --quiet).
#pragma once
#include <fmt/format.h>

#include <cstdio>

namespace kvb {

enum class LogLevel { Quiet = 0, Info = 1, Debug = 2 };
LogLevel& log_level();

template <typename... Args>
void log_info(fmt::format_string<Args...> f, Args&&... args) {
  if (log_level() >= LogLevel::Info) fmt::print(stderr, "{}\n", fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_warn(fmt::format_string<Args...> f, Args&&... args) {
  if (log_level() >= LogLevel::Info) fmt::print(stderr, "warning: {}\n", fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_debug(fmt::format_string<Args...> f, Args&&... args) {
  if (log_level() >= LogLevel::Debug) fmt::print(stderr, "[debug] {}\n", fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace kvb
