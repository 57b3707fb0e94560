// `kvbench eval --model M --task ID [--method snapkv --ratio 0.5] [--param k=v ...] --length N --n 50`
// — one configuration (the flags and --param rule of `kvbench run`, cli/single_run.h) run by the
// sweep's code path into an in-memory results store, printed as the mean score with a 95%
// bootstrap interval (reports/stats.h), optionally written as JSON per case.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/single_run.h"
#include "core/log.h"
#include "eval/runner.h"
#include "eval/sweep.h"
#include "reports/stats.h"
#include "store/provenance.h"
#include "kvb_git_commit.h"  // generated at build time: KVB_GIT_COMMIT

namespace kvb::cli {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

struct EvalArgs {
  SingleRunArgs run;
  std::string json_path, export_kvpress;
  int show = 0;
};

// kvpress's dataset rows, to replay the same cases in kvpress.
void export_kvpress_rows(const SweepConfig& config, const std::string& path) {
  const SweepCell cell = expand_grid(config).at(0);
  const SweepModel& m = config.models[0];
  Checkpoint ck = load_checkpoint(m.path);
  auto tok = make_tokenizer(ck.tokenizer);
  const TaskEnv env{tok.get(), resolve_chat_format(m.chat_template, ck.chat_template)};
  const std::vector<Case> cases = generate_cases(cell.task, cell.task_params, cell.seed, env);
  std::ofstream f(path);
  KVB_CHECK(f.good(), "{}: cannot write", path);
  for (const Case& c : cases)
    f << json{{"id", c.id},
              {"context", c.context},
              {"question", c.question},
              {"answer_prefix", c.answer_prefix},
              {"answer", c.answers},
              {"max_new_tokens", c.max_new_tokens}}
             .dump()
      << "\n";
  fmt::print("{} cases of {} written as kvpress rows to {}\n", cases.size(), cell.task, path);
}

// One configuration's rows as read back from the store.
struct ConfigRows {
  json canonical;
  std::vector<double> scores;
  json rows = json::array();
  int64_t errors = 0, skipped = 0;
  std::string first_error;
  double nll_sum = 0;  // perplexity rows: NLL of every scored continuation token (nats)
  int64_t nll_tokens = 0;
  double attended_sum = 0;  // sparse prefill rows (minference): fraction of causal pairs attended
  int64_t attended_rows = 0;
};

std::string method_label(const json& m, bool query_aware) {
  const std::string id = m["id"];
  if (id == "full") return id;
  const int64_t budget = m["token_budget"];
  return fmt::format("{} {}{}", id,
                     budget > 0 ? fmt::format("budget {}", budget)
                                : fmt::format("ratio {}", m["compression_ratio"].get<double>()),
                     query_aware ? " query-aware" : "");
}

json config_json(const ConfigRows& c, const SweepConfig& config, double mean, const reports::Interval& ci) {
  const json& m = c.canonical["method"];
  return json{{"task", c.canonical["task"]["id"]},
              {"task_version", c.canonical["task"]["version"]},
              {"params", c.canonical["task"]["params"]},
              {"seed", c.canonical["seed"]},
              {"model", config.models[0].path.string()},
              {"method", m["id"]},
              {"method_version", m["version"]},
              {"method_params", m["params"]},
              {"compression_ratio", m["compression_ratio"]},
              {"token_budget", m["token_budget"]},
              {"query_aware", c.canonical["mode"] == "query_aware"},
              {"commit", KVB_GIT_COMMIT},
              {"mean", mean},
              {"ci95", {ci.lo, ci.hi}},
              {"errors", c.errors},
              {"skipped", c.skipped},
              {"cases", c.rows}};
}

void run_eval(const EvalArgs& a) {
  const SweepConfig config = single_run_config(a.run, "kvbench eval");
  if (!a.export_kvpress.empty()) return export_kvpress_rows(config, a.export_kvpress);

  // Secondary scores and predictions come from the sweep's per-case callback; everything else is
  // read back from the store, as `kvbench run` would have stored it.
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<std::string, double>>> extra_scores;
  int shown = 0;
  const bool tty = isatty(STDERR_FILENO);
  SweepOptions opt;
  opt.quiet = log_level() == LogLevel::Quiet;
  opt.command = "eval";
  opt.argv = process_argv();
  apply_shared_prefill_options(a.run.shared, opt);
  opt.on_case_result = [&](const std::string& config_hash, const Case& c, const CaseResult& r) {
    extra_scores[{config_hash, c.id}] = r.extra_scores;
    if (shown++ < a.show)
      fmt::print(stderr, "{}{} score {:.0f} | answers: {} | prediction: {}\n", tty ? "\r\033[K" : "", c.id, r.score,
                 fmt::join(c.answers, " / "), r.prediction);
  };
  ResultsStore store(":memory:");
  const SweepSummary sum = run_sweep(config, store, opt);

  Statement q = store.prepare(
      "SELECT s.case_id, s.status, s.reason, s.score, s.prediction, s.answers, s.prompt_tokens, s.generated_tokens, "
      "s.prefill_seconds, s.decode_seconds, s.method_seconds, s.kept_tokens, s.kv_resident_bytes, "
      "s.kv_nominal_bytes, c.canonical_json, s.config_hash, s.decode_read_entries_mean, s.decode_read_bytes_mean, "
      "s.token_nll, s.case_meta FROM samples s JOIN configs c USING (config_hash) "
      "ORDER BY s.rowid");
  // As Checkpoint::name(): a .gguf file's stem, a Hugging Face directory's name.
  const fs::path& model_path = config.models[0].path;
  const std::string model_name =
      fs::is_directory(model_path) ? model_path.filename().string() : model_path.stem().string();
  std::vector<std::string> order;  // config hashes in the order their first row was stored
  std::map<std::string, ConfigRows> by_config;
  int64_t errors = 0;
  while (q.step()) {
    const std::string hash = q.text(15);
    if (!by_config.count(hash)) order.push_back(hash);
    ConfigRows& c = by_config[hash];
    c.canonical = json::parse(q.text(14));
    const std::string status = q.text(1);
    // A configuration that could not start (model, backend, task parameters) is the command's error.
    KVB_CHECK(q.text(0) != "*", "{}", q.text(2));
    if (status != "ok") {
      (status == "error" ? c.errors : c.skipped) += 1;
      if (c.first_error.empty()) c.first_error = q.text(0) + ": " + q.text(2);
      continue;
    }
    c.scores.push_back(q.real(3));
    if (!q.text(18).empty())
      for (const auto& x : json::parse(q.text(18)))
        if (x.is_number()) c.nll_sum += x.get<double>(), ++c.nll_tokens;
    json row = {{"case_id", q.text(0)},          {"score", q.real(3)},
                {"prediction", q.text(4)},       {"answers", json::parse(q.text(5))},
                {"prompt_tokens", q.integer(6)}, {"generated_tokens", q.integer(7)},
                {"prefill_seconds", q.real(8)},  {"decode_seconds", q.real(9)},
                {"method_seconds", q.real(10)},  {"kept_tokens", q.integer(11)},
                {"kv_resident_bytes", q.integer(12)}, {"kv_nominal_bytes", q.integer(13)},
                {"decode_read_entries_mean", q.real(16)}, {"decode_read_bytes_mean", q.real(17)}};
    const json meta = json::parse(q.text(19), nullptr, false);
    if (meta.is_object() && meta.contains("prefill_attended")) {
      row["prefill_attended"] = meta["prefill_attended"]["fraction"];
      c.attended_sum += meta["prefill_attended"]["fraction"].get<double>();
      ++c.attended_rows;
    }
    for (const auto& [scorer, value] : extra_scores[{hash, q.text(0)}]) row[scorer] = value;
    if (!q.text(19).empty()) {  // a selector index's inner products per decode step (retrieval_attention)
      const json meta = json::parse(q.text(19), nullptr, false);
      if (meta.is_object() && meta.contains("decode_index_reads_mean"))
        row["decode_index_reads_mean"] = meta["decode_index_reads_mean"];
    }
    c.rows.push_back(std::move(row));
  }
  json configs = json::array();
  for (const std::string& hash : order) {
    const ConfigRows& c = by_config[hash];
    errors += c.errors;
    const reports::Interval ci = reports::bootstrap_mean_ci(c.scores);
    const double mean = c.scores.empty() ? 0.0 : reports::mean(c.scores);
    const json& task_params = c.canonical["task"]["params"];
    const bool symbolic = task_params.value("form", "") == "symbolic";  // the oracle's form (chosen by itself)
    fmt::print("{} v{}{} | model {} | method {} | {} cases | score {:.1f} (95% CI {:.1f}-{:.1f}){}{} | {:.1f}s{}\n",
               c.canonical["task"]["id"].get<std::string>(), c.canonical["task"]["version"].get<int>(),
               symbolic ? " form=symbolic" : "", model_name,
               method_label(c.canonical["method"], c.canonical["mode"] == "query_aware"), c.scores.size(), mean,
               c.scores.empty() ? 0.0 : ci.lo, c.scores.empty() ? 0.0 : ci.hi,
               c.nll_tokens > 0 ? fmt::format(" | perplexity {:.3f} (mean NLL {:.4f} nats over {} tokens)",
                                              std::exp(c.nll_sum / double(c.nll_tokens)),
                                              c.nll_sum / double(c.nll_tokens), c.nll_tokens)
                                : "",
               c.attended_rows > 0 ? fmt::format(" | prefill attended {:.1f}% of causal pairs",
                                                 100.0 * c.attended_sum / double(c.attended_rows))
                                   : "",
               sum.seconds,
               c.errors + c.skipped
                   ? fmt::format(" | {} errors, {} skipped (first: {})", c.errors, c.skipped, c.first_error)
                   : "");
    configs.push_back(config_json(c, config, mean, ci));
  }
  if (order.size() > 1 || a.run.questions > 1)  // several methods, or several questions per context
    fmt::print("{} configuration{} from {} prefill{} ({:.1f}s in all){}\n", order.size(), order.size() == 1 ? "" : "s",
               sum.prefills, sum.prefills == 1 ? "" : "s", sum.seconds,
               opt.shared_prefill ? "" : "; --no-shared-prefill");
  if (!a.json_path.empty()) {
    std::ofstream f(a.json_path);
    KVB_CHECK(f.good(), "{}: cannot write", a.json_path);
    // One configuration: its object; several: {"configs": [...]}.
    const json out = configs.size() == 1 ? configs[0] : json{{"configs", configs}};
    f << out.dump(2) << "\n";
  }
  if (errors > 0) exit_code() = 1;
  if (sum.interrupted) exit_code() = 130;
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "Run a task's cases through a model with a KV-compression method and score them");
  add_single_run_options(cmd, a->run);
  cmd->add_option("--show", a->show, "Print the first N predictions next to their answers");
  cmd->add_option("--json", a->json_path, "Write per-case results as JSON");
  cmd->add_option("--export-kvpress", a->export_kvpress,
                  "Write the generated cases as kvpress dataset rows (jsonl) and exit without running them");
  cmd->callback([a] { run_eval(*a); });
});

}  // namespace
}  // namespace kvb::cli
