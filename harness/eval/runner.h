// Runs task cases through the engine (full attention for now; methods plug in with the methods
// issue): the context part is prefilled first, then the question part, then greedy decoding, as
// kvpress's query-agnostic pipeline does. Exercised by `kvbench eval` and tests/test_eval.cpp.
#pragma once
#include <string>
#include <vector>

#include "eval/task.h"
#include "model/transformer.h"

namespace kvb {

struct CaseResult {
  std::string case_id;
  std::string prediction;
  double score = 0.0;             // 0..100
  int prompt_tokens = 0;
  int generated_tokens = 0;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
};

// `env.tokenizer` is required. Symbolic cases (input_ids set) are rejected with a clear error:
// they are meant for the built-in oracle model.
CaseResult run_case(Transformer& model, const Case& c, const TaskEnv& env);

struct ScoreSummary {
  int n = 0;
  double mean = 0.0;
  double ci_low = 0.0, ci_high = 0.0;  // 95% percentile bootstrap over cases
};
// Deterministic (fixed-seed) bootstrap with `resamples` draws.
ScoreSummary summarize_scores(const std::vector<double>& scores, int resamples = 2000);

}  // namespace kvb
