// `kvbench eval --model M --task ID [--param k=v ...] --length N --n 50` — generates a task's
// cases, runs each through the engine with full attention and prints the mean score with a 95%
// bootstrap interval (the sweep command generalises this loop to grids and a results store).
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

namespace kvb::cli {
namespace {

struct EvalArgs {
  std::string model, task, chat_template = "auto", json_path, weights = "native";
  std::vector<std::string> params;
  int length = 0, n = 0, threads = 0, prefill_chunk = 512, show = 0;
  uint64_t seed = 0;
};

void run_eval(const EvalArgs& a) {
  set_num_threads(a.threads);
  const TaskInfo& info = find_task(a.task);  // unknown task: fail before loading the model
  TaskParams user;
  for (const auto& kv : a.params) user.set_from_string(kv);
  auto declares = [&](const char* key) {
    for (const auto& p : info.params)
      if (p.name == key) return true;
    return false;
  };
  if (a.length > 0) {
    KVB_CHECK(declares("length"), "--length: task '{}' has no 'length' parameter", info.id);
    user.set("length", std::to_string(a.length));
  }
  if (a.n > 0) {
    KVB_CHECK(declares("num_samples"), "--n: task '{}' has no 'num_samples' parameter", info.id);
    user.set("num_samples", std::to_string(a.n));
  }
  resolve_params(info, user);  // unknown parameter: fail before loading the model
  resolve_chat_format(a.chat_template, "");

  Checkpoint ck = load_checkpoint(resolve_model_path(a.model));
  if (a.weights == "f32") ck.weights.dequantize_all();
  auto tok = make_tokenizer(ck.tokenizer);
  TaskEnv env{tok.get(), resolve_chat_format(a.chat_template, ck.chat_template)};
  Stopwatch gen_sw;
  std::vector<Case> cases = generate_cases(info.id, user, a.seed, env);
  log_info("{} v{}: {} cases generated in {:.1f}s (chat template {})", info.id, info.version, cases.size(),
           gen_sw.seconds(), chat_template_name(env.chat.kind));

  Transformer model(ck.config, ck.weights, RunnerOptions{a.prefill_chunk});
  std::vector<double> scores;
  nlohmann::json rows = nlohmann::json::array();
  const bool tty = isatty(STDERR_FILENO);
  Stopwatch total;
  for (size_t i = 0; i < cases.size(); ++i) {
    CaseResult r = run_case(model, cases[i], env);
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
                    {"decode_seconds", r.decode_seconds}});
  }
  if (tty && log_level() >= LogLevel::Info) fmt::print(stderr, "\n");
  ScoreSummary s = summarize_scores(scores);
  fmt::print("{} v{} | model {} | {} cases | score {:.1f} (95% CI {:.1f}-{:.1f}) | {:.1f}s\n", info.id, info.version,
             ck.name(), s.n, s.mean, s.ci_low, s.ci_high, total.seconds());
  if (!a.json_path.empty()) {
    std::ofstream f(a.json_path);
    KVB_CHECK(f.good(), "{}: cannot write", a.json_path);
    nlohmann::json out = {{"task", info.id},         {"task_version", info.version},
                          {"params", resolve_params(info, user).values()},
                          {"seed", a.seed},          {"model", ck.path.string()},
                          {"commit", KVB_GIT_COMMIT}, {"mean", s.mean},
                          {"ci95", {s.ci_low, s.ci_high}}, {"cases", rows}};
    f << out.dump(2) << "\n";
  }
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "Run a task's cases through a model (full attention) and score them");
  cmd->add_option("-m,--model", a->model, "Model: .gguf file, Hugging Face directory, or a name in models/")
      ->required();
  cmd->add_option("--task", a->task, "Task id (kvbench list tasks)")->required();
  cmd->add_option("--param", a->params, "Task parameter key=value (repeatable)");
  cmd->add_option("--length", a->length, "Target context length in tokens (sets the task's 'length')");
  cmd->add_option("--n", a->n, "Number of cases (sets the task's 'num_samples')");
  cmd->add_option("--seed", a->seed, "Task seed")->capture_default_str();
  cmd->add_option("--chat-template", a->chat_template, "auto | none | chatml | llama3")->capture_default_str();
  cmd->add_option("-t,--threads", a->threads, "Threads (0 = all cores)");
  add_engine_options(cmd, a->weights, a->prefill_chunk);
  cmd->add_option("--show", a->show, "Print the first N predictions next to their answers");
  cmd->add_option("--json", a->json_path, "Write per-case results as JSON");
  cmd->callback([a] { run_eval(*a); });
});

}  // namespace
}  // namespace kvb::cli
