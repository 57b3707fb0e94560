// criticaladakv: CriticalKV's two stages inside AdaKV's head-adaptive budget (Feng et al. 2025,
// arXiv:2502.03805; kvpress CriticalAdaKVPress). Each head secures alpha_safeguard * n_kept entries;
// the layer's Hkv * n_kept entries are split across heads by the safeguarded scores (head budgets);
// within each head, first_stage_ratio of its budget goes to the scorer's best, then the scores are
// weighted by ||v W_o||_1 and the head's budget is filled; the layer's lowest Hkv * (T - n_kept)
// entries are evicted. `kvbench eval --method criticaladakv --param scorer=snapkv --ratio 0.5`.
#include <algorithm>
#include <limits>

#include "core/error.h"
#include "methods/criticalkv.h"

namespace kvb {
namespace {

constexpr float kMax = std::numeric_limits<float>::max();

// The first n of `order` (a torch.topk order over `row`) set to the largest float.
void secure(std::vector<float>& row, const std::vector<int32_t>& order, int64_t n) {
  for (int64_t i = 0; i < n; ++i) row[size_t(order[size_t(i)])] = kMax;
}

BudgetPolicy critical_adaptive_budget(double alpha, double eps, double first, std::vector<const WeightMatrix*> wo) {
  return {[=](const LayerView& v, const Scores& scores) {
    Scores s = scores;
    const int64_t H = int64_t(s.size()), T = int64_t(s[0].size()), n_kept = v.n_kept;
    int64_t n_safe = int64_t(double(n_kept) * alpha);
    if (alpha > 0.0) n_safe = n_kept > 0 ? std::max<int64_t>(1, n_safe) : 0;
    for (auto& row : s) secure(row, torch_topk_order(row, n_safe), n_safe);
    // Head budgets: how many of the layer's top H * n_kept (head-major flattened) fall in each head.
    std::vector<float> flat;
    flat.reserve(size_t(H * T));
    for (const auto& row : s) flat.insert(flat.end(), row.begin(), row.end());
    std::vector<int64_t> budget(size_t(H), 0);
    for (int32_t f : torch_topk_order(flat, H * n_kept)) ++budget[size_t(f / T)];
    // Stage 1: int(budget * first_stage_ratio) of the scorer's best per head (one top-k of the largest).
    std::vector<int64_t> first_n(static_cast<size_t>(H));
    for (int64_t h = 0; h < H; ++h) first_n[size_t(h)] = int64_t(float(budget[size_t(h)]) * float(first));
    const int64_t max_first = *std::max_element(first_n.begin(), first_n.end());
    for (int64_t h = 0; h < H; ++h) secure(s[size_t(h)], torch_topk_order(s[size_t(h)], max_first), first_n[size_t(h)]);
    // Stage 2: (score + eps) * ||v W_o||_1, then the head's budget (one top-k of the largest budget).
    const Scores norm = projected_value_l1(v, *wo[size_t(v.layer)]);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t)
        s[size_t(h)][size_t(t)] = (s[size_t(h)][size_t(t)] + float(eps)) * norm[size_t(h)][size_t(t)];
    const int64_t max_budget = *std::max_element(budget.begin(), budget.end());
    for (int64_t h = 0; h < H; ++h) secure(s[size_t(h)], torch_topk_order(s[size_t(h)], max_budget), budget[size_t(h)]);
    // Evict the layer's H * (T - n_kept) lowest scores (torch.topk of the negated flattened scores).
    std::vector<float> neg;
    neg.reserve(size_t(H * T));
    for (const auto& row : s)
      for (float x : row) neg.push_back(-x);
    std::vector<char> pruned(size_t(H * T), 0);
    for (int32_t f : torch_topk_order(neg, H * (T - n_kept))) pruned[size_t(f)] = 1;
    KeepSets keep(static_cast<size_t>(H));
    for (int64_t f = 0; f < H * T; ++f)
      if (!pruned[size_t(f)]) keep[size_t(f / T)].push_back(int32_t(f % T));
    return keep;
  }};
}

KVB_REGISTER_METHOD(criticaladakv, 1,
                    "CriticalAdaKV: Feng et al. 2025, arXiv:2502.03805 (kvpress CriticalAdaKVPress)",
                    "scorer=any (param scorer), re-weighted by ||v W_o||_1; budget=head-adaptive, schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::HeadAdaptive},
                    {{"scorer", "snapkv", "the scorer method of the first stage"},
                     {"alpha_safeguard", "0.2", "fraction of the uniform budget every head keeps for sure"},
                     {"critical_epsilon", "0.0001", "added to the scores before the ||v W_o||_1 weighting (kvpress epsilon)"},
                     {"first_stage_ratio", "0.5", "share of each head's budget chosen by the scorer alone"}},
                    [](const MethodContext& ctx) {
                      const double alpha = ctx.params.get_double("alpha_safeguard");
                      const double first = ctx.params.get_double("first_stage_ratio");
                      KVB_CHECK(alpha >= 0.0 && alpha <= 1.0, "criticaladakv: alpha_safeguard {} is outside [0, 1]", alpha);
                      KVB_CHECK(first >= 0.0 && first <= 1.0, "criticaladakv: first_stage_ratio {} is outside [0, 1]",
                                first);
                      return make_scored_method(make_wrapped_scorer(ctx),
                                                critical_adaptive_budget(alpha, ctx.params.get_double("critical_epsilon"),
                                                                         first, output_projections(ctx, "criticaladakv")));
                    },
                    nullptr, true);

}  // namespace
}  // namespace kvb
