// retrieval_attention: attention over a static resident set plus per-query-head retrieved keys
// (Liu et al. 2024, arXiv:2409.10516; reference microsoft/MInference minference/modules/retr_attn.py,
// the SCBench reimplementation with an exact Flat index). Each decode step, per query head:
// the static part (the compressed part's first n_sink and last n_local entries, as the reference
// keeps the prompt's first 128 and last 512, and everything after the compressed part, as it keeps
// generated tokens on the GPU side) and the top-k keys retrieved from the rest by inner product (flat index: exact) are attended
// separately and merged by log-sum-exp (ReadSelection::second, backends/cpu/partial_attention.h).
// The KV head's physical read is the union over its group. Only the flat index is implemented (the
// RoarGraph-style graph index is not). `kvbench eval --method retrieval_attention --ratio 0.9`.
#include "methods/retrieval_attention.h"

#include <algorithm>
#include <cmath>

#include "backends/cpu/ops.h"
#include "core/error.h"
#include "methods/token_selection.h"

namespace kvb {

namespace retrieval {

std::vector<int32_t> flat_search(const float* q, const float* keys, int64_t D, std::span<const int32_t> candidates,
                                 int64_t k) {
  std::vector<float> ip(candidates.size());
  selection::dot_scores(q, keys, candidates, D, 1.0f, ip.data());
  std::vector<int32_t> out;
  for (int32_t r : top_k_stable(ip, k)) out.push_back(candidates[size_t(r)]);
  return out;  // candidates ascending -> out ascending
}

}  // namespace retrieval

namespace {

class RetrievalAttention final : public selection::BudgetedSelector {
 public:
  RetrievalAttention(int64_t n_sink, int64_t n_local, int hq) : n_sink_(n_sink), n_local_(n_local), hq_(hq) {}

  ReadSelection select(int layer, const float* q, const KVCache& cache) override {
    if (budget_.covers_context()) return {};
    const int64_t top_k = budget_.n_kept - n_sink_ - n_local_;
    KVB_CHECK(top_k >= 1,
              "retrieval_attention: a read budget of {} entries leaves no room for retrieved keys beyond n_sink {} + "
              "n_local {} (lower them or raise the budget)",
              budget_.n_kept, n_sink_, n_local_);
    const int Hkv = cache.n_kv_heads();
    const int64_t D = cache.head_dim(), group = hq_ / Hkv;
    ReadSelection sel;
    sel.per_query_head = true;
    sel.sets.resize(size_t(hq_));
    sel.second.resize(size_t(hq_));
    bool retrieves_all = true;
    for (int g = 0; g < Hkv; ++g) {
      const HeadCache& h = cache.head(layer, g);
      const selection::HeadParts parts = selection::split_by_context(h, budget_.n_context);
      const int64_t T = h.size();
      std::vector<char> is_static(size_t(T), 0);
      for (int64_t r = 0; r < std::min<int64_t>(n_sink_, int64_t(parts.compressed.size())); ++r)
        is_static[size_t(parts.compressed[size_t(r)])] = 1;
      const int64_t n_old = int64_t(parts.compressed.size());
      for (int64_t r = std::max<int64_t>(0, n_old - n_local_); r < n_old; ++r)
        is_static[size_t(parts.compressed[size_t(r)])] = 1;
      for (int32_t j : parts.newer) is_static[size_t(j)] = 1;
      std::vector<int32_t> fixed, cand;
      for (int64_t j = 0; j < T; ++j) (is_static[size_t(j)] ? fixed : cand).push_back(int32_t(j));
      retrieves_all &= int64_t(cand.size()) <= top_k;
      const HeadRows rows = cache.rows(layer, g);
      for (int64_t qh = g * group; qh < (g + 1) * group; ++qh) {
        sel.sets[size_t(qh)] = fixed;
        sel.second[size_t(qh)] = retrieval::flat_search(q + qh * D, rows.keys(), D, cand, top_k);
      }
    }
    if (retrieves_all) return {};  // static + retrieved = every entry: dense attention
    return sel;
  }

 private:
  int64_t n_sink_, n_local_;
  int hq_;
};

KVB_REGISTER_METHOD(retrieval_attention, 1, "RetrievalAttention: Liu et al. 2024, arXiv:2409.10516",
                    "selector=static sinks + recent, plus per query head the top-k keys of the rest by inner product "
                    "(exact flat index), the two partial attentions merged by log-sum-exp (--ratio/--budget = entries "
                    "of the compressed part read per step and query head, static part included), cache untouched",
                    MethodRoles{.selects = true, .budget = Budget::ReadsPerStep},
                    {{"n_sink", "32", "first entries in the static set (paper: 128; scaled for 1K-8K contexts)"},
                     {"n_local", "128", "newest entries in the static set (paper: 512; scaled for 1K-8K contexts)"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      const int64_t sink = ctx.params.get_int("n_sink"), local = ctx.params.get_int("n_local");
                      KVB_CHECK(sink >= 0 && local >= 0, "retrieval_attention: n_sink {} and n_local {} must be >= 0",
                                sink, local);
                      return std::make_unique<RetrievalAttention>(sink, local, ctx.config->n_heads);
                    });

}  // namespace
}  // namespace kvb
