// sirllm: SirLLM, streaming with tokens selected by self-information (Yao et al. 2024,
// arXiv:2405.12528; reference Zoeyyao27/SirLLM sir_llm/kv_cache.py, eval_utils.py). A token's score
// is its surprisal -log p(x_t | x_<t) under the model's own LM-head logits at the prompt (seam (g):
// PrefillNeeds::token_surprisal, recorded chunk by chunk without holding [T, V]); the first token
// gets the largest score. After the compressed prefill every layer and KV head keeps one set: the
// first start_size tokens, the top tokens by score, then the newest (methods/sirllm.h).
// `kvbench eval --method sirllm --ratio 0.5 --param start_size=4`.
#include "methods/sirllm.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "kv/method.h"
#include "kv/read_selection.h"

namespace kvb {

std::vector<int32_t> sirllm_keep(const std::vector<float>& scores, int64_t n_kept, int64_t n_sink, int64_t n_recent) {
  const int64_t T = int64_t(scores.size());
  std::vector<int32_t> all(static_cast<size_t>(T));
  std::iota(all.begin(), all.end(), 0);
  if (n_kept >= T) return all;
  KVB_CHECK(n_kept >= n_sink, "sirllm: a budget of {} tokens does not hold the start_size={} sink tokens", n_kept,
            n_sink);
  std::vector<char> kept(static_cast<size_t>(T), 0);
  // The top n_kept - n_sink - n_recent by score (the reference's token_entropy_size), plus the sinks.
  for (int32_t j : top_k_stable(scores, std::max<int64_t>(0, n_kept - n_sink - n_recent))) kept[size_t(j)] = 1;
  for (int64_t j = 0; j < std::min(n_sink, T); ++j) kept[size_t(j)] = 1;
  int64_t n = std::count(kept.begin(), kept.end(), char(1));
  // Then the newest tokens not kept yet, newest first, until the budget is full.
  for (int64_t j = T - 1; j >= 0 && n < n_kept; --j)
    if (!kept[size_t(j)]) {
      kept[size_t(j)] = 1;
      ++n;
    }
  std::vector<int32_t> out;
  for (int64_t j = 0; j < T; ++j)
    if (kept[size_t(j)]) out.push_back(int32_t(j));
  return out;
}

std::vector<float> sirllm_scores(const std::vector<float>& surprisal) {
  std::vector<float> s = surprisal;
  if (s.empty()) return s;
  float mx = -std::numeric_limits<float>::infinity();
  for (size_t t = 1; t < s.size(); ++t) mx = std::max(mx, s[t]);
  s[0] = s.size() > 1 ? mx : 0.0f;
  return s;
}

std::vector<int32_t> SirllmTurns::evict(int64_t n_kept, int64_t n_sink, int64_t n_recent) {
  const std::vector<int32_t> keep = sirllm_keep(scores_, n_kept, n_sink, n_recent);
  std::vector<float> kept_scores;
  kept_scores.reserve(keep.size());
  for (int32_t j : keep) kept_scores.push_back(float(double(scores_[size_t(j)]) * decay_));
  scores_ = std::move(kept_scores);
  return keep;
}

namespace {

class SirLLM final : public Method {
 public:
  SirLLM(int64_t n_sink, int64_t n_recent, double decay) : n_sink_(n_sink), n_recent_(n_recent), decay_(decay) {}
  PrefillNeeds prefill_needs() const override {
    PrefillNeeds n;
    n.token_surprisal = true;
    return n;
  }
  // One kept set for every layer and head, decided at the first layer from the prefill's surprisal.
  KeepSets compress_prefill(const LayerView& v) override {
    KVB_CHECK(v.token_surprisal != nullptr, "sirllm: the prefill recorded no token surprisal");
    if (v.layer == 0 || keep_.empty()) {
      SirllmTurns turn(decay_);
      turn.append(sirllm_scores(*v.token_surprisal));
      keep_ = turn.evict(v.n_kept, n_sink_, n_recent_);
    }
    const int Hkv = v.cache->n_kv_heads();
    for (int h = 0; h < Hkv; ++h)
      KVB_CHECK(v.cache->head(v.layer, h).size() == int64_t(v.token_surprisal->size()),
                "sirllm: layer {} head {} holds {} entries, the compressed part has {} tokens", v.layer, h,
                v.cache->head(v.layer, h).size(), v.token_surprisal->size());
    if (int64_t(keep_.size()) == int64_t(v.token_surprisal->size())) return {};  // the budget covers the context
    return KeepSets(size_t(Hkv), keep_);
  }

 private:
  int64_t n_sink_, n_recent_;
  double decay_;
  std::vector<int32_t> keep_;
};

KVB_REGISTER_METHOD(sirllm, 1, "SirLLM: Yao et al. 2024, arXiv:2405.12528",
                    "scorer=token surprisal -log p(x_t|x_<t) from the model's own prompt logits (first token: the "
                    "max), one kept set for every layer and head: start_size sinks + top by score + the newest; "
                    "budget=uniform (cache size = --ratio/--budget), schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::Uniform},
                    {{"start_size", "4", "first tokens always kept (the reference's start_size)"},
                     {"recent_size", "0",
                      "newest tokens reserved besides the top by score (the paper's runs: 0, so the newest only fill "
                      "slots the sinks already took; the reference class's default: 512)"},
                     {"decay_ratio", "1.0",
                      "factor on the retained tokens' scores at each eviction (a turn); kvbench compresses once per "
                      "case, so it has no effect on a case (paper: 1.0 / 0.9 / 0.7)"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      const int64_t sink = ctx.params.get_int("start_size"), recent = ctx.params.get_int("recent_size");
                      const double decay = ctx.params.get_double("decay_ratio");
                      KVB_CHECK(sink >= 0 && recent >= 0, "sirllm: start_size {} and recent_size {} must be >= 0", sink,
                                recent);
                      KVB_CHECK(decay > 0.0 && decay <= 1.0, "sirllm: decay_ratio {} must be in (0, 1]", decay);
                      return std::make_unique<SirLLM>(sink, recent, decay);
                    });

}  // namespace
}  // namespace kvb
