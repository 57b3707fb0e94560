// `kvbench eval --model M --task ID [--method snapkv --ratio 0.5] [--param k=v ...] --length N --n 50`
// — generates a task's cases, runs each through the engine with a KV-compression method (full
// attention by default) and prints the mean score with a 95% bootstrap interval (the sweep command
// generalises this loop to grids and a results store).
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "core/log.h"
#include "core/threads.h"
#include "core/timer.h"
#include "eval/runner.h"
#include "model/model_path.h"
#include "kvb_git_commit.h"  // generated at build time: KVB_GIT_COMMIT

namespace kvb::cli {
namespace {

struct EvalArgs {
  std::string model, task, chat_template = "auto", json_path, weights = "native", haystack_dir;
  BackendFlags compute;
  std::vector<std::string> params, task_params, method_params;
  std::string method = "full", export_kvpress;
  double ratio = 0.0;
  int64_t budget = 0;
  bool query_aware = false;
  int length = 0, n = 0, threads = 0, prefill_chunk = 512, show = 0;
  uint64_t seed = 0;
};

void run_eval(const EvalArgs& a) {
  set_num_threads(a.threads);
  const TaskInfo& info = find_task(a.task);  // unknown task: fail before loading the model
  auto declares = [&](const std::string& key) {
    for (const auto& p : info.params)
      if (p.name == key) return true;
    return false;
  };
  // --param goes to whichever of the task and the method declares the key.
  MethodSpec spec;
  spec.id = a.method;
  spec.compression_ratio = a.ratio;
  spec.token_budget = a.budget;
  spec.query_aware = a.query_aware;
  spec.seed = a.seed;
  const MethodInfo& minfo = find_method(a.method);
  TaskParams user;
  for (const auto& kv : a.task_params) user.set_from_string(kv);
  for (const auto& kv : a.method_params) spec.params.set_from_string(kv);
  for (const auto& kv : a.params) {
    Params one;
    one.set_from_string(kv);
    const auto& [key, value] = *one.values().begin();
    bool method_declares = false;
    for (const auto& p : minfo.params) method_declares |= p.name == key;
    if (minfo.wraps_scorer && !method_declares) {
      Params probe = spec.params;
      probe.set(key, value);
      try {
        resolve_method_params(minfo, probe);
        method_declares = true;
      } catch (const Error&) {
      }
    }
    KVB_CHECK(!(declares(key) && method_declares),
              "--param {}: both task '{}' and method '{}' have '{}'; use --task-param or --method-param", kv, info.id,
              minfo.id, key);
    if (method_declares)
      spec.params.set(key, value);
    else
      user.set(key, value);  // unknown keys are reported by the task's parameter check
  }
  if (a.length > 0) {
    KVB_CHECK(declares("length"), "--length: task '{}' has no 'length' parameter", info.id);
    user.set("length", std::to_string(a.length));
  }
  if (a.n > 0) {
    KVB_CHECK(declares("num_samples"), "--n: task '{}' has no 'num_samples' parameter", info.id);
    user.set("num_samples", std::to_string(a.n));
  }
  apply_haystack_dir(info, user, a.haystack_dir);
  resolve_params(info, user);  // unknown parameter: fail before loading the model
  resolve_method_params(minfo, spec.params);
  resolve_chat_format(a.chat_template, "");

  Checkpoint ck = load_checkpoint(resolve_model_path(a.model));
  if (a.weights == "f32") ck.weights.dequantize_all();
  auto tok = make_tokenizer(ck.tokenizer);
  TaskEnv env{tok.get(), resolve_chat_format(a.chat_template, ck.chat_template)};
  Stopwatch gen_sw;
  std::vector<Case> cases = generate_cases(info.id, user, a.seed, env);
  if (!a.export_kvpress.empty()) {  // kvpress's dataset rows, to replay the same cases in kvpress
    std::ofstream f(a.export_kvpress);
    KVB_CHECK(f.good(), "{}: cannot write", a.export_kvpress);
    for (const Case& c : cases)
      f << nlohmann::json{{"id", c.id},
                          {"context", c.context},
                          {"question", c.question},
                          {"answer_prefix", c.answer_prefix},
                          {"answer", c.answers},
                          {"max_new_tokens", c.max_new_tokens}}
               .dump()
        << "\n";
    fmt::print("{} cases of {} written as kvpress rows to {}\n", cases.size(), info.id, a.export_kvpress);
    return;
  }
  log_info("{} v{}: {} cases generated in {:.1f}s (chat template {})", info.id, info.version, cases.size(),
           gen_sw.seconds(), chat_template_name(env.chat.kind));

  Transformer model(ck.config, ck.weights, RunnerOptions{a.prefill_chunk, a.compute.backend, a.compute.device_dtype, a.compute.matmul});
  make_method(spec, ck.config, &model);  // budget / parameter values checked before the first case
  std::vector<double> scores;
  nlohmann::json rows = nlohmann::json::array();
  const bool tty = isatty(STDERR_FILENO);
  Stopwatch total;
  for (size_t i = 0; i < cases.size(); ++i) {
    CaseResult r = run_case(model, cases[i], env, spec);
    scores.push_back(r.score);
    double mean = 0;
    for (double s : scores) mean += s;
    mean /= double(scores.size());
    const double eta = total.seconds() / double(i + 1) * double(cases.size() - i - 1);
    if (log_level() >= LogLevel::Info)
      fmt::print(stderr, "{}[{}/{}] {} score {:.0f} | mean {:.1f} | {} prompt tokens | ETA {:.0f}s{}", tty ? "\r" : "",
                 i + 1, cases.size(), r.case_id, r.score, mean, r.prompt_tokens, eta, tty ? "   " : "\n");
    if (int(i) < a.show)
      fmt::print(stderr, "{}  answers: {} | prediction: {}\n", tty ? "\n" : "", fmt::join(cases[i].answers, " / "),
                 r.prediction);
    rows.push_back({{"case_id", r.case_id}, {"score", r.score}, {"prediction", r.prediction},
                    {"answers", cases[i].answers}, {"prompt_tokens", r.prompt_tokens},
                    {"generated_tokens", r.generated_tokens}, {"prefill_seconds", r.prefill_seconds},
                    {"decode_seconds", r.decode_seconds}, {"method_seconds", r.method_seconds},
                    {"kept_tokens", r.kept_tokens}, {"kv_resident_bytes", r.kv_resident_bytes},
                    {"kv_nominal_bytes", r.kv_nominal_bytes}});
    for (const auto& [scorer, value] : r.extra_scores) rows.back()[scorer] = value;
  }
  if (tty && log_level() >= LogLevel::Info) fmt::print(stderr, "\n");
  ScoreSummary s = summarize_scores(scores);
  const std::string method_label =
      spec.id == "full" ? spec.id
                        : fmt::format("{} {}{}", spec.id,
                                      spec.token_budget > 0 ? fmt::format("budget {}", spec.token_budget)
                                                            : fmt::format("ratio {}", spec.compression_ratio),
                                      spec.query_aware ? " query-aware" : "");
  fmt::print("{} v{} | model {} | method {} | {} cases | score {:.1f} (95% CI {:.1f}-{:.1f}) | {:.1f}s\n", info.id,
             info.version, ck.name(), method_label, s.n, s.mean, s.ci_low, s.ci_high, total.seconds());
  if (!a.json_path.empty()) {
    std::ofstream f(a.json_path);
    KVB_CHECK(f.good(), "{}: cannot write", a.json_path);
    nlohmann::json out = {{"task", info.id},         {"task_version", info.version},
                          {"params", resolve_params(info, user).values()},
                          {"seed", a.seed},          {"model", ck.path.string()},
                          {"method", spec.id},       {"method_version", minfo.version},
                          {"method_params", resolve_method_params(minfo, spec.params).values()},
                          {"compression_ratio", spec.compression_ratio}, {"token_budget", spec.token_budget},
                          {"query_aware", spec.query_aware},
                          {"commit", KVB_GIT_COMMIT}, {"mean", s.mean},
                          {"ci95", {s.ci_low, s.ci_high}}, {"cases", rows}};
    f << out.dump(2) << "\n";
  }
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "Run a task's cases through a model with a KV-compression method and score them");
  cmd->add_option("-m,--model", a->model, "Model: .gguf file, Hugging Face directory, or a name in models/")
      ->required();
  cmd->add_option("--task", a->task, "Task id (kvbench list tasks)")->required();
  cmd->add_option("--param", a->params, "Task or method parameter key=value (repeatable; goes to whichever declares it)");
  cmd->add_option("--task-param", a->task_params, "Task parameter key=value (repeatable)");
  cmd->add_option("--method-param", a->method_params, "Method parameter key=value (repeatable)");
  cmd->add_option("--method", a->method, "KV-compression method (kvbench list methods)")->capture_default_str();
  cmd->add_option("--ratio", a->ratio, "Compression ratio: fraction of the context's KV entries removed");
  cmd->add_option("--budget", a->budget, "Tokens kept per KV head (instead of --ratio)");
  cmd->add_flag("--query-aware", a->query_aware, "Compress after the question is prefilled (default: before)");
  cmd->add_option("--length", a->length, "Target context length in tokens (sets the task's 'length')");
  cmd->add_option("--n", a->n, "Number of cases (sets the task's 'num_samples')");
  cmd->add_option("--seed", a->seed, "Task seed")->capture_default_str();
  cmd->add_option("--haystack-dir", a->haystack_dir, "NIAH haystack from the *.txt files under DIR (haystack=dir)");
  cmd->add_option("--chat-template", a->chat_template, "auto | none | chatml | llama3")->capture_default_str();
  cmd->add_option("-t,--threads", a->threads, "Threads (0 = all cores)");
  add_engine_options(cmd, a->weights, a->prefill_chunk);
  add_backend_options(cmd, a->compute);
  cmd->add_option("--show", a->show, "Print the first N predictions next to their answers");
  cmd->add_option("--json", a->json_path, "Write per-case results as JSON");
  cmd->add_option("--export-kvpress", a->export_kvpress,
                  "Write the generated cases as kvpress dataset rows (jsonl) and exit without running them");
  cmd->callback([a] { run_eval(*a); });
});

}  // namespace
}  // namespace kvb::cli
