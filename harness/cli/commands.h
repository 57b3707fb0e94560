// Subcommand registration: each harness/cli/cmd_*.cpp adds its subcommand with KVB_CLI_COMMAND.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string_view>
#include <vector>

namespace kvb::cli {

using CommandRegistrar = std::function<void(CLI::App&)>;
std::vector<CommandRegistrar>& command_registry();
// The process exit code a command asks for (0 unless set, e.g. 1 for a failed gate).
int& exit_code();
// The subcommand of a command line before parsing: its first argument that is not an option (-v / -q
// may precede it); "" when there is none.
std::string_view subcommand_of(int argc, char** argv);

struct CommandRegistration {
  explicit CommandRegistration(CommandRegistrar r) { command_registry().push_back(std::move(r)); }
};

}  // namespace kvb::cli

#define KVB_CLI_CONCAT2(a, b) a##b
#define KVB_CLI_CONCAT(a, b) KVB_CLI_CONCAT2(a, b)
#define KVB_CLI_COMMAND(fn) static ::kvb::cli::CommandRegistration KVB_CLI_CONCAT(kvb_cli_reg_, __LINE__)(fn)
