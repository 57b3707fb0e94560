// `kvbench oracle-check --model builtin:oracle --task niah_single --length 16384 --n 20` — runs a
// task's symbolic cases (form=symbolic; mqar: seq_len = --length, fill without random ids) with full
// attention through eval/symbolic_runner.h and prints the label accuracy. docs/oracle.md.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "core/error.h"
#include "core/log.h"
#include "core/threads.h"
#include "core/timer.h"
#include "eval/runner.h"
#include "eval/symbolic_runner.h"
#include "model/model_path.h"
#include "reports/stats.h"

namespace kvb::cli {
namespace {

struct OracleCheckArgs {
  std::string model = "builtin:oracle", task, weights = "native";
  std::vector<std::string> params;
  EngineOptions engine;
  int length = 0, n = 0, show = 0;
  uint64_t seed = 0;
};

void run_oracle_check(const OracleCheckArgs& a) {
  set_num_threads(a.engine.threads);
  const TaskInfo& info = find_task(a.task);
  auto declares = [&](const std::string& key) {
    for (const auto& p : info.params)
      if (p.name == key) return true;
    return false;
  };
  TaskParams user;
  for (const auto& kv : a.params) user.set_from_string(kv);
  if (declares("form") && !user.has("form")) user.set("form", "symbolic");
  if (declares("random_non_queries") && !user.has("random_non_queries")) user.set("random_non_queries", "false");
  if (a.length > 0) {
    const char* key = declares("length") ? "length" : declares("seq_len") ? "seq_len" : nullptr;
    KVB_CHECK(key, "--length: task '{}' has neither 'length' nor 'seq_len'", info.id);
    user.set(key, std::to_string(a.length));
  }
  if (a.n > 0) {
    KVB_CHECK(declares("num_samples"), "--n: task '{}' has no 'num_samples' parameter", info.id);
    user.set("num_samples", std::to_string(a.n));
  }
  resolve_params(info, user);

  Stopwatch load_sw;
  Checkpoint ck = load_checkpoint(resolve_model_path(a.model));
  if (a.weights == "f32") ck.weights.dequantize_all();
  auto tok = make_tokenizer(ck.tokenizer);
  log_info("loaded {} in {:.2f}s", ck.path.string(), load_sw.seconds());
  TaskEnv env{tok.get(), {}};
  std::vector<Case> cases = generate_cases(info.id, user, a.seed, env);
  KVB_CHECK(!cases.empty(), "task {}: no cases", info.id);
  KVB_CHECK(!cases[0].input_ids.empty(), "task {}: cases are not symbolic (set form=symbolic)", info.id);

  Transformer model(ck.config, ck.weights, a.engine);
  std::vector<double> scores;
  int hits = 0, targets = 0, exact = 0;
  int64_t tokens = 0;
  Stopwatch total;
  for (size_t i = 0; i < cases.size(); ++i) {
    SymbolicRun r = run_symbolic_case(model, cases[i], tok.get());
    scores.push_back(r.result.score);
    hits += r.result.hits, targets += r.result.targets, exact += r.result.hits == r.result.targets;
    tokens += r.prompt_tokens;
    log_info("[{}/{}] {} score {:.1f} ({}/{}) | {} tokens | prefill {:.2f}s, question {:.2f}s", i + 1, cases.size(),
             cases[i].id, r.result.score, r.result.hits, r.result.targets, r.prompt_tokens, r.prefill_seconds,
             r.result.seconds);
    if (int(i) < a.show)
      fmt::print(stderr, "  answers: {} | prediction: {}\n", fmt::join(cases[i].answers, " / "), r.result.prediction);
  }
  const reports::Interval ci = reports::bootstrap_mean_ci(scores);
  fmt::print("{} v{} symbolic{} | model {} | full attention | {} cases, {} tokens each (mean) | label accuracy {:.2f}% "
             "({}/{}) | cases all correct {}/{} | score {:.1f} (95% CI {:.1f}-{:.1f}) | {:.1f}s\n",
             info.id, info.version, a.params.empty() ? "" : " " + fmt::format("{}", fmt::join(a.params, " ")),
             ck.name(), cases.size(), tokens / int64_t(cases.size()),
             targets ? 100.0 * hits / targets : 0.0, hits, targets, exact, cases.size(), reports::mean(scores), ci.lo, ci.hi,
             total.seconds());
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<OracleCheckArgs>();
  auto* cmd = app.add_subcommand("oracle-check", "Score a task's symbolic cases with full attention (recall oracle)");
  cmd->add_option("-m,--model", a->model, "Model (default builtin:oracle)")->capture_default_str();
  cmd->add_option("--task", a->task, "Task id: niah_* or mqar")->required();
  cmd->add_option("--param", a->params, "Task parameter key=value (repeatable)");
  cmd->add_option("--length", a->length, "Tokens per case (the task's 'length', or mqar's 'seq_len')");
  cmd->add_option("--n", a->n, "Number of cases (the task's 'num_samples')");
  cmd->add_option("--seed", a->seed, "Task seed")->capture_default_str();
  add_engine_options(cmd, a->engine, &a->weights);
  cmd->add_option("--show", a->show, "Print the first N predictions next to their answers");
  cmd->callback([a] { run_oracle_check(*a); });
});

}  // namespace
}  // namespace kvb::cli
