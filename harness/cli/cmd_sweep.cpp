// `kvbench sweep CONFIG --db results.db [--shard i/n] [--dry-run] [--rerun-failed] [--force]` — runs
// every configuration of a YAML/JSON sweep config into the SQLite results store, resuming where a
// previous run stopped (harness/eval/sweep.h). Try: kvbench sweep configs/quickstart.yaml --dry-run.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/single_run.h"
#include "core/error.h"
#include "core/log.h"
#include "eval/sweep.h"
#include "store/provenance.h"

namespace kvb::cli {
namespace {

struct SweepArgs {
  std::string config, db, shard = "0/1";
  bool dry_run = false, rerun_failed = false, force = false;
  SharedPrefillArgs shared;
  double progress_interval = 15.0;
};

void print_summary(const SweepConfig& c, const SweepSummary& s, const std::string& db) {
  fmt::print(
      "sweep {}: {} configurations | {} cases run ({} ok, {} errors, {} skipped) from {} prefills | {} already "
      "stored | {} left to other shards | {} configurations failed to start | {:.1f}s | {} (run {}){}\n",
      c.name.empty() ? c.source : c.name, s.configs, s.ran, s.ok, s.errors, s.skipped, s.prefills, s.already_stored,
      s.other_shards,
      s.config_errors, s.seconds, db, s.run_id, s.interrupted ? " | interrupted" : "");
}

void run_sweep_cmd(const SweepArgs& a, const std::vector<std::string>& argv) {
  const Shard shard = parse_shard(a.shard);
  KVB_CHECK(!(a.force && a.rerun_failed), "--force recomputes everything; --rerun-failed is implied");
  SweepConfig config = load_sweep_config(a.config);  // every problem listed before any work
  if (a.dry_run) {
    std::unique_ptr<ResultsStore> store;
    if (!a.db.empty() && std::filesystem::exists(a.db)) store = std::make_unique<ResultsStore>(a.db, true);
    fmt::print("{}", plan_sweep(config, store.get(), shard, !a.shared.off).describe(config, shard));
    return;
  }
  KVB_CHECK(!a.db.empty(), "--db: give the results database to write (e.g. --db results/results.db)");
  ResultsStore store(a.db);
  SweepOptions opt;
  opt.shard = shard;
  opt.rerun_failed = a.rerun_failed;
  opt.force = a.force;
  opt.quiet = log_level() == LogLevel::Quiet;
  opt.command = "sweep";
  opt.argv = argv;
  opt.progress_interval_seconds = a.progress_interval;
  apply_shared_prefill_options(a.shared, opt);
  SweepSummary s = run_sweep(config, store, opt);
  print_summary(config, s, a.db);
  if (s.interrupted) exit_code() = 130;
}

}  // namespace

// Shared with cmd_run.cpp.
void print_sweep_summary(const SweepConfig& c, const SweepSummary& s, const std::string& db) {
  print_summary(c, s, db);
}

namespace {
KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<SweepArgs>();
  auto* cmd = app.add_subcommand("sweep", "Run a sweep config (every list a grid axis) into a SQLite results database");
  cmd->add_option("config", a->config, "Sweep config (.yaml, .yml or .json; see configs/)")->required();
  cmd->add_option("--db", a->db, "Results database (created if missing; resumed if present)");
  cmd->add_option("--shard", a->shard, "Run part i of n (0 <= i < n), balanced by expected cost")
      ->capture_default_str();
  cmd->add_flag("--dry-run", a->dry_run, "Print the grid size and an estimated time; run nothing");
  cmd->add_flag("--rerun-failed", a->rerun_failed, "Run cases stored with status error again");
  cmd->add_flag("--force", a->force, "Recompute every case, replacing stored results");
  add_shared_prefill_options(cmd, a->shared);
  cmd->add_option("--progress-interval", a->progress_interval,
                  "Seconds between progress lines when stderr is not a terminal")
      ->capture_default_str();
  cmd->callback([a] { run_sweep_cmd(*a, process_argv()); });
});
}  // namespace
}  // namespace kvb::cli
