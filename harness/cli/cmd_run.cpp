// `kvbench run --model M --task ID [--method snapkv --ratio 0.5] [--length N --n 20] --db results.db`
// — one configuration from flags (like `kvbench eval`), stored and resumed like a one-cell sweep
// (harness/eval/sweep.h). Try: kvbench run --model stories260K --task niah_single --length 300 --n 3 --db r.db
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "core/error.h"
#include "core/log.h"
#include "eval/sweep.h"
#include "store/provenance.h"

namespace kvb::cli {

void print_sweep_summary(const SweepConfig& c, const SweepSummary& s, const std::string& db);  // cmd_sweep.cpp

namespace {

struct RunArgs {
  std::string model, task, method = "full", chat_template = "auto", weights = "native", db, backend = "cpu", device_dtype = "bf16", matmul = "f32";
  std::vector<std::string> params, task_params, method_params;
  double ratio = 0.0;
  int64_t budget = 0;
  bool query_aware = false, rerun_failed = false, force = false;
  int length = 0, n = 0, threads = 0, prefill_chunk = 512;
  uint64_t seed = 0;
};

void run_cmd(const RunArgs& a) {
  using json = nlohmann::json;
  KVB_CHECK(!(a.force && a.rerun_failed), "--force recomputes everything; --rerun-failed is implied");
  const MethodInfo& minfo = lookup_method(a.method);
  const TaskInfo& tinfo = find_task(a.task);
  json task_params = json::object(), method_params = json::object();
  auto put = [](json& into, const std::string& kv) {
    Params one;
    one.set_from_string(kv);
    const auto& [k, v] = *one.values().begin();
    into[k] = v;
  };
  for (const auto& kv : a.task_params) put(task_params, kv);
  for (const auto& kv : a.method_params) put(method_params, kv);
  // --param goes to the task when it declares the key, else to the method.
  for (const auto& kv : a.params) {
    Params one;
    one.set_from_string(kv);
    const std::string key = one.values().begin()->first;
    bool task_declares = false;
    for (const auto& p : tinfo.params) task_declares |= p.name == key;
    put(task_declares ? task_params : method_params, kv);
  }
  json cfg = {
      {"name", "run"},
      {"models", json::array({{{"path", a.model}, {"chat_template", a.chat_template}, {"weights", a.weights}}})},
      {"methods", json::array({{{"id", minfo.id}, {"params", method_params}}})},
      {"tasks", json::array({{{"id", tinfo.id}, {"params", task_params}}})},
      {"seeds", json::array({a.seed})},
      {"mode", a.query_aware ? "query_aware" : "query_agnostic"},
      {"engine", {{"threads", a.threads}, {"backend", a.backend}, {"device_dtype", a.device_dtype},
                  {"matmul", a.matmul}, {"prefill_chunk", a.prefill_chunk}}}};
  KVB_CHECK(!(a.ratio > 0 && a.budget > 0), "give either --ratio or --budget, not both");
  if (a.budget > 0)
    cfg["budgets"] = {{"tokens", json::array({a.budget})}};
  else
    cfg["budgets"] = {{"ratios", json::array({a.ratio})}};
  if (a.length > 0) cfg["lengths"] = json::array({a.length});
  if (a.n > 0) cfg["cases"] = a.n;
  SweepConfig config = parse_sweep_config(cfg, "kvbench run");
  ResultsStore store(a.db);
  SweepOptions opt;
  opt.rerun_failed = a.rerun_failed;
  opt.force = a.force;
  opt.quiet = log_level() == LogLevel::Quiet;
  opt.command = "run";
  opt.argv = process_argv();
  SweepSummary s = run_sweep(config, store, opt);
  print_sweep_summary(config, s, a.db);
  // The configuration's mean score over its stored ok cases.
  Statement q = store.prepare(
      "SELECT n, mean_score, errors, skipped FROM config_summary WHERE config_hash IN "
      "(SELECT config_hash FROM run_configs WHERE run_id = ?)");
  q.bind(1, s.run_id);
  while (q.step())
    fmt::print("{} | {} | {} ok cases stored | mean score {:.1f} | {} errors | {} skipped\n", tinfo.id, minfo.id,
               q.integer(0), q.is_null(1) ? 0.0 : q.real(1), q.integer(2), q.integer(3));
  if (s.interrupted) exit_code() = 130;
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Run one configuration (like eval) and store its cases in a results database");
  cmd->add_option("-m,--model", a->model, "Model: .gguf file, Hugging Face directory, or a name in models/")
      ->required();
  cmd->add_option("--task", a->task, "Task id (kvbench list tasks)")->required();
  cmd->add_option("--db", a->db, "Results database (created if missing; resumed if present)")->required();
  cmd->add_option("--param", a->params, "Task or method parameter key=value (the task's when it declares the key)");
  cmd->add_option("--task-param", a->task_params, "Task parameter key=value (repeatable)");
  cmd->add_option("--method-param", a->method_params, "Method parameter key=value (repeatable)");
  cmd->add_option("--method", a->method, "KV-compression method (kvbench list methods)")->capture_default_str();
  cmd->add_option("--ratio", a->ratio, "Compression ratio: fraction of the context's KV entries removed");
  cmd->add_option("--budget", a->budget, "Tokens kept per KV head (instead of --ratio)");
  cmd->add_flag("--query-aware", a->query_aware, "Compress after the question is prefilled (default: before)");
  cmd->add_option("--length", a->length, "Target context length in tokens (sets the task's 'length')");
  cmd->add_option("--n", a->n, "Number of cases (sets the task's 'num_samples')");
  cmd->add_option("--seed", a->seed, "Task seed")->capture_default_str();
  cmd->add_option("--chat-template", a->chat_template, "auto | none | chatml | llama3")->capture_default_str();
  cmd->add_option("-t,--threads", a->threads, "Threads (0 = all cores)");
  cmd->add_option("--backend", a->backend, "Compute backend: cpu or cuda (kvbench list backends)")
      ->capture_default_str();
  cmd->add_option("--device-dtype", a->device_dtype, "cuda: GEMM input type of the weights (bf16, f16, f32)")
      ->capture_default_str();
  add_matmul_option(cmd, a->matmul);
  add_engine_options(cmd, a->weights, a->prefill_chunk);
  cmd->add_flag("--rerun-failed", a->rerun_failed, "Run cases stored with status error again");
  cmd->add_flag("--force", a->force, "Recompute every case, replacing stored results");
  cmd->callback([a] { run_cmd(*a); });
});

}  // namespace
}  // namespace kvb::cli
