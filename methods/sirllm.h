// sirllm's eviction rule (Yao et al. 2024, arXiv:2405.12528; reference Zoeyyao27/SirLLM
// sir_llm/kv_cache.py evict_for_space_token_entropy and eval_utils.py), shared by methods/sirllm.cpp
// and tests/test_sirllm.cpp. Axes: T cached tokens.
#pragma once
#include <cstdint>
#include <vector>

namespace kvb {

// The entries (ascending indices into scores) that one SirLLM eviction keeps within n_kept: the
// first n_sink, the top n_kept - n_sink - n_recent by score over ALL entries (sinks and the newest
// included, as the reference ranks them; ties: the lower index), then the newest entries not kept
// yet until n_kept are kept (the reference's fill loop, which with n_recent = 0 only refills the
// slots a sink already held). n_kept >= T: every entry. kvb::Error when n_kept < n_sink.
std::vector<int32_t> sirllm_keep(const std::vector<float>& scores, int64_t n_kept, int64_t n_sink, int64_t n_recent);

// Token scores from a prefill's surprisal (PrefillNeeds::token_surprisal: -log p(x_t | x_<t), NaN at
// t = 0): the first token gets the largest score of the others (the reference's rule).
std::vector<float> sirllm_scores(const std::vector<float>& surprisal);

// SirLLM across turns: the scores of the retained entries, decayed by decay_ratio at each eviction,
// followed by each new turn's tokens' fresh scores. A turn is one compression of the cache; the
// kvbench runner compresses once per case (after the compressed prefill), so a case is one turn.
class SirllmTurns {
 public:
  explicit SirllmTurns(double decay_ratio) : decay_(decay_ratio) {}
  // The next turn's tokens, appended after the retained ones.
  void append(const std::vector<float>& scores) { scores_.insert(scores_.end(), scores.begin(), scores.end()); }
  // Evicts down to n_kept (sirllm_keep) and returns the kept indices; the kept scores are then
  // multiplied by decay_ratio (the reference scales them right after each eviction).
  std::vector<int32_t> evict(int64_t n_kept, int64_t n_sink, int64_t n_recent);
  const std::vector<float>& scores() const { return scores_; }

 private:
  double decay_;
  std::vector<float> scores_;  // [T] by entry
};

}  // namespace kvb
