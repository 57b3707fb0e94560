// tokenselect: dynamic token-level KV selection at decode time (Wu et al. 2024, arXiv:2411.02886;
// reference pzs19/TokenSelect patcher/token_retrieval.py). Per layer and decode step, every query
// head h scores the candidate entries with s_h = softmax_j(q_h . k_j) (unscaled, as the reference's
// paged_matmul + torch.softmax; query heads map to KV heads as in Hugging Face GQA, h / g); the soft vote
// sum_h s_h over ALL query heads of the layer picks one top-k set of tokens that every head reads,
// besides the first n_sink and the last n_local entries (excluded from the candidates). The cache is
// untouched. Scores use the cached post-RoPE keys and the step's post-RoPE query (the reference
// scores pre-RoPE keys against a query rotated at n_local). position_mode=compact (the reference's
// attention, default) attends as if the read entries sat at positions 0..R-1 (ReadSelection::
// compact_positions, CPU backend only); original keeps their positions.
// `kvbench eval --method tokenselect --ratio 0.75`.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "methods/token_selection.h"

namespace kvb {
namespace {

class TokenSelect final : public selection::BudgetedSelector {
 public:
  TokenSelect(int64_t n_sink, int64_t n_local, int hq, bool compact)
      : n_sink_(n_sink), n_local_(n_local), hq_(hq), compact_(compact) {}

  ReadSelection select(int layer, const float* q, const KVCache& cache) override {
    if (budget_.covers_context()) return {};
    const int64_t top_k = budget_.n_kept - n_sink_ - n_local_;
    KVB_CHECK(top_k >= 1,
              "tokenselect: a read budget of {} entries leaves no room for selected tokens beyond n_sink {} + n_local {} "
              "(lower n_sink / n_local or raise the budget)",
              budget_.n_kept, n_sink_, n_local_);
    const int Hkv = cache.n_kv_heads();
    const int64_t D = cache.head_dim(), group = hq_ / Hkv;
    // Per KV head: the entries always read (sinks, the newest n_local, everything after the
    // compressed part) and the candidates.
    std::vector<std::vector<int32_t>> fixed(static_cast<size_t>(Hkv)), cand(static_cast<size_t>(Hkv));
    std::vector<int32_t> vote_pos;  // positions of every head's candidates (heads may hold different tokens)
    for (int g = 0; g < Hkv; ++g) {
      const HeadCache& h = cache.head(layer, g);
      const selection::HeadParts parts = selection::split_by_context(h, budget_.n_context);
      const int64_t T = h.size();
      std::vector<char> is_fixed(size_t(T), 0);
      for (int64_t r = 0; r < std::min<int64_t>(n_sink_, int64_t(parts.compressed.size())); ++r)
        is_fixed[size_t(parts.compressed[size_t(r)])] = 1;
      for (int64_t j = std::max<int64_t>(0, T - n_local_); j < T; ++j) is_fixed[size_t(j)] = 1;
      for (int32_t j : parts.newer) is_fixed[size_t(j)] = 1;
      for (int64_t j = 0; j < T; ++j) {
        (is_fixed[size_t(j)] ? fixed : cand)[size_t(g)].push_back(int32_t(j));
        if (!is_fixed[size_t(j)]) vote_pos.push_back(h.positions()[size_t(j)]);
      }
    }
    std::sort(vote_pos.begin(), vote_pos.end());
    vote_pos.erase(std::unique(vote_pos.begin(), vote_pos.end()), vote_pos.end());
    if (int64_t(vote_pos.size()) <= top_k) return {};  // every candidate fits: the step reads everything
    // Soft vote over all query heads: vote[p] = sum_h softmax_j(q_h . k_j)[p].
    // Each candidate's slot in vote_pos, found once per KV head (not per query head): [Hkv][candidates].
    std::vector<std::vector<int32_t>> slot(static_cast<size_t>(Hkv));
    for (int g = 0; g < Hkv; ++g) {
      const std::vector<int32_t>& pos = cache.head(layer, g).positions();
      for (int32_t j : cand[size_t(g)])
        slot[size_t(g)].push_back(
            int32_t(std::lower_bound(vote_pos.begin(), vote_pos.end(), pos[size_t(j)]) - vote_pos.begin()));
    }
    // Each query head's softmax over its KV head's candidates, heads in parallel; the votes are then
    // added in head order (the same bits at any thread count). [Hq][candidates of its KV head].
    std::vector<HeadRows> rows;
    for (int g = 0; g < Hkv; ++g) rows.push_back(cache.rows(layer, g));
    std::vector<std::vector<float>> share(static_cast<size_t>(hq_));
#pragma omp parallel for schedule(static)
    for (int qh = 0; qh < hq_; ++qh) {
      const int g = int(qh / group);
      const std::vector<int32_t>& c = cand[size_t(g)];
      std::vector<float>& s = share[size_t(qh)];
      s.resize(c.size());
      selection::dot_scores(q + int64_t(qh) * D, rows[size_t(g)].keys(), c, D, 1.0f, s.data());
      const float mx = s.empty() ? 0.0f : *std::max_element(s.begin(), s.end());
      double sum = 0.0;
      for (float& x : s) sum += (x = std::exp(x - mx));
      for (float& x : s) x = float(x / sum);
    }
    std::vector<float> vote(vote_pos.size(), 0.0f);
    for (int qh = 0; qh < hq_; ++qh) {
      const int g = int(qh / group);
      for (size_t r = 0; r < cand[size_t(g)].size(); ++r) vote[size_t(slot[size_t(g)][r])] += share[size_t(qh)][r];
    }
    std::vector<char> chosen(vote_pos.size(), 0);
    for (int32_t i : top_k_stable(vote, top_k)) chosen[size_t(i)] = 1;
    ReadSelection sel;
    sel.compact_positions = compact_;
    sel.sets.resize(size_t(Hkv));
    for (int g = 0; g < Hkv; ++g) {
      std::vector<int32_t> picked;
      for (size_t r = 0; r < cand[size_t(g)].size(); ++r)
        if (chosen[size_t(slot[size_t(g)][r])]) picked.push_back(cand[size_t(g)][r]);
      sel.sets[size_t(g)] = selection::sorted_union(fixed[size_t(g)], picked);
    }
    return sel;
  }

 private:
  int64_t n_sink_, n_local_;
  int hq_;
  bool compact_;
};

KVB_REGISTER_METHOD(tokenselect, 1, "TokenSelect: Wu et al. 2024, arXiv:2411.02886",
                    "selector=one token set per layer by a soft vote (sum over all query heads of softmax(q.k)) over "
                    "the entries between n_sink sinks and the n_local newest (--ratio/--budget = entries of the "
                    "compressed part read per step, sinks and local included), compact or original positions, cache "
                    "untouched",
                    MethodRoles{.selects = true, .budget = Budget::ReadsPerStep},
                    {{"n_sink", "32", "first entries always read, not candidates (paper: 128; scaled for 1K-8K contexts)"},
                     {"n_local", "128", "newest entries always read, not candidates (paper: 512; scaled for 1K-8K)"},
                     {"position_mode", "compact",
                      "compact: the read entries attend at positions 0..R-1 (the reference; cpu backend only); "
                      "original: at their own positions"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      const int64_t sink = ctx.params.get_int("n_sink"), local = ctx.params.get_int("n_local");
                      KVB_CHECK(sink >= 0 && local >= 0, "tokenselect: n_sink {} and n_local {} must be >= 0", sink,
                                local);
                      const std::string mode = ctx.params.get_string("position_mode");
                      KVB_CHECK(mode == "compact" || mode == "original",
                                "tokenselect: position_mode '{}' must be compact or original", mode);
                      return std::make_unique<TokenSelect>(sink, local, ctx.config->n_heads, mode == "compact");
                    });

}  // namespace
}  // namespace kvb
