// kvpress_jsonl: replays kvpress-style dataset rows (context, question, answer_prefix, answer,
// max_new_tokens) as jsonl; context, question and answer_prefix are joined as kvpress's pipeline
// does (no separators: Case::verbatim). Try: kvbench eval --task kvpress_jsonl --param file=rows.jsonl.
#include <fmt/format.h>

#include "core/error.h"
#include "datasets/file_rows.h"
#include "eval/prompt.h"
#include "eval/scorers.h"
#include "eval/task.h"

namespace kvb::tasks {
namespace {

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
    c.question = datasets::row_string(row, path, "question");
    c.answer_prefix = row_has(row, "answer_prefix") ? datasets::row_string(row, path, "answer_prefix") : "";
    c.answers = datasets::row_strings(row, path, "answer");
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
    annotate_tokens(c, env);
    out.push_back(std::move(c));
  }
  return out;
}

KVB_REGISTER_TASK(kvpress_jsonl, 1, "Replay kvpress-style rows (context, question, answer_prefix, answer) from jsonl",
                  "string_match_all",
                  std::vector<ParamSpec>{
                      {"file", "", "jsonl rows: context, question, answer_prefix, answer (string or list), max_new_tokens"},
                      {"scorer", "string_match_all", "scorer id for every row"},
                      {"num_samples", "0", "rows to use from the start of the file (0: all)"},
                      {"max_new_tokens", "0", "tokens to generate (0: each row's own max_new_tokens)"},
                  },
                  generate_kvpress_jsonl);

}  // namespace
}  // namespace kvb::tasks
