// adakv: head-wise adaptive budgets over any scorer (Feng et al. 2024, arXiv:2407.11550; kvpress
// AdaKVPress): each head first secures alpha_safeguard * n_kept of its best entries, then the layer's
// total budget Hkv * n_kept goes to the best remaining scores across all heads.
// `kvbench eval --method adakv --param scorer=snapkv --ratio 0.5`.
#include <algorithm>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "methods/scoring.h"

namespace kvb {
namespace {

BudgetPolicy adakv_budget(double alpha) {
  return {[alpha](const LayerView& v, const Scores& scores) {
    Scores s = scores;
    const int64_t H = int64_t(s.size()), T = int64_t(s[0].size());
    int64_t n_safe = int64_t(double(v.n_kept) * alpha);
    if (alpha > 0.0) n_safe = v.n_kept > 0 ? std::max<int64_t>(1, n_safe) : 0;
    for (auto& row : s)
      for (int32_t j : torch_topk_order(row, n_safe)) row[size_t(j)] = std::numeric_limits<float>::max();
    // Prune the H * (T - n_kept) smallest scores of the head-major flattened layer, found as
    // kvpress finds them: torch.topk of the negated scores (its tie rule included).
    std::vector<float> neg;
    neg.reserve(size_t(H * T));
    for (const auto& row : s)
      for (float x : row) neg.push_back(-x);
    std::vector<char> pruned(size_t(H * T), 0);
    for (int32_t f : torch_topk_order(neg, H * (T - v.n_kept))) pruned[size_t(f)] = 1;
    KeepSets keep(static_cast<size_t>(H));
    for (int64_t f = 0; f < H * T; ++f)
      if (!pruned[size_t(f)]) keep[size_t(f / T)].push_back(int32_t(f % T));
    return keep;
  }};
}

KVB_REGISTER_METHOD(adakv, 1, "AdaKV: Feng et al. 2024, arXiv:2407.11550 (kvpress AdaKVPress)",
                    "scorer=any (param scorer), budget=head-adaptive, schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::HeadAdaptive},
                    {{"scorer", "snapkv", "the scorer method whose scores are redistributed"},
                     {"alpha_safeguard", "0.2", "fraction of the uniform budget every head keeps for sure"}},
                    [](const MethodContext& ctx) {
                      const double alpha = ctx.params.get_double("alpha_safeguard");
                      KVB_CHECK(alpha >= 0.0 && alpha <= 1.0, "adakv: alpha_safeguard {} is outside [0, 1]", alpha);
                      return make_scored_method(make_wrapped_scorer(ctx), adakv_budget(alpha));
                    },
                    nullptr, true);

}  // namespace
}  // namespace kvb
