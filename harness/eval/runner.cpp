// Case runner and score summary; see runner.h.
#include "eval/runner.h"

#include <algorithm>

#include "core/timer.h"
#include "datasets/random.h"
#include "eval/prompt.h"
#include "eval/scorers.h"
#include "model/generate.h"

namespace kvb {

CaseResult run_case(Transformer& model, const Case& c, const TaskEnv& env, const MethodSpec& method) {
  KVB_CHECK(method.id == "full", "method {}: not available yet", method.id);
  KVB_CHECK(env.tokenizer != nullptr, "case {}: running a case needs the model's tokenizer", c.id);
  KVB_CHECK(c.input_ids.empty(),
            "case {}: symbolic cases (token ids, e.g. mqar form=symbolic) are for the built-in oracle model; "
            "use form=text with a language model",
            c.id);
  PromptTokens prompt = encode_prompt(c, env);
  CaseResult r;
  r.case_id = c.id;
  r.prompt_tokens = int(prompt.size());
  KVCache cache = model.make_cache();
  cache.reserve(int64_t(prompt.size()) + c.max_new_tokens);
  Stopwatch prefill;
  model.forward(prompt.context, cache, LogitRows::None);
  Tensor logits = model.forward(prompt.question, cache, LogitRows::Last);
  r.prefill_seconds = prefill.seconds();
  GenerationOptions opt;
  opt.max_new_tokens = c.max_new_tokens;
  GenerationResult g = generate_greedy(model, *env.tokenizer, cache, logits.data, opt);
  r.prediction = g.text;
  r.generated_tokens = int(g.tokens.size());
  r.decode_seconds = g.decode_seconds;
  r.score = score_prediction(c.scorer, r.prediction, c.answers);
  return r;
}

ScoreSummary summarize_scores(const std::vector<double>& scores, int resamples) {
  ScoreSummary s;
  s.n = int(scores.size());
  if (scores.empty()) return s;
  double sum = 0;
  for (double v : scores) sum += v;
  s.mean = sum / double(scores.size());
  Rng rng(0x5eedULL);
  std::vector<double> means(static_cast<size_t>(resamples), 0.0);
  for (auto& m : means) {
    double acc = 0;
    for (size_t i = 0; i < scores.size(); ++i) acc += scores[rng.below(scores.size())];
    m = acc / double(scores.size());
  }
  std::sort(means.begin(), means.end());
  s.ci_low = means[size_t(0.025 * (resamples - 1))];
  s.ci_high = means[size_t(0.975 * (resamples - 1))];
  return s;
}

}  // namespace kvb
