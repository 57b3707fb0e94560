// Task interface and registry: a task is a pure function (params, seed, tokenizer) -> cases, each
// case a RULER / kvpress-style row (context, question, answer_prefix, answers, max_new_tokens).
// Tasks live in tasks/*.cpp and register with KVB_REGISTER_TASK; `kvbench list tasks`, tests/test_tasks.cpp.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/params.h"
#include "model/chat_template.h"
#include "model/tokenizer.h"

namespace kvb {

struct CaseMetadata {
  int target_length = 0;              // tokens allowed: prompt + max_new_tokens (0: not length-fitted)
  int token_length = 0;               // prompt tokens actually produced (0 when no tokenizer was given)
  int next_unit_tokens = 0;           // tokens one more haystack unit would have added (length-fitted cases)
  int haystack_units = 0;             // sentences / distractors in the haystack
  std::vector<double> depths;         // per needle, percent of the haystack (0..100)
  std::vector<int> needle_chars;      // per needle, byte offset of the needle in `context`
  std::vector<int> needle_tokens;     // per needle, token index of the needle's start in the prompt
  nlohmann::json extra = nlohmann::json::object();  // task-specific facts (keys, value type, ...)
};

// A secondary metric of a case: scorer id (harness/eval/scorers.h) and the references it scores against.
struct ExtraScorer {
  std::string scorer;
  std::vector<std::string> references;
};

struct Case {
  std::string id;                     // "<task>/<seed>/<index>" or a grid cell name; stable
  std::string context;                // text prefilled first (instructions + haystack)
  std::string question;               // asked after the context
  std::string answer_prefix;          // written at the start of the model's answer
  std::vector<std::string> answers;   // references for the scorer
  int max_new_tokens = 0;
  std::string scorer;                 // scorer id (harness/eval/scorers.h)
  CaseMetadata meta;
  // Symbolic tasks (MQAR form=symbolic): input token ids and per-position labels (-100 = ignored).
  std::vector<int32_t> input_ids;
  std::vector<int32_t> labels;
  // Replayed prompts (ruler_jsonl, kvpress_jsonl): context, question and answer_prefix are joined
  // with nothing in between (render_prompt adds no "\n\n" / "\n"), so the text is the file's own.
  bool verbatim = false;
  // Further metrics reported beside the main score, each a scorer id with its own references:
  // score_extra(case, prediction) in eval/scorers.h. Summarization: rouge1 / rouge2 against the
  // reference summary and key_fact_recall against the key-fact strings.
  std::vector<ExtraScorer> extra_scorers;
  // Multi-question mode (questions_per_context > 1, or a kvpress_jsonl row with a list of questions):
  // the id of the context this case shares with the other questions asked of it ("" for a case
  // with a context of its own). Cases of one context are consecutive, have the same `context` text
  // and differ in question, answer_prefix, answers and meta.extra; the runner prefills the context
  // once for all of them (query-agnostic) and stores each answer as its own row.
  std::string context_id;
};


// Canonical JSON of a case (sorted keys): what determinism hashes are computed over.
nlohmann::json case_to_json(const Case& c);
// FNV-1a 64 over the canonical JSON of every case, as 16 hex digits.
std::string hash_cases(const std::vector<Case>& cases);

using TaskParams = Params;


// What the generator may use besides params and seed. `tokenizer` may be null for tasks that need
// none (MQAR symbolic); length-fitted tasks require it. `chat` is the template the prompt will be
// rendered with (ChatTemplateKind::None: plain text).
struct TaskEnv {
  const Tokenizer* tokenizer = nullptr;
  ChatFormat chat;
};

// One question asked of a shared context (multi-question mode).
struct Question {
  std::string question;
  std::string answer_prefix;
  std::vector<std::string> answers;
  nlohmann::json extra = nlohmann::json::object();  // merged into the case's meta.extra
};
// The cases of `base`'s context, one per question: question j's case is `base` with that question,
// answer prefix and answers, id "<base.id>/q<j>" and context_id base.id; token metadata refreshed
// with `env` (annotate_tokens). One question: `base` with it, id and context_id unchanged.
std::vector<Case> cases_for_questions(const Case& base, const std::vector<Question>& questions, const TaskEnv& env);
// The index of the question whose part of the prompt (question, chat footer, answer prefix) has the
// most tokens with env's tokenizer and template: fitting the shared context to it fits every question
// (the context part is tokenized on its own, encode_prompt). Without a tokenizer: the most characters.
size_t longest_question(const std::vector<Question>& questions, const TaskEnv& env, bool verbatim = false);
// The task parameter questions_per_context (1 when the task does not declare it); throws naming the
// task when it is < 1.
int questions_per_context(const std::string& task, const TaskParams& params);

using TaskFn = std::function<std::vector<Case>(const TaskParams& params, uint64_t seed, const TaskEnv& env)>;

struct ParamSpec {
  std::string name;
  std::string default_value;
  std::string description;
};

struct TaskInfo {
  std::string id;
  int version = 1;                   // bump whenever the cases a (params, seed) produce change
  std::string description;
  std::string scorer;
  std::vector<ParamSpec> params;
  TaskFn generate;
};

// All registered tasks, sorted by id.
std::vector<const TaskInfo*> list_tasks();
// Throws kvb::Error listing the known ids and the nearest one when `id` is unknown.
const TaskInfo& find_task(std::string_view id);
// Declared defaults overlaid with `user`; an undeclared key throws kvb::Error listing the valid keys.
TaskParams resolve_params(const TaskInfo& info, const TaskParams& user);
// --haystack-dir DIR: sets haystack_dir=DIR and, unless the user chose one, haystack=dir. Throws
// kvb::Error when the task has no haystack_dir parameter or the user chose another haystack.
void apply_haystack_dir(const TaskInfo& info, TaskParams& user, const std::string& dir);
// The model a task runs on, as far as the task's form goes: the recall oracle (builtin:oracle, or a
// directory written by `kvbench make-model oracle`, whose config.json carries "kvbench_oracle") reads
// token ids, not text.
struct TaskModel {
  std::string name;      // as given (path or name), for messages
  bool oracle = false;
  int oracle_vocab = 0;  // the oracle's vocabulary size
};
TaskModel task_model(std::string_view spec, const std::filesystem::path& resolved_path);
// On the oracle a task that declares `form` takes form=symbolic by itself, and vocab_size follows the
// oracle's vocabulary when the task declares it; the user's own choices stay.
void apply_model_form(const TaskInfo& info, const TaskModel& model, TaskParams& user);
// "" when the task can run on the model in the form the user chose, else why not and what to pass
// instead. `cli`: the advice names flags (--param form=...), else sweep-config keys (params: {form: ...}).
std::string task_model_mismatch(const TaskInfo& info, const TaskModel& model, const TaskParams& user, bool cli);

// find_task + resolve_params + generate.
std::vector<Case> generate_cases(std::string_view id, const TaskParams& user, uint64_t seed, const TaskEnv& env);

// Registry plumbing.
void register_task(TaskInfo info);
struct TaskRegistration {
  explicit TaskRegistration(TaskInfo info) { register_task(std::move(info)); }
};

}  // namespace kvb

// KVB_REGISTER_TASK(niah_single, version, "description", "scorer", {{"param", "default", "doc"}, ...}, fn)
#define KVB_REGISTER_TASK(id, ...) \
  static ::kvb::TaskRegistration kvb_task_registration_##id(::kvb::TaskInfo{#id, __VA_ARGS__})
