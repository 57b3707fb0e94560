// Runs symbolic cases (Case::input_ids + labels: mqar form=symbolic, niah_* form=symbolic) through the
// engine and scores them by next-token argmax at the labelled positions, teacher-forced (Zoology's
// MQAR accuracy); label sets (multi-value keys) score by top-k. Exercised by `kvbench oracle-check`
// and tests/test_oracle_tasks.cpp; meant to be called from eval/runner.cpp's run_case for such cases.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "eval/task.h"
#include "engine/transformer.h"

namespace kvb {

// A symbolic case in the two parts a query-agnostic run feeds: the context (prefilled and compressed
// first) and the question (teacher-forced after it). The context is input_ids[0, context_tokens)
// with context_tokens from meta.extra["context_tokens"], else the first labelled position. When
// the tokenizer adds BOS and the case does not start with it, BOS is prepended (as encode_prompt
// does for text) and every position shifts by one.
struct SymbolicPrompt {
  std::vector<int32_t> context;
  std::vector<int32_t> question;
  struct Target {
    int64_t question_index = 0;      // row of the question part whose next-token logits are scored
    std::vector<int32_t> ids;        // one id (argmax must equal it) or a set of k ids (top-k)
  };
  std::vector<Target> targets;
  size_t size() const { return context.size() + question.size(); }
};
// Throws kvb::Error when the case has no input_ids or labels, a label falls inside the context, or
// an id is outside [0, vocab_size).
SymbolicPrompt split_symbolic_case(const Case& c, const Tokenizer* tokenizer, int vocab_size);

struct SymbolicScore {
  double score = 0.0;            // 0..100: hits / targets (a k-id set counts k targets)
  int targets = 0, hits = 0;
  std::vector<int32_t> predicted;  // argmax id at each target, in order
  std::vector<bool> target_hits;   // per target: every one of its ids was in the top k
  std::vector<double> target_nll;  // per one-id target: -log softmax(logits)[id], nats (label sets: NaN)
  std::string prediction;          // those ids as tokens (or numbers without a tokenizer)
  double seconds = 0.0;            // question forward passes
};

// Scores one target against its logits row [V]: updates targets, hits, predicted, target_hits,
// target_nll and prediction (not score).
void score_symbolic_target(const float* row, int64_t V, const SymbolicPrompt::Target& t, const Tokenizer* tokenizer,
                           SymbolicScore& s);

// Feeds p.question on `cache`, which holds the (possibly compressed) context, and scores the targets.
// chunk: question tokens per forward call (1 = token by token, so decode-time hooks in `observer`,
// e.g. page selectors, act on every step).
SymbolicScore answer_symbolic(Transformer& model, KVCache& cache, const SymbolicPrompt& p,
                              const Tokenizer* tokenizer, ForwardObserver* observer = nullptr, int chunk = 256);

// Full attention: prefill the context, then answer_symbolic.
struct SymbolicRun {
  SymbolicScore result;
  int prompt_tokens = 0;
  int64_t context_tokens = 0;
  double prefill_seconds = 0.0;
};
SymbolicRun run_symbolic_case(Transformer& model, const Case& c, const Tokenizer* tokenizer);

}  // namespace kvb
