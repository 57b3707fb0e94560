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
std::string_view subcommand_of(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (argv[i][0] != '-') return argv[i];
  return {};
}
}  // namespace kvb::cli
