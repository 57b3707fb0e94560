// Shared pieces of the token-level decode-time selectors (tokenselect, retrieval_attention,
// tidaldecode, loki): which entries belong to the compressed part, exact q.k scores over a list of
// entries, per-query-head top-k. The read budget (--budget / --ratio, Budget::ReadsPerStep) counts
// entries of the compressed part; entries appended after compression (the question in
// query-agnostic mode, generated tokens) are always read, as an evicting method keeps them. So a
// budget covering the compressed part reads everything (dense attention, bit for bit).
// Axes: Hq / Hkv heads, g = Hq / Hkv, T entries of a head, D head dim.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "kv/kv_cache.h"
#include "kv/method.h"

namespace kvb::selection {

// A head's entries split into those of the compressed part (position < n_context) and the newer
// ones, each ascending by index.
struct HeadParts {
  std::vector<int32_t> compressed, newer;
};
HeadParts split_by_context(const HeadCache& h, int64_t n_context);

// out[r] = scale * q . K[idx[r]] for q [D] and keys [T, D].
void dot_scores(const float* q, const float* keys, std::span<const int32_t> idx, int64_t D, float scale, float* out);

// Sorted union of two ascending index lists.
std::vector<int32_t> sorted_union(const std::vector<int32_t>& a, const std::vector<int32_t>& b);

// The read budget a selector takes from the prefill (LayerView::n_kept, the compressed part's
// length n_context): what compress_prefill records.
struct ReadBudget {
  int64_t n_kept = -1;     // entries of the compressed part read per step; < 0: not set (read everything)
  int64_t n_context = 0;
  bool covers_context() const { return n_kept < 0 || n_kept >= n_context; }
};

// A decode-time selector that leaves the cache untouched: compress_prefill only records the read
// budget (budget_), select() decides what each step reads.
class BudgetedSelector : public Method {
 public:
  KeepSets compress_prefill(const LayerView& v) override {
    budget_ = {v.n_kept, v.n_context};
    return {};
  }
  bool has_selector() const override { return true; }

 protected:
  ReadBudget budget_;
};

}  // namespace kvb::selection
