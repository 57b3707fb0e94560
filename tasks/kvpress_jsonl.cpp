// kvpress_jsonl: replays kvpress-style dataset rows (context, question, answer_prefix, answer,
// max_new_tokens) as jsonl; context, question and answer_prefix are joined as kvpress's pipeline
// does (no separators: Case::verbatim). A row whose question is a list asks each question of the one
// context (kvpress's pipeline(context, questions=[...])): its answer is then a list with one entry
// (a string or a list of strings) per question, and the rows are linked by Case::context_id. Try: kvbench eval --task kvpress_jsonl --param file=rows.jsonl.
#include <fmt/format.h>

#include "core/error.h"
#include "datasets/file_rows.h"
#include "eval/prompt.h"
#include "eval/scorers.h"
#include "eval/task.h"

namespace kvb::tasks {
namespace {

// A row's questions (field 'question' a list of strings) with their answers (field 'answer' a list of
// the same length, each entry a string or a list of strings).
std::vector<Question> row_questions(const datasets::Row& row, const std::string& path, const std::string& prefix) {
  const nlohmann::json& qs = row.value["question"];
  KVB_CHECK(!qs.empty(), "{}:{}: field 'question' is an empty list", path, row.line);
  KVB_CHECK(row_has(row, "answer") && row.value["answer"].is_array() && row.value["answer"].size() == qs.size(),
            "{}:{}: field 'question' is a list of {}: field 'answer' must be a list with one answer (a string or a "
            "list of strings) per question",
            path, row.line, qs.size());
  std::vector<Question> out;
  for (size_t j = 0; j < qs.size(); ++j) {
    KVB_CHECK(qs[j].is_string(), "{}:{}: field 'question' entry {} is not a string", path, row.line, j);
    datasets::Row one{{{"answer", row.value["answer"][j]}}, row.line};
    Question q{qs[j].get<std::string>(), prefix, datasets::row_strings(one, path, "answer"), {{"question_index", j}}};
    out.push_back(std::move(q));
  }
  return out;
}

std::vector<Case> generate_kvpress_jsonl(const TaskParams& p, uint64_t seed, const TaskEnv& env) {
  (void)seed;  // rows are replayed in file order
  const std::string path = p.get_string("file"), scorer = p.get_string("scorer");
  const int samples = int(p.get_int("num_samples")), max_new = int(p.get_int("max_new_tokens"));
  find_scorer(scorer);
  KVB_CHECK(samples >= 0 && max_new >= 0, "task kvpress_jsonl: num_samples and max_new_tokens must be >= 0");
  const std::vector<datasets::Row> rows = datasets::read_jsonl(path);
  std::vector<Case> out;
  for (size_t i = 0; i < rows.size() && (samples == 0 || int(i) < samples); ++i) {
    const datasets::Row& row = rows[i];
    Case c;
    c.id = fmt::format("kvpress_jsonl/{}", i);
    c.verbatim = true;
    c.context = datasets::row_string(row, path, "context");
    const bool several = row_has(row, "question") && row.value["question"].is_array();
    c.answer_prefix = row_has(row, "answer_prefix") ? datasets::row_string(row, path, "answer_prefix") : "";
    if (!several) {
      c.question = datasets::row_string(row, path, "question");
      c.answers = datasets::row_strings(row, path, "answer");
    }
    if (max_new > 0) {
      c.max_new_tokens = max_new;
    } else {
      KVB_CHECK(row_has(row, "max_new_tokens"), "{}:{}: field 'max_new_tokens' is missing (or set the task "
                "parameter max_new_tokens)", path, row.line);
      c.max_new_tokens = datasets::row_int(row, path, "max_new_tokens");
      KVB_CHECK(c.max_new_tokens >= 1, "{}:{}: field 'max_new_tokens' must be >= 1, got {}", path, row.line,
                c.max_new_tokens);
    }
    c.scorer = scorer;
    c.meta.extra = {{"line", row.line}};
    if (!several) {
      annotate_tokens(c, env);
      out.push_back(std::move(c));
      continue;
    }
    for (Case& q : cases_for_questions(c, row_questions(row, path, c.answer_prefix), env)) out.push_back(std::move(q));
  }
  return out;
}

KVB_REGISTER_TASK(kvpress_jsonl, 1, "Replay kvpress-style rows (context, question, answer_prefix, answer) from jsonl",
                  "string_match_all",
                  std::vector<ParamSpec>{
                      {"file", "", "jsonl rows: context, question (a string, or a list asked of one context), answer_prefix, "
                               "answer (string or list; one per question for a question list), max_new_tokens"},
                      {"scorer", "string_match_all", "scorer id for every row"},
                      {"num_samples", "0", "rows to use from the start of the file (0: all)"},
                      {"max_new_tokens", "0", "tokens to generate (0: each row's own max_new_tokens)"},
                  },
                  generate_kvpress_jsonl);

}  // namespace
}  // namespace kvb::tasks
