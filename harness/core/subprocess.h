// Running another program (no shell): argv in, exit code and captured stdout + stderr out; and
// finding a program on PATH. `kvbench slurm` runs sbatch, squeue and scancel this way
// (harness/cli/cmd_slurm.cpp); tests/test_slurm.cpp exercises it.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace kvb {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed by one; 127 when the program could not be started
  std::string output;  // stdout and stderr together
};

// Runs argv[0] (looked up on PATH when it has no '/') with the other elements as its arguments and
// waits for it. Never throws for the program's own failure; throws kvb::Error when argv is empty.
ProcessResult run_process(const std::vector<std::string>& argv);

// The executable `name` on PATH, or nullopt.
std::optional<std::filesystem::path> find_on_path(const std::string& name);

// `s` quoted for a POSIX shell: plain words stay as they are, anything else in single quotes.
std::string shell_quote(const std::string& s);

}  // namespace kvb
