// `kvbench run --model M --task ID [--method snapkv --ratio 0.5] [--length N --n 20] --db results.db`
// — one configuration from flags (the same flags and --param rule as `kvbench eval`), stored and
// resumed like a one-cell sweep (harness/eval/sweep.h).
// Try: kvbench run --model stories260K --task niah_single --length 300 --n 3 --db r.db
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/single_run.h"
#include "core/error.h"
#include "core/log.h"
#include "eval/sweep.h"
#include "store/provenance.h"

namespace kvb::cli {

void print_sweep_summary(const SweepConfig& c, const SweepSummary& s, const std::string& db);  // cmd_sweep.cpp

namespace {

struct RunArgs {
  SingleRunArgs run;
  std::string db;
  bool rerun_failed = false, force = false;
};

void run_cmd(const RunArgs& a) {
  KVB_CHECK(!(a.force && a.rerun_failed), "--force recomputes everything; --rerun-failed is implied");
  const SweepConfig config = single_run_config(a.run, "kvbench run");
  ResultsStore store(a.db);
  SweepOptions opt;
  opt.rerun_failed = a.rerun_failed;
  opt.force = a.force;
  opt.quiet = log_level() == LogLevel::Quiet;
  opt.command = "run";
  opt.argv = process_argv();
  apply_shared_prefill_options(a.run.shared, opt);
  SweepSummary s = run_sweep(config, store, opt);
  print_sweep_summary(config, s, a.db);
  // Each configuration's mean score over its stored ok cases.
  Statement q = store.prepare(
      "SELECT s.n, s.mean_score, s.errors, s.skipped, c.method, c.compression_ratio, c.token_budget "
      "FROM config_summary s JOIN configs c USING (config_hash) WHERE s.config_hash IN "
      "(SELECT config_hash FROM run_configs WHERE run_id = ?) ORDER BY c.method, c.compression_ratio, c.token_budget");
  q.bind(1, s.run_id);
  while (q.step()) {
    const std::string method = q.text(4);
    const std::string budget = method == "full"     ? ""
                               : q.integer(6) > 0   ? fmt::format(" budget {}", q.integer(6))
                                                    : fmt::format(" ratio {}", q.real(5));
    fmt::print("{} | {}{} | {} ok cases stored | mean score {:.1f} | {} errors | {} skipped\n", config.tasks[0].id,
               method, budget, q.integer(0), q.is_null(1) ? 0.0 : q.real(1), q.integer(2), q.integer(3));
  }
  // A configuration that could not start (stored as one error row) is this command's error.
  KVB_CHECK(s.first_config_error.empty(), "{} (stored in {} as the configuration's error row)", s.first_config_error,
            a.db);
  if (s.interrupted) exit_code() = 130;
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Run one configuration (like eval) and store its cases in a results database");
  add_single_run_options(cmd, a->run);
  cmd->add_option("--db", a->db, "Results database (created if missing; resumed if present)")->required();
  cmd->add_flag("--rerun-failed", a->rerun_failed, "Run cases stored with status error again");
  cmd->add_flag("--force", a->force, "Recompute every case, replacing stored results");
  cmd->callback([a] { run_cmd(*a); });
});

}  // namespace
}  // namespace kvb::cli
