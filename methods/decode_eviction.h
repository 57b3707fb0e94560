// Decode-time eviction shared by h2o and tova (`--param schedule=decode`): after each generated
// token, every KV head holding more than its budget drops the one entry with the lowest running
// score outside the protected recent window. h2o's score is the attention an entry has accumulated
// (prefill + every decode step, mean over the GQA group; H2O's heavy hitters); tova's is the current
// step's attention averaged over all query heads (TOVA's token-by-token eviction). The budget held is
// the token budget when one is given (the cache grows up to it), else the number of entries the
// prefill kept (ratio budgets).
#pragma once
#include <algorithm>
#include <memory>

#include "methods/scoring.h"

namespace kvb {

class DecodeTimeEviction final : public Method {
 public:
  enum class Rule { AccumulatedAttention, CurrentAttention };
  DecodeTimeEviction(Scorer prefill_scorer, Rule rule, int64_t recent, int64_t token_budget)
      : prefill_(std::move(prefill_scorer)), rule_(rule), recent_(recent), token_budget_(token_budget) {}
  PrefillNeeds prefill_needs() const override {
    PrefillNeeds n = prefill_.needs;
    n.attention_mass = n.attention_mass || rule_ == Rule::AccumulatedAttention;
    return n;
  }
  KeepSets compress_prefill(const LayerView& v) override {
    const int H = v.cache->n_kv_heads(), group = v.config->n_heads / H;
    if (acc_.empty()) acc_.resize(size_t(v.config->n_layers));
    budget_ = token_budget_ > 0 ? token_budget_ : v.n_kept;  // n_kept = min(token budget, prompt) otherwise
    KeepSets keep;
    if (v.n_kept < v.n_context) keep = top_k_per_head(prefill_.score(v), v.n_kept);
    // Running accumulated attention of the entries that stay, mean over each group's query heads.
    auto& acc = acc_[size_t(v.layer)];
    acc.assign(size_t(H), {});
    for (int h = 0; h < H; ++h) {
      const int64_t T = v.cache->head(v.layer, h).size();
      std::vector<float> a(size_t(T), 0.0f);
      if (v.attn_mass)
        for (int g = 0; g < group; ++g)
          for (int64_t j = 0; j < T; ++j) a[size_t(j)] += (*v.attn_mass)[size_t(h * group + g)][size_t(j)] / float(group);
      if (keep.empty()) {
        acc[size_t(h)] = std::move(a);
      } else {
        for (int32_t j : keep[size_t(h)]) acc[size_t(h)].push_back(a[size_t(j)]);
      }
    }
    return keep;
  }
  bool decode_hooks() const override { return true; }
  bool decode_wants_mass() const override { return true; }
  KeepSets on_decode_step(const LayerView& v, int64_t) override {
    const int H = v.cache->n_kv_heads(), Hq = v.config->n_heads, group = Hq / H;
    auto& acc = acc_[size_t(v.layer)];
    KeepSets keep(static_cast<size_t>(H));
    bool any = false;
    for (int h = 0; h < H; ++h) {
      const int64_t T = v.cache->head(v.layer, h).size();
      acc[size_t(h)].resize(size_t(T), 0.0f);  // the entry this step appended starts at 0
      std::vector<float> score(size_t(T), 0.0f);
      for (int64_t j = 0; j < T; ++j) {
        float step = 0;
        if (rule_ == Rule::AccumulatedAttention) {
          for (int g = 0; g < group; ++g) step += (*v.attn_mass)[size_t(h * group + g)][size_t(j)] / float(group);
          acc[size_t(h)][size_t(j)] += step;
          score[size_t(j)] = acc[size_t(h)][size_t(j)];
        } else {
          for (int qh = 0; qh < Hq; ++qh) step += (*v.attn_mass)[size_t(qh)][size_t(j)] / float(Hq);
          score[size_t(j)] = step;
        }
      }
      for (int64_t j = 0; j < T; ++j) keep[size_t(h)].push_back(int32_t(j));
      if (T <= budget_ || T - recent_ <= 0) continue;
      // Evict the lowest score outside the recent window (first minimum on ties).
      const int64_t victim = std::min_element(score.begin(), score.end() - recent_) - score.begin();
      keep[size_t(h)].erase(keep[size_t(h)].begin() + victim);
      acc[size_t(h)].erase(acc[size_t(h)].begin() + victim);
      any = true;
    }
    if (!any) return {};
    return keep;
  }

 private:
  Scorer prefill_;
  Rule rule_;
  int64_t recent_;
  int64_t token_budget_;
  int64_t budget_ = 0;
  std::vector<std::vector<std::vector<float>>> acc_;  // [L][Hkv][T]
};

}  // namespace kvb
