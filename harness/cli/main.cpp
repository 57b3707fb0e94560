// kvbench command-line entry point: one subcommand per file in harness/cli/ (CLI11).
// Bad input anywhere ends with one "error: ..." line and exit code 2.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "core/simd.h"
#include "backends/cpu/runtime_env.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "kvb_git_commit.h"  // generated at build time: KVB_GIT_COMMIT
#ifdef KVB_WITH_CUDA
#include "backends/cuda/cuda_forward.h"
#endif

int main(int argc, char** argv) {
  // OpenBLAS's kernels on a CPU it does not know, libgomp's passive waiting (not for `bench`): read
  // when the libraries load, so given by re-executing once (backends/cpu/runtime_env.h).
  kvb::cpu::settle_runtime_env(argv, kvb::cli::subcommand_of(argc, argv) == "bench");
  try {
    kvb::cpu::simd_level();  // a bad KVB_SIMD: one error here, before any kernel runs
  } catch (const kvb::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
#ifdef KVB_WITH_CUDA
  kvb::cuda::register_backend();  // --backend cuda
#endif
  CLI::App app{"kvbench: measure attention and KV-cache compression methods on long-context tasks"};
  app.require_subcommand(1);
  app.fallthrough();  // -v / -q may follow the subcommand
  app.set_version_flag("--version", std::string(KVB_VERSION) + " (" + KVB_GIT_COMMIT + ")");
  bool verbose = false, quiet = false;
  app.add_flag("-v,--verbose", verbose, "Print debug messages");
  app.add_flag("-q,--quiet", quiet, "Print only results and errors");
  app.parse_complete_callback([&] {
    kvb::log_level() = quiet ? kvb::LogLevel::Quiet : verbose ? kvb::LogLevel::Debug : kvb::LogLevel::Info;
  });
  for (auto& reg : kvb::cli::command_registry()) reg(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "error: {} (see --help)\n", e.what());
    return 2;
  } catch (const kvb::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "error: out of memory\n");
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  return kvb::cli::exit_code();
}
