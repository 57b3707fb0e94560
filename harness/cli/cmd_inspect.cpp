// `kvbench inspect DB [--errors N]` — what a results database holds: its runs (provenance, finished
// or not), configurations with completion and mean score, and the stored errors. Read-only.
// tests/test_sweep.cpp (SweepCli*).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "store/results_store.h"

namespace kvb::cli {
namespace {

struct InspectArgs {
  std::string db;
  int errors = 10;
};

std::string budget_text(const std::string& method, double ratio, int64_t tokens) {
  if (method == "full") return "-";
  return tokens > 0 ? fmt::format("{} tok", tokens) : fmt::format("r{}", ratio);
}

void run_inspect(const InspectArgs& a) {
  ResultsStore store(a.db, true);
  auto count = [&](const std::string& sql) {
    Statement q = store.prepare(sql);
    return q.step() ? q.integer(0) : int64_t(0);
  };
  fmt::print("{}: schema {}, {} runs, {} configurations, {} samples ({} ok, {} errors, {} skipped)\n", a.db,
             store.schema_version(), count("SELECT count(*) FROM runs"), count("SELECT count(*) FROM configs"),
             count("SELECT count(*) FROM samples"), count("SELECT count(*) FROM samples WHERE status = 'ok'"),
             count("SELECT count(*) FROM samples WHERE status = 'error'"),
             count("SELECT count(*) FROM samples WHERE status = 'skipped'"));

  fmt::print("\nruns:\n");
  {
    Statement q = store.prepare(
        "SELECT r.run_id, r.started_at, r.ended_at, r.status, r.command, r.argv, r.shard, r.git_commit, r.git_dirty, "
        "r.build_type, r.host, r.cpu_model, r.gpu, (SELECT count(*) FROM samples s WHERE s.run_id = r.run_id) "
        "FROM runs r ORDER BY r.run_id");
    while (q.step()) {
      std::string status = q.text(3);
      if (q.is_null(2) && status == "running") status = "running or killed (no end recorded)";
      std::string argv;
      auto j = nlohmann::json::parse(q.text(5), nullptr, false);
      if (j.is_array())
        for (const auto& s : j) argv += (argv.empty() ? "" : " ") + s.get<std::string>();
      fmt::print("  #{} {} -> {} | {} | {} samples | commit {}{} {} | {} | {}{}\n    {}\n", q.integer(0), q.text(1),
                 q.is_null(2) ? "?" : q.text(2), status, q.integer(13), q.text(7), q.integer(8) ? " (dirty)" : "",
                 q.text(9), q.text(10), q.text(11), q.text(12).empty() ? "" : " | GPU " + q.text(12),
                 argv.empty() ? q.text(4) : argv);
    }
  }

  fmt::print("\nconfigurations (done = stored / expected):\n");
  fmt::print("  {:<16} {:<28} {:<14} {:<8} {:<14} {:<16} {:>6} {:>5} {:>9} {:>4} {:>4} {:>4} {:>6}\n", "hash", "model",
             "method", "budget", "mode", "task", "length", "seed", "done", "ok", "err", "skip", "score");
  {
    Statement q = store.prepare(
        "SELECT s.config_hash, s.model_name, s.method, s.compression_ratio, s.token_budget, s.mode, s.task, s.length, "
        "s.seed, s.n, s.errors, s.skipped, s.mean_score, "
        "(SELECT MAX(expected_cases) FROM run_configs r WHERE r.config_hash = s.config_hash), "
        "(SELECT count(*) FROM samples x WHERE x.config_hash = s.config_hash AND x.case_id <> '*') "
        "FROM config_summary s ORDER BY s.model_name, s.task, s.length, s.method, s.compression_ratio, "
        "s.token_budget, s.mode, s.seed");
    while (q.step()) {
      const std::string expected = q.is_null(13) ? "?" : std::to_string(q.integer(13));
      fmt::print("  {:<16} {:<28} {:<14} {:<8} {:<14} {:<16} {:>6} {:>5} {:>9} {:>4} {:>4} {:>4} {:>6}\n", q.text(0),
                 q.text(1).substr(0, 28), q.text(2), budget_text(q.text(2), q.real(3), q.integer(4)), q.text(5),
                 q.text(6), q.integer(7), q.integer(8), fmt::format("{}/{}", q.integer(14), expected), q.integer(9),
                 q.integer(10), q.integer(11), q.is_null(12) ? std::string("-") : fmt::format("{:.1f}", q.real(12)));
    }
  }

  const int64_t n_errors = count("SELECT count(*) FROM samples WHERE status <> 'ok'");
  if (n_errors > 0 && a.errors > 0) {
    fmt::print("\nerrors and skips ({} of {}; --rerun-failed retries errors):\n", std::min<int64_t>(n_errors, a.errors),
               n_errors);
    Statement q = store.prepare(
        "SELECT config_hash, case_id, status, reason FROM samples WHERE status <> 'ok' ORDER BY finished_at LIMIT ?");
    q.bind(1, int64_t(a.errors));
    while (q.step())
      fmt::print("  {} {} {}: {}\n", q.text(0), q.text(1) == "*" ? "(whole configuration)" : q.text(1), q.text(2),
                 q.text(3));
  }
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<InspectArgs>();
  auto* cmd = app.add_subcommand("inspect", "Show a results database: runs, configurations with completion, errors");
  cmd->add_option("db", a->db, "Results database")->required();
  cmd->add_option("--errors", a->errors, "Errors to list")->capture_default_str();
  cmd->callback([a] { run_inspect(*a); });
});

}  // namespace
}  // namespace kvb::cli
