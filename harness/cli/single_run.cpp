// Flags of one configuration -> a one-cell sweep config; see single_run.h.
#include "cli/single_run.h"

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/engine_options.h"
#include "core/error.h"
#include "core/params.h"
#include "eval/task.h"

namespace kvb::cli {

namespace {

using json = nlohmann::json;

template <typename Spec>
bool declares(const std::vector<Spec>& params, const std::string& key) {
  for (const auto& p : params)
    if (p.name == key) return true;
  return false;
}

// Whether `method` takes `key`: declared, or (a wrapper) accepted for the scorer it wraps.
bool method_takes(const MethodInfo& method, const Params& given, const std::string& key, const std::string& value) {
  if (declares(method.params, key)) return true;
  if (!method.wraps_scorer) return false;
  Params probe = given;
  probe.set(key, value);
  try {
    resolve_method_params(method, probe);
    return true;
  } catch (const Error&) {
    return false;
  }
}

json to_json(const Params& p) {
  json out = json::object();
  for (const auto& [k, v] : p.values()) out[k] = v;
  return out;
}

}  // namespace

void add_single_run_options(CLI::App* cmd, SingleRunArgs& a) {
  cmd->add_option("-m,--model", a.model, "Model: .gguf file, Hugging Face directory, or a name in models/")
      ->required();
  cmd->add_option("--task", a.task, "Task id (kvbench list tasks)")->required();
  cmd->add_option("--param", a.params,
                  "Task or method parameter key=value (repeatable; goes to whichever declares it)");
  cmd->add_option("--task-param", a.task_params, "Task parameter key=value (repeatable)");
  cmd->add_option("--method-param", a.method_params, "Method parameter key=value (repeatable)");
  cmd->add_option("--method", a.methods,
                  "KV-compression method (kvbench list methods); several (repeated or comma-separated) run "
                  "every method x ratio, one prefill per case")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--ratio", a.ratios,
                  "Compression ratio: fraction of the context's KV entries removed (several: comma-separated)")
      ->delimiter(',');
  cmd->add_option("--budget", a.budget, "Tokens kept per KV head (instead of --ratio)");
  cmd->add_flag("--query-aware", a.query_aware, "Compress after the question is prefilled (default: before)");
  cmd->add_option("--length", a.length, "Target context length in tokens (sets the task's 'length')");
  cmd->add_option("--n", a.n, "Number of cases (sets the task's 'num_samples')");
  cmd->add_option("--questions", a.questions,
                  "Multi-question mode: questions asked of one context, each its own row (sets the task's "
                  "'questions_per_context'; the context is prefilled once, query-agnostic)");
  cmd->add_option("--seed", a.seed, "Task seed")->capture_default_str();
  cmd->add_option("--haystack-dir", a.haystack_dir, "NIAH haystack from the *.txt files under DIR (haystack=dir)");
  cmd->add_option("--chat-template", a.chat_template, "auto | none | chatml | llama3")->capture_default_str();
  add_engine_options(cmd, a.engine, &a.weights);
  add_shared_prefill_options(cmd, a.shared);
}

void add_shared_prefill_options(CLI::App* cmd, SharedPrefillArgs& a) {
  cmd->add_flag("--no-shared-prefill", a.off,
                "Prefill every row alone (default: configurations that differ only in method and budget share "
                "one prefill per case; the stored results are the same)");
  cmd->add_option("--max-shared-bytes", a.max_bytes,
                  "Memory bound of a shared prefill (full KV cache + recordings + the copies of the rows decoding "
                  "together), e.g. 8G; larger groups are split, larger decode batches shrink")
      ->capture_default_str();
  cmd->add_option("--decode-batch", a.decode_batch,
                  "Rows of a shared prefill decoded together, one forward pass per step for all (same tokens and "
                  "scores; each row's decode time is its share of the steps); 1: one row at a time")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
}

void apply_shared_prefill_options(const SharedPrefillArgs& a, SweepOptions& opt) {
  opt.shared_prefill = !a.off;
  opt.max_shared_bytes = parse_byte_size(a.max_bytes, "--max-shared-bytes");
  opt.decode_batch = a.decode_batch;
}

SweepConfig single_run_config(const SingleRunArgs& a, const std::string& command) {
  const TaskInfo& task = find_task(a.task);
  KVB_CHECK(!a.methods.empty(), "--method: give at least one method");
  std::vector<const MethodInfo*> methods;
  for (const std::string& id : a.methods) methods.push_back(&lookup_method(id));
  bool any_ratio = false;
  for (double r : a.ratios) any_ratio |= r > 0;
  KVB_CHECK(!(any_ratio && a.budget > 0), "give either --ratio or --budget, not both");
  // A grid gives a method without a budget (kivi alone, decoding) one configuration; asked for
  // alone with a budget, say so rather than ignore the flag.
  bool any_budgeted = false;
  for (const MethodInfo* m : methods) any_budgeted |= m->roles.budget != Budget::None;
  KVB_CHECK(any_budgeted || !(any_ratio || a.budget > 0),
            "--method {}: takes no budget (kvbench list methods: budget none); drop --ratio / --budget",
            fmt::join(a.methods, ","));
  TaskParams task_params;
  std::vector<Params> method_params(methods.size());
  auto to_methods = [&](const std::string& key, const std::string& value) {
    std::vector<size_t> takers;
    for (size_t i = 0; i < methods.size(); ++i)
      if (method_takes(*methods[i], method_params[i], key, value)) takers.push_back(i);
    return takers;
  };
  for (const auto& kv : a.task_params) task_params.set_from_string(kv);
  for (const auto& kv : a.method_params) {
    Params one;
    one.set_from_string(kv);
    const auto& [key, value] = *one.values().begin();
    std::vector<size_t> takers = to_methods(key, value);
    if (takers.empty())  // nobody takes it: every method's check names the key
      for (size_t i = 0; i < methods.size(); ++i) takers.push_back(i);
    for (size_t i : takers) method_params[i].set(key, value);
  }
  for (const auto& kv : a.params) {
    Params one;
    one.set_from_string(kv);
    const auto& [key, value] = *one.values().begin();
    const std::vector<size_t> takers = to_methods(key, value);
    const bool to_task = declares(task.params, key);
    KVB_CHECK(!(to_task && !takers.empty()),
              "--param {}: both task '{}' and method '{}' have '{}'; use --task-param or --method-param", kv, task.id,
              takers.empty() ? "" : methods[takers[0]]->id, key);
    if (takers.empty()) task_params.set(key, value);
    for (size_t i : takers) method_params[i].set(key, value);
  }
  if (a.length > 0) KVB_CHECK(declares(task.params, "length"), "--length: task '{}' has no 'length' parameter", task.id);
  if (a.n > 0) KVB_CHECK(declares(task.params, "num_samples"), "--n: task '{}' has no 'num_samples' parameter", task.id);
  apply_haystack_dir(task, task_params, a.haystack_dir);

  json method_list = json::array();
  for (size_t i = 0; i < methods.size(); ++i)
    method_list.push_back({{"id", methods[i]->id}, {"params", to_json(method_params[i])}});
  json cfg = {
      {"name", command.substr(command.rfind(' ') + 1)},
      {"models", json::array({{{"path", a.model}, {"chat_template", a.chat_template}, {"weights", a.weights}}})},
      {"methods", method_list},
      {"tasks", json::array({{{"id", task.id}, {"params", to_json(task_params)}}})},
      {"seeds", json::array({a.seed})},
      {"mode", a.query_aware ? "query_aware" : "query_agnostic"},
      {"engine", {{"threads", a.engine.threads}, {"backend", a.engine.backend},
                  {"device_dtype", a.engine.device_dtype}, {"matmul", a.engine.matmul},
                  {"prefill_chunk", a.engine.prefill_chunk}}}};
  if (a.budget > 0)
    cfg["budgets"] = {{"tokens", json::array({a.budget})}};
  else
    cfg["budgets"] = {{"ratios", a.ratios.empty() ? json::array({0.0}) : json(a.ratios)}};
  if (a.length > 0) cfg["lengths"] = json::array({a.length});
  if (a.n > 0) cfg["cases"] = a.n;
  if (a.questions != 0) cfg["questions_per_context"] = a.questions;
  return parse_sweep_config(cfg, command);
}

}  // namespace kvb::cli
