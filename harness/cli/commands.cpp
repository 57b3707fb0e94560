// Subcommand registry storage.
#include "cli/commands.h"

namespace kvb::cli {
std::vector<CommandRegistrar>& command_registry() {
  static std::vector<CommandRegistrar> registry;
  return registry;
}
int& exit_code() {
  static int code = 0;
  return code;
}
}  // namespace kvb::cli
