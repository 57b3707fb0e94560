// hip: HiP Attention v1 at decode time (Lee et al. 2024, arXiv:2406.09827; reference
// DeepAuto-AI/hip-attention src/hip_attn/v1_0/attention1_block_gpu.py, FSL licence: not copied;
// spec: ../shared/docs/methods-wave2.md item 4). Per layer from dense_layers on, per query head: the compressed part's first n_sink
// entries and last n_window entries are always read (sinks and sliding window), and k = budget -
// n_sink - n_window entries of the rest are picked by a hierarchical top-k over key blocks of
// block_size tokens (hip::hierarchical_top_k; a decode query block is the one step query, b_q = 1).
// The mask is computed every refresh_interval decode steps and reused in between, kept as token
// positions (kv/read_selection.h SharedSelection, as tidaldecode); entries after the compressed part
// (the question in query-agnostic mode, generated tokens) are always read. The prefill stays dense
// (HiP's sparse prefill is not implemented). Per query head sets: the KV head's physical read is the
// union over its group. `kvbench eval --method hip --ratio 0.75`.
#include "methods/hip.h"

#include <algorithm>

#include "core/error.h"
#include "methods/token_selection.h"

namespace kvb {

namespace hip {

std::vector<int32_t> hierarchical_top_k(const float* q, const float* keys, int64_t D,
                                        std::span<const int32_t> candidates, int64_t k, int64_t block,
                                        Representative rep) {
  const int64_t M = int64_t(candidates.size());
  const int64_t n_blocks = (M + block - 1) / block, keep = std::max<int64_t>(1, k / block);
  if (k >= M || keep >= n_blocks) return {candidates.begin(), candidates.end()};
  struct Group {
    int64_t lo, hi;  // blocks [lo, hi)
  };
  std::vector<Group> groups;  // ascending, disjoint
  for (int64_t i = 0; i < keep; ++i) groups.push_back({i * n_blocks / keep, (i + 1) * n_blocks / keep});
  const auto representative = [&](const Group& g) {
    const int64_t t_lo = g.lo * block, t_hi = std::min(g.hi * block, M);
    return candidates[size_t(rep == Representative::Center ? t_lo + (t_hi - t_lo) / 2 : t_lo)];
  };
  std::vector<Group> halves;
  std::vector<int32_t> reps;
  std::vector<float> scores;
  while (std::any_of(groups.begin(), groups.end(), [](const Group& g) { return g.hi - g.lo > 1; })) {
    halves.clear();
    for (const Group& g : groups) {
      if (g.hi - g.lo == 1) {
        halves.push_back(g);
        continue;
      }
      const int64_t mid = (g.lo + g.hi) / 2;
      halves.push_back({g.lo, mid});
      halves.push_back({mid, g.hi});
    }
    reps.clear();
    for (const Group& h : halves) reps.push_back(representative(h));
    scores.resize(reps.size());
    selection::dot_scores(q, keys, reps, D, 1.0f, scores.data());
    groups.clear();
    for (int32_t i : top_k_stable(scores, keep)) groups.push_back(halves[size_t(i)]);
  }
  std::vector<int32_t> out;
  for (const Group& g : groups)
    for (int64_t t = g.lo * block; t < std::min(g.hi * block, M); ++t) out.push_back(candidates[size_t(t)]);
  return out;
}

}  // namespace hip

namespace {

class Hip final : public selection::BudgetedSelector {
 public:
  struct Config {
    int64_t block, n_sink, n_window, refresh, dense_layers;
    hip::Representative rep;
  };
  Hip(const Config& c, int n_layers, int hq) : c_(c), hq_(hq), masks_(size_t(n_layers)) {}
  KeepSets compress_prefill(const LayerView& v) override {  // a new case: forget the last one's masks
    step_ = -1;
    for (auto& m : masks_) m.clear();
    return BudgetedSelector::compress_prefill(v);
  }

  ReadSelection select(int layer, const float* q, const KVCache& cache) override {
    if (layer == 0) ++step_;
    if (budget_.covers_context() || layer < c_.dense_layers) return {};
    SharedSelection& mask = masks_.at(size_t(layer));
    if (step_ % c_.refresh == 0) {  // refresh the mask (step 0 always does)
      mask.clear();
      const ReadSelection fresh = mask_now(layer, q, cache);
      if (fresh.reads_everything()) return {};
      mask.record(fresh, cache, layer);
      return fresh;
    }
    if (mask.empty()) return {};  // the last refresh read everything
    ReadSelection sel = mask.reuse(cache, layer, hq_);
    // Entries appended since the refresh (generated tokens) are read too.
    const int group = hq_ / cache.n_kv_heads();
    for (size_t h = 0; h < sel.sets.size(); ++h)
      sel.sets[h] = selection::sorted_union(
          sel.sets[h], selection::split_by_context(cache.head(layer, int(h) / group), budget_.n_context).newer);
    return sel;
  }

 private:
  // Per query head: sinks + sliding window + the hierarchical top-k of the rest, + the newer entries.
  ReadSelection mask_now(int layer, const float* q, const KVCache& cache) const {
    const int64_t k = budget_.n_kept - c_.n_sink - c_.n_window;
    KVB_CHECK(k >= c_.block,
              "hip: a read budget of {} entries leaves fewer than block_size {} for the top-k beyond n_sink {} + "
              "n_window {} (lower them or raise the budget)",
              budget_.n_kept, c_.block, c_.n_sink, c_.n_window);
    const int Hkv = cache.n_kv_heads();
    const int64_t D = cache.head_dim(), group = hq_ / Hkv;
    ReadSelection sel;
    sel.per_query_head = true;
    sel.sets.resize(size_t(hq_));
    bool all = true;
    for (int g = 0; g < Hkv; ++g) {
      const selection::HeadParts parts = selection::split_by_context(cache.head(layer, g), budget_.n_context);
      const int64_t n_old = int64_t(parts.compressed.size());
      const int64_t sink_end = std::min(c_.n_sink, n_old), window_start = std::max(sink_end, n_old - c_.n_window);
      std::vector<int32_t> fixed(parts.compressed.begin(), parts.compressed.begin() + sink_end);
      fixed.insert(fixed.end(), parts.compressed.begin() + window_start, parts.compressed.end());
      fixed = selection::sorted_union(fixed, parts.newer);
      const std::span<const int32_t> cand(parts.compressed.data() + sink_end, size_t(window_start - sink_end));
      all &= int64_t(cand.size()) <= k;
      const HeadRows rows = cache.rows(layer, g);
      for (int64_t qh = g * group; qh < (g + 1) * group; ++qh)
        sel.sets[size_t(qh)] = selection::sorted_union(
            fixed, hip::hierarchical_top_k(q + qh * D, rows.keys(), D, cand, k, c_.block, c_.rep));
    }
    if (all) return {};
    return sel;
  }

  Config c_;
  int hq_;
  int64_t step_ = -1;                  // decode step (counted at layer 0's select)
  std::vector<SharedSelection> masks_;  // [L] the last refreshed mask, as positions
};

KVB_REGISTER_METHOD(hip, 1, "HiP Attention v1: Lee et al. 2024, arXiv:2406.09827",
                    "selector=per query head hierarchical top-k over key blocks (halve groups, keep the best halves by "
                    "their center token's q.k) plus sinks and a sliding window, mask refreshed every refresh_interval "
                    "decode steps (--ratio/--budget = entries of the compressed part read per step and query head, "
                    "sinks and window included), prefill dense, cache untouched",
                    MethodRoles{.selects = true, .budget = Budget::ReadsPerStep},
                    {{"block_size", "2", "b_k: tokens per key block (paper: 2)"},
                     {"n_sink", "4", "first entries always read"},
                     {"n_window", "64", "newest entries of the compressed part always read (paper: 128; scaled for "
                                        "1K-8K contexts)"},
                     {"refresh_interval", "8", "decode steps a mask is reused (paper: 8)"},
                     {"dense_layers", "3", "first layers attend densely (paper: 3)"},
                     {"sampling_method", "center", "representative token of a group: center (paper's eval) or first"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      Hip::Config c;
                      c.block = ctx.params.get_int("block_size");
                      c.n_sink = ctx.params.get_int("n_sink");
                      c.n_window = ctx.params.get_int("n_window");
                      c.refresh = ctx.params.get_int("refresh_interval");
                      c.dense_layers = ctx.params.get_int("dense_layers");
                      KVB_CHECK(c.block >= 1 && c.refresh >= 1, "hip: block_size {} and refresh_interval {} must be >= 1",
                                c.block, c.refresh);
                      KVB_CHECK(c.n_sink >= 0 && c.n_window >= 0 && c.dense_layers >= 0,
                                "hip: n_sink {}, n_window {} and dense_layers {} must be >= 0", c.n_sink, c.n_window,
                                c.dense_layers);
                      const std::string rep = ctx.params.get_string("sampling_method");
                      KVB_CHECK(rep == "center" || rep == "first", "hip: sampling_method '{}' must be center or first",
                                rep);
                      c.rep = rep == "center" ? hip::Representative::Center : hip::Representative::First;
                      return std::make_unique<Hip>(c, ctx.config->n_layers, ctx.config->n_heads);
                    });

}  // namespace
}  // namespace kvb
