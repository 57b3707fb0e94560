// recycled_attention: full attention every few decode steps, a recycled partial cache in between
// (Xu et al. 2024, arXiv:2411.05787, "Recycled Attention"; spec: ../shared/docs/methods-wave2.md item 7).
// The full cache is kept. On a full step a layer attends densely and rebuilds its partial cache
// C_p: per KV head, the K = budget entries of the compressed part with the highest attention of
// the step's query, softmax(q . k / sqrt(D)) per query head, max-pooled over neighbouring entries
// (kernel 7, stride 1) and maxed over the query heads of the GQA group. A partial step reads C_p
// plus every entry after the compressed part (the question in query-agnostic mode and the tokens
// generated since: the paper appends each new token to C_p; it also evicts C_p's lowest-scored
// entry, which this one does not). C_p is kept as token positions (kv/read_selection.h
// SharedSelection). Schedule (per layer): stride (fixed-stride variant: a full step at decode
// steps 0, S, 2S, ...) or query_similarity (every qc steps after the last full step, a full step if
// the cosine between the step's mean-over-query-heads query and the last full step's is below
// `similarity`). The prefill's last token is not used: decode step 0 is a full step.
// `kvbench eval --method recycled_attention --ratio 0.875 --param stride=10`.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "methods/token_selection.h"

namespace kvb {
namespace {

constexpr int64_t kPoolKernel = 7;  // the paper's max-pool kernel

class RecycledAttention final : public selection::BudgetedSelector {
 public:
  struct Config {
    bool by_similarity;
    int64_t stride, qc;
    double similarity;
  };
  RecycledAttention(const Config& c, int n_layers, int hq)
      : c_(c), hq_(hq), layers_(size_t(n_layers)) {}
  KeepSets compress_prefill(const LayerView& v) override {  // a new case: forget the last one's masks
    step_ = -1;
    for (auto& l : layers_) l = {};
    return BudgetedSelector::compress_prefill(v);
  }

  ReadSelection select(int layer, const float* q, const KVCache& cache) override {
    if (layer == 0) ++step_;
    if (budget_.covers_context()) return {};
    LayerState& st = layers_.at(size_t(layer));
    const int64_t D = cache.head_dim();
    std::vector<float> q_mean(size_t(D), 0.0f);
    for (int h = 0; h < hq_; ++h)
      for (int64_t d = 0; d < D; ++d) q_mean[size_t(d)] += q[h * D + d] / float(hq_);
    if (full_step(st, q_mean)) {
      st.last_full = step_;
      st.full_query = q_mean;
      st.partial.clear();
      st.partial_reads_all = rebuild(layer, q, cache, st.partial);
      return {};  // a full step attends densely
    }
    if (st.partial_reads_all) return {};
    ReadSelection sel = st.partial.reuse(cache, layer, hq_);
    for (size_t g = 0; g < sel.sets.size(); ++g)
      sel.sets[g] = selection::sorted_union(
          sel.sets[g], selection::split_by_context(cache.head(layer, int(g)), budget_.n_context).newer);
    return sel;
  }

 private:
  struct LayerState {
    int64_t last_full = -1;
    std::vector<float> full_query;  // [D] mean over query heads at the last full step
    SharedSelection partial;        // C_p, per KV head, as positions
    bool partial_reads_all = false;
  };

  bool full_step(const LayerState& st, const std::vector<float>& q_mean) const {
    if (st.last_full < 0) return true;
    const int64_t since = step_ - st.last_full;
    if (!c_.by_similarity) return since >= c_.stride;
    if (since % c_.qc != 0) return false;
    double dot = 0, a = 0, b = 0;
    for (size_t d = 0; d < q_mean.size(); ++d) {
      dot += double(q_mean[d]) * st.full_query[d];
      a += double(q_mean[d]) * q_mean[d];
      b += double(st.full_query[d]) * st.full_query[d];
    }
    const double cosine = a > 0 && b > 0 ? dot / std::sqrt(a * b) : 1.0;
    return cosine < c_.similarity;
  }

  // C_p from the step's attention; true when it holds every entry of the compressed part.
  bool rebuild(int layer, const float* q, const KVCache& cache, SharedSelection& out) const {
    const int Hkv = cache.n_kv_heads();
    const int64_t D = cache.head_dim(), group = hq_ / Hkv;
    const float scale = 1.0f / std::sqrt(float(D));
    ReadSelection sel;
    sel.sets.resize(size_t(Hkv));
    bool all = true;
    for (int g = 0; g < Hkv; ++g) {
      const HeadCache& h = cache.head(layer, g);
      const selection::HeadParts parts = selection::split_by_context(h, budget_.n_context);
      all &= int64_t(parts.compressed.size()) <= budget_.n_kept;
      const int64_t T = h.size();
      std::vector<int32_t> every(static_cast<size_t>(T));
      for (int64_t j = 0; j < T; ++j) every[size_t(j)] = int32_t(j);
      std::vector<float> logits(static_cast<size_t>(T)), pooled_max(static_cast<size_t>(T), 0.0f);
      const HeadRows rows = cache.rows(layer, g);
      for (int64_t qh = g * group; qh < (g + 1) * group; ++qh) {
        selection::dot_scores(q + qh * D, rows.keys(), every, D, scale, logits.data());
        const float mx = *std::max_element(logits.begin(), logits.end());
        double sum = 0;
        for (float& x : logits) sum += (x = std::exp(x - mx));
        for (float& x : logits) x = float(x / sum);  // [T] attention of query head qh
        for (int64_t j = 0; j < T; ++j) {  // max-pool, kernel 7, padding 3: window [j-3, j+3] within [0, T)
          float m = 0.0f;
          for (int64_t i = std::max<int64_t>(0, j - kPoolKernel / 2); i <= std::min(T - 1, j + kPoolKernel / 2); ++i)
            m = std::max(m, logits[size_t(i)]);
          pooled_max[size_t(j)] = std::max(pooled_max[size_t(j)], m);  // max over the GQA group
        }
      }
      std::vector<float> s;
      for (int32_t j : parts.compressed) s.push_back(pooled_max[size_t(j)]);
      for (int32_t r : top_k_stable(s, budget_.n_kept)) sel.sets[size_t(g)].push_back(parts.compressed[size_t(r)]);
    }
    if (!all) out.record(sel, cache, layer);
    return all;
  }

  Config c_;
  int hq_;
  int64_t step_ = -1;  // decode step (counted at layer 0's select)
  std::vector<LayerState> layers_;  // [L]
};

KVB_REGISTER_METHOD(recycled_attention, 1, "Recycled Attention: Xu et al. 2024, arXiv:2411.05787",
                    "selector=full attention on a schedule (every stride decode steps, or when the query drifts), in "
                    "between a partial cache of the top-K entries of the last full step's attention (max-pooled, "
                    "kernel 7, max over the GQA group) plus the entries added since (--ratio/--budget = K, entries of "
                    "the compressed part read on a partial step), full cache kept and untouched",
                    MethodRoles{.selects = true, .budget = Budget::ReadsPerStep},
                    {{"schedule", "stride", "stride: a full step every `stride` steps; query_similarity: see qc"},
                     {"stride", "10", "decode steps between full steps (paper's fixed-stride variant: 10 or 15)"},
                     {"qc", "5", "query_similarity: steps between checks (paper: 5 or 10)"},
                     {"similarity", "0.85",
                      "query_similarity: a full step when cos(mean query, last full step's) is below it (paper: 0.85 "
                      "Llama-3.1, 0.95 Qwen2)"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      RecycledAttention::Config c;
                      const std::string schedule = ctx.params.get_string("schedule");
                      KVB_CHECK(schedule == "stride" || schedule == "query_similarity",
                                "recycled_attention: schedule '{}' must be stride or query_similarity", schedule);
                      c.by_similarity = schedule == "query_similarity";
                      c.stride = ctx.params.get_int("stride");
                      c.qc = ctx.params.get_int("qc");
                      c.similarity = ctx.params.get_double("similarity");
                      KVB_CHECK(c.stride >= 1 && c.qc >= 1, "recycled_attention: stride {} and qc {} must be >= 1",
                                c.stride, c.qc);
                      return std::make_unique<RecycledAttention>(c, ctx.config->n_layers, ctx.config->n_heads);
                    });

}  // namespace
}  // namespace kvb
