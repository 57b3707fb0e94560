// ruler_jsonl: replays the jsonl files RULER's prepare.py writes (index, input, outputs, length,
// answer_prefix) exactly: the prompt text is the row's input followed by its answer_prefix (Case::verbatim),
// as RULER's pred/call_api.py feeds it. Case ids are the row's position in the file: RULER's niah.py
// overwrites a row's `index` with the needle's character offset, so indices repeat within a file.
// tests/test_ruler_replay.cpp replays official RULER samples (tests/golden/ruler/).
// Try: kvbench eval --task ruler_jsonl --param file=niah_single_1.jsonl; tests/test_tasks_more.cpp.
#include <fmt/format.h>

#include "core/error.h"
#include "datasets/file_rows.h"
#include "eval/prompt.h"
#include "eval/scorers.h"
#include "eval/task.h"

namespace kvb::tasks {
namespace {

std::vector<Case> generate_ruler_jsonl(const TaskParams& p, uint64_t seed, const TaskEnv& env) {
  (void)seed;  // rows are replayed in file order
  const std::string path = p.get_string("file"), scorer = p.get_string("scorer"), split = p.get_string("split");
  const int samples = int(p.get_int("num_samples")), max_new = int(p.get_int("max_new_tokens"));
  find_scorer(scorer);  // unknown scorer: the error lists the known ones
  KVB_CHECK(split == "last_line" || split == "none", "task ruler_jsonl: parameter split='{}' is not one of: "
            "last_line, none", split);
  KVB_CHECK(samples >= 0 && max_new >= 1, "task ruler_jsonl: num_samples >= 0 and max_new_tokens >= 1 required");
  const std::vector<datasets::Row> rows = datasets::read_jsonl(path);
  std::vector<Case> out;
  for (size_t i = 0; i < rows.size() && (samples == 0 || int(i) < samples); ++i) {
    const datasets::Row& row = rows[i];
    const std::string input = datasets::row_string(row, path, "input");
    const int index = row_has(row, "index") ? datasets::row_int(row, path, "index") : int(i);
    Case c;
    c.id = fmt::format("ruler_jsonl/{}", i);
    c.verbatim = true;
    // RULER's templates end with the question: with split=last_line the text after the last
    // newline is fed as the question part (same text, same order; only the prefill split moves).
    const size_t nl = input.find_last_of('\n');
    if (split == "last_line" && nl != std::string::npos && nl + 1 < input.size()) {
      c.context = input.substr(0, nl + 1);
      c.question = input.substr(nl + 1);
    } else {
      c.context = input;
    }
    c.answer_prefix = row_has(row, "answer_prefix") ? datasets::row_string(row, path, "answer_prefix") : "";
    c.answers = datasets::row_strings(row, path, "outputs");
    c.max_new_tokens = max_new;
    c.scorer = scorer;
    c.meta.extra = {{"index", index}, {"line", row.line}};
    if (row_has(row, "length")) c.meta.extra["length"] = row.value["length"];
    annotate_tokens(c, env);
    out.push_back(std::move(c));
  }
  return out;
}

KVB_REGISTER_TASK(ruler_jsonl, 2, "Replay a RULER-generated jsonl file exactly (input + answer_prefix)",
                  "string_match_all",
                  std::vector<ParamSpec>{
                      {"file", "", "RULER jsonl: index, input, outputs, length, answer_prefix (one row per line)"},
                      {"scorer", "string_match_all", "scorer id (RULER: string_match_all; string_match_part for qa_*)"},
                      {"split", "last_line", "where the prefill splits context from question: last_line (the input's "
                                             "last line is the question) | none (all context)"},
                      {"num_samples", "0", "rows to use from the start of the file (0: all)"},
                      {"max_new_tokens", "128", "tokens to generate (RULER: niah 128, vt 30, cwe 120, fwe 50, qa 32)"},
                  },
                  generate_ruler_jsonl);

}  // namespace
}  // namespace kvb::tasks
