// Process-wide log level.
#include "core/log.h"

namespace kvb {
LogLevel& log_level() {
  static LogLevel level = LogLevel::Info;
  return level;
}
}  // namespace kvb
