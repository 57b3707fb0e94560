// Task registry, parameter parsing and canonical case serialization (see task.h).
// Registration follows the methods/ pattern (static objects in tasks/*.cpp, function-local registry).
// Exercised by tests/test_tasks.cpp (TaskRegistry*, TaskParams*).
#include "eval/task.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/error.h"
#include "core/file.h"
#include "core/names.h"
#include "model/oracle.h"
#include "eval/prompt.h"

namespace kvb {
namespace {

std::map<std::string, TaskInfo, std::less<>>& registry() {
  static std::map<std::string, TaskInfo, std::less<>> r;
  return r;
}

}  // namespace

void register_task(TaskInfo info) {
  KVB_CHECK(!info.id.empty() && info.generate, "task registration without an id or a generator");
  auto [it, inserted] = registry().emplace(info.id, std::move(info));
  KVB_CHECK(inserted, "task '{}' is registered twice", it->first);
}

std::vector<const TaskInfo*> list_tasks() {
  std::vector<const TaskInfo*> out;
  for (auto& [id, info] : registry()) out.push_back(&info);
  return out;
}

const TaskInfo& find_task(std::string_view id) {
  auto it = registry().find(id);
  if (it != registry().end()) return it->second;
  std::vector<std::string> known;
  for (auto& [k, v] : registry()) known.push_back(k);
  KVB_FAIL("unknown task '{}' (did you mean '{}'?); known tasks: {}", id, nearest_name(id, known),
           fmt::join(known, ", "));
}

TaskParams resolve_params(const TaskInfo& info, const TaskParams& user) {
  TaskParams out;
  for (const auto& p : info.params) out.set(p.name, p.default_value);
  for (const auto& [k, v] : user.values()) {
    if (!out.has(k)) {
      std::vector<std::string> valid;
      for (const auto& p : info.params) valid.push_back(p.name);
      KVB_FAIL("task '{}' has no parameter '{}' (did you mean '{}'?); valid parameters: {}", info.id, k,
               nearest_name(k, valid), fmt::join(valid, ", "));
    }
    out.set(k, v);
  }
  return out;
}

void apply_haystack_dir(const TaskInfo& info, TaskParams& user, const std::string& dir) {
  if (dir.empty()) return;
  bool declared = false;
  for (const auto& p : info.params) declared |= p.name == "haystack_dir";
  KVB_CHECK(declared, "--haystack-dir: task '{}' has no haystack_dir parameter", info.id);
  KVB_CHECK(!user.has("haystack") || user.get_string("haystack") == "dir",
            "--haystack-dir: task '{}' was given haystack={}; the directory is used with haystack=dir", info.id,
            user.get_string("haystack"));
  user.set("haystack", "dir");
  user.set("haystack_dir", dir);
}

namespace {
bool declares_param(const TaskInfo& info, const std::string& key) {
  return std::any_of(info.params.begin(), info.params.end(), [&](const ParamSpec& p) { return p.name == key; });
}
}  // namespace

TaskModel task_model(std::string_view spec, const std::filesystem::path& resolved_path) {
  TaskModel m{std::string(spec)};
  if (is_builtin_oracle(spec)) {
    m.oracle = true;
    m.oracle_vocab = parse_builtin_oracle(spec).vocab;
    return m;
  }
  std::error_code ec;
  const auto config = resolved_path / "config.json";
  if (!std::filesystem::is_regular_file(config, ec)) return m;
  try {
    const nlohmann::json j = nlohmann::json::parse(read_text_file(config));
    if (j.is_object() && j.contains("kvbench_oracle")) {
      m.oracle = true;
      m.oracle_vocab = j.value("vocab_size", 0);
    }
  } catch (const std::exception&) {
    // Not the oracle's config: loading the model reports what is wrong with it.
  }
  return m;
}

void apply_model_form(const TaskInfo& info, const TaskModel& model, TaskParams& user) {
  if (!model.oracle || !declares_param(info, "form")) return;
  if (!user.has("form")) user.set("form", "symbolic");
  if (declares_param(info, "vocab_size") && !user.has("vocab_size") && user.get_string("form") == "symbolic" &&
      model.oracle_vocab > 0)
    user.set("vocab_size", std::to_string(model.oracle_vocab));
}

std::string task_model_mismatch(const TaskInfo& info, const TaskModel& model, const TaskParams& user, bool cli) {
  const std::string form = user.get_string("form", "");
  auto param = [&](const std::string& kv) {
    if (cli) return "--param " + kv;
    const size_t eq = kv.find('=');
    return fmt::format("params: {{{}: {}}}", kv.substr(0, eq), kv.substr(eq + 1));
  };
  if (model.oracle && !declares_param(info, "form")) {
    std::vector<std::string> symbolic;
    for (const TaskInfo* t : list_tasks())
      if (declares_param(*t, "form")) symbolic.push_back(t->id);
    return fmt::format(
        "task '{}' has no symbolic form, and the oracle model '{}' reads token ids, not text: run '{}' on a language "
        "model ({}), or give the oracle a task with a symbolic form: {}",
        info.id, model.name, info.id,
        cli ? "--model SmolLM2-135M-Instruct.Q4_1" : "models: [SmolLM2-135M-Instruct.Q4_1]", fmt::join(symbolic, ", "));
  }
  if (model.oracle && form != "symbolic")
    return fmt::format("task '{}' form={} cannot run on the oracle model '{}', which reads token ids, not text: drop "
                       "{} (on the oracle the task takes form=symbolic by itself)",
                       info.id, form, model.name, param("form=" + form));
  if (!model.oracle && form == "symbolic")
    return fmt::format("task '{}' form=symbolic is token ids for the oracle model, not text for '{}': drop {} for "
                       "this model, or run the symbolic form with {}",
                       info.id, model.name, param("form=symbolic"),
                       cli ? "--model builtin:oracle" : "models: [builtin:oracle]");
  return "";
}

std::vector<Case> generate_cases(std::string_view id, const TaskParams& user, uint64_t seed, const TaskEnv& env) {
  const TaskInfo& info = find_task(id);
  return info.generate(resolve_params(info, user), seed, env);
}

nlohmann::json case_to_json(const Case& c) {
  nlohmann::json j;
  j["id"] = c.id;
  j["context"] = c.context;
  j["question"] = c.question;
  j["answer_prefix"] = c.answer_prefix;
  j["answers"] = c.answers;
  j["max_new_tokens"] = c.max_new_tokens;
  j["scorer"] = c.scorer;
  j["target_length"] = c.meta.target_length;
  j["token_length"] = c.meta.token_length;
  j["next_unit_tokens"] = c.meta.next_unit_tokens;
  j["haystack_units"] = c.meta.haystack_units;
  j["depths"] = c.meta.depths;
  j["needle_chars"] = c.meta.needle_chars;
  j["needle_tokens"] = c.meta.needle_tokens;
  j["extra"] = c.meta.extra;
  if (!c.input_ids.empty()) j["input_ids"] = c.input_ids;
  if (!c.labels.empty()) j["labels"] = c.labels;
  // Written only when set, so the hashes of tasks that never set them stay as committed.
  if (c.verbatim) j["verbatim"] = true;
  if (!c.extra_scorers.empty()) {
    nlohmann::json xs = nlohmann::json::array();
    for (const auto& x : c.extra_scorers) xs.push_back({{"scorer", x.scorer}, {"references", x.references}});
    j["extra_scorers"] = xs;
  }
  if (!c.context_id.empty()) j["context_id"] = c.context_id;
  return j;
}

std::vector<Case> cases_for_questions(const Case& base, const std::vector<Question>& questions, const TaskEnv& env) {
  KVB_CHECK(!questions.empty(), "case {}: no question to ask of its context", base.id);
  std::vector<Case> out;
  for (size_t j = 0; j < questions.size(); ++j) {
    Case c = base;
    const Question& q = questions[j];
    c.question = q.question;
    c.answer_prefix = q.answer_prefix;
    c.answers = q.answers;
    for (const auto& [k, v] : q.extra.items()) c.meta.extra[k] = v;
    if (questions.size() > 1) {
      c.id = fmt::format("{}/q{}", base.id, j);
      c.context_id = base.id;
    }
    annotate_tokens(c, env);
    out.push_back(std::move(c));
  }
  return out;
}

size_t longest_question(const std::vector<Question>& questions, const TaskEnv& env, bool verbatim) {
  auto length = [&](const Question& q) {
    if (!env.tokenizer) return q.question.size() + q.answer_prefix.size();
    Case c;
    c.context = "context";
    c.question = q.question;
    c.answer_prefix = q.answer_prefix;
    c.verbatim = verbatim;
    return encode_prompt(c, env).question.size();
  };
  size_t best = 0, best_length = 0;
  for (size_t j = 0; j < questions.size(); ++j) {
    const size_t n = length(questions[j]);
    if (j == 0 || n > best_length) best = j, best_length = n;
  }
  return best;
}

int questions_per_context(const std::string& task, const TaskParams& params) {
  const int n = int(params.get_int("questions_per_context", 1));
  KVB_CHECK(n >= 1 && n <= 1000, "task {}: questions_per_context must be in 1..1000, got {}", task, n);
  return n;
}

std::string hash_cases(const std::vector<Case>& cases) {
  uint64_t h = 1469598103934665603ull;
  for (const auto& c : cases) {
    std::string s = case_to_json(c).dump();
    s.push_back('\n');
    for (unsigned char ch : s) {
      h ^= ch;
      h *= 1099511628211ull;
    }
  }
  return fmt::format("{:016x}", h);
}

}  // namespace kvb
