// Building blocks of scorer-based methods (kvpress's ScorerPress split): a scorer writes one
// importance score per cached entry and KV head; a budget policy turns scores into keep sets.
// docs/kvpress-notes.md gives the kvpress formulas these follow; tests/test_methods_*.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "kv/method.h"

namespace kvb {

// How many entries each head of a layer keeps and which ones, given the layer's scores.
struct BudgetPolicy {
  std::function<KeepSets(const LayerView&, const Scores&)> select;
};

// torch.topk(x, k).indices on CPU, in torch's output order, ties included: a replica of ATen's
// algorithm over libstdc++ (docs/kvpress-notes.md §1). Ties are NOT broken by index.
std::vector<int32_t> torch_topk_order(const std::vector<float>& x, int64_t k);
// The same set, sorted ascending (what the KV cache keeps).
std::vector<int32_t> top_k_indices(const std::vector<float>& scores, int64_t k);
KeepSets top_k_per_head(const Scores& scores, int64_t k);

// Uniform policy: every head keeps v.n_kept entries.
BudgetPolicy uniform_budget();

// A Method made of a scorer and a budget policy, applied once after the compressed prefill.
std::unique_ptr<Method> make_scored_method(Scorer scorer, BudgetPolicy policy);

// ---- helpers shared by scorers -------------------------------------------------------------

// Softmax attention of the last W prefilled queries over all T entries of each query head, with
// the causal mask inside the window (query i of the window sees entries up to T - W + i):
// returns [Hq][W][T]. Requires every entry of the layer to still be cached (prefill).
std::vector<std::vector<float>> window_attention(const LayerView& v, int window);

// Mean over the window queries: [Hq][W][T] -> [Hq][n_cols] (the first n_cols columns).
std::vector<std::vector<float>> mean_over_window(const std::vector<std::vector<float>>& attn, int window,
                                                 int64_t n_cols);
// Mean over the query heads of each GQA group: [Hq][T] -> [Hkv][T].
Scores mean_over_group(const std::vector<std::vector<float>>& per_query_head, int n_kv_heads);

// torch.nn.functional.avg_pool1d(x, kernel, stride=1, padding=kernel/2) with zero padding counted.
std::vector<float> avg_pool1d_same(const std::vector<float>& x, int kernel);
std::vector<float> max_pool1d_same(const std::vector<float>& x, int kernel);

// The largest score over every head (kvpress pads observation windows / sinks with it + 1).
float max_score(const Scores& s);

// ---- scoring a subset of a layer's entries (chunk / block wrappers) -------------------------

// Whether a scorer reads only the cached keys and values (no observation window, attention mass or
// query statistics), so that it can score any subset of entries on its own.
bool scores_entries_only(const Scorer& s);
// The scores such a scorer gives the entries rows[h] of each KV head of v.layer, in that order (the
// scorer sees a cache holding just those rows, with n_context = their count and n_kept = kept(count)):
// [Hkv][rows[h].size()].
Scores score_entry_subset(const Scorer& s, const LayerView& v, const std::vector<std::vector<int32_t>>& rows,
                          const std::function<int64_t(int64_t)>& kept);

// The compression ratio a method applies to a compressed part of n entries of which it keeps
// n_kept: the spec's ratio, or with a token budget 1 - n_kept / n (kvpress presses that take a ratio).
double effective_ratio(const MethodContext& ctx, int64_t n);

}  // namespace kvb
