// `kvbench show-case TASK [--param k=v ...] [--seed N] [--index I] [--model PATH]` — renders one
// generated case (chat template applied) with its token count, answers and needle positions.
// A model directory with tokenizer.json loads only the tokenizer. Tests: tests/test_tasks.cpp.
#include <fmt/format.h>

#include <filesystem>
#include <span>

#include "cli/commands.h"
#include "core/error.h"
#include "eval/prompt.h"
#include "eval/task.h"
#include "model/checkpoint.h"
#include "model/model_path.h"

namespace kvb::cli {
namespace {

struct ShowCaseArgs {
  std::string task, model, chat_template = "auto", haystack_dir;
  std::vector<std::string> params;
  uint64_t seed = 42;
  int index = 0;
};

void run_show_case(const ShowCaseArgs& a) {
  const TaskInfo& info = find_task(a.task);
  TaskParams user;
  for (const auto& kv : a.params) user.set_from_string(kv);
  apply_haystack_dir(info, user, a.haystack_dir);
  resolve_params(info, user);  // reject unknown keys before loading a model
  KVB_CHECK(a.index >= 0, "--index must be >= 0, got {}", a.index);
  bool has_samples = false;
  for (const auto& p : info.params) has_samples |= p.name == "num_samples";
  if (has_samples && !user.has("num_samples")) user.set("num_samples", std::to_string(a.index + 1));

  std::unique_ptr<Tokenizer> tok;
  std::string template_text;
  if (!a.model.empty()) {
    namespace fs = std::filesystem;
    fs::path p = fs::exists(a.model) ? fs::path(a.model) : resolve_model_path(a.model);
    apply_model_form(info, task_model(a.model, p), user);  // the oracle model: form=symbolic
    fs::path tj = fs::is_directory(p) ? p / "tokenizer.json" : p;
    if (tj.filename() == "tokenizer.json" && fs::exists(tj)) {
      HfTokenizerFiles f = load_hf_tokenizer(tj);
      template_text = f.chat_template;
      tok = make_tokenizer(std::move(f.spec));
    } else {
      Checkpoint ck = load_checkpoint(p);
      template_text = ck.chat_template;
      tok = make_tokenizer(ck.tokenizer);
    }
  }
  TaskEnv env{tok.get(), resolve_chat_format(a.chat_template, template_text)};
  std::vector<Case> cases = info.generate(resolve_params(info, user), a.seed, env);
  KVB_CHECK(a.index < int(cases.size()), "task {} produced {} cases; --index {} is out of range", a.task,
            cases.size(), a.index);
  const Case& c = cases[size_t(a.index)];
  fmt::print("task {} v{}  case {}  scorer {}\n", info.id, info.version, c.id, c.scorer);
  if (!c.input_ids.empty() && tok) {
    // Token ids with the model's tokenizer: the two parts as text (the oracle's ids read as its
    // words), then every scored position and its target.
    const size_t ctx = c.meta.extra.contains("context_tokens") ? c.meta.extra["context_tokens"].get<size_t>()
                                                               : c.input_ids.size();
    const std::span<const int32_t> ids(c.input_ids);
    fmt::print("----- context: {} token ids, compressed by the method -----\n{}\n", ctx,
               tok->decode(ids.subspan(0, ctx)));
    fmt::print("----- question: {} token ids, teacher-forced -----\n{}\n----- end -----\n", ids.size() - ctx,
               tok->decode(ids.subspan(ctx)));
    std::vector<std::string> targets;
    for (size_t i = 0; i < c.labels.size(); ++i)
      if (c.labels[i] != -100) targets.push_back(fmt::format("{}->{}", i, c.labels[i]));
    if (c.meta.extra.contains("label_sets"))
      for (const auto& set : c.meta.extra["label_sets"])
        targets.push_back(fmt::format("{}->{{{}}}", set["position"].get<int64_t>(),
                                      fmt::join(set["ids"].get<std::vector<int32_t>>(), ",")));
    fmt::print("scored positions (position->next id): {}\n", fmt::join(targets, " "));
  } else if (!c.input_ids.empty()) {
    fmt::print("input_ids ({}): {}\nlabels: {}\n", c.input_ids.size(), fmt::join(c.input_ids, " "),
               fmt::join(c.labels, " "));
  } else {
    PromptText p = render_prompt(c, env.chat);
    fmt::print("----- prompt (template {}) -----\n{}{}\n----- end of prompt -----\n",
               chat_template_name(env.chat.kind), p.context_part, p.question_part);
  }
  if (tok && !c.input_ids.empty())
    fmt::print("tokens: {} (target {})\n", c.input_ids.size(), c.meta.target_length);
  else if (tok)
    fmt::print("prompt tokens: {} (+ max_new_tokens {} = {}; target {})\n", c.meta.token_length, c.max_new_tokens,
               c.meta.token_length + c.max_new_tokens, c.meta.target_length);
  else
    fmt::print("prompt tokens: (no --model given)\n");
  fmt::print("answers: {}\n", fmt::join(c.answers, " | "));
  if (!c.meta.depths.empty()) fmt::print("depths %: {}\n", fmt::join(c.meta.depths, ", "));
  if (!c.meta.needle_tokens.empty()) fmt::print("needle token positions: {}\n", fmt::join(c.meta.needle_tokens, ", "));
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<ShowCaseArgs>();
  auto* cmd = app.add_subcommand("show-case", "Print one generated task case");
  cmd->add_option("task", a->task, "Task id (kvbench list tasks)")->required();
  cmd->add_option("--param", a->params, "Task parameter key=value (repeatable)");
  cmd->add_option("--seed", a->seed, "Generator seed")->capture_default_str();
  cmd->add_option("--index", a->index, "Which case of the generated set")->capture_default_str();
  cmd->add_option("-m,--model", a->model, "Model or tokenizer (dir with tokenizer.json, .gguf) for token counts");
  cmd->add_option("--chat-template", a->chat_template, "auto | none | chatml | llama3")->capture_default_str();
  cmd->add_option("--haystack-dir", a->haystack_dir, "Haystack from the *.txt files under DIR (haystack=dir)");
  cmd->callback([a] { run_show_case(*a); });
});

}  // namespace
}  // namespace kvb::cli
