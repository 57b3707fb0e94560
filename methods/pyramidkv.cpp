// pyramidkv: SnapKV scores with pyramid-shaped per-layer budgets, lower layers keeping more
// (Cai et al. 2024, arXiv:2406.02069; kvpress PyramidKVPress's budget formula, docs/kvpress-notes.md).
// `kvbench eval --method pyramidkv --ratio 0.5 --param beta=20`.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "methods/snapkv.h"

namespace kvb {
namespace {

// Entries kept per head in `layer` for a compressed part of T tokens (kvpress PyramidKVPress's
// get_layer_budget; Python's round() is half-to-even, which std::nearbyint gives by default).
int64_t pyramid_layer_budget(int layer, int n_layers, int64_t T, double ratio, int window, double beta) {
  const double cap = double(window) + double(T) * (1.0 - ratio);
  double min_num = (cap - window) / beta;
  double max_num = (cap - window) * 2.0 - min_num;
  if (max_num >= double(T - window)) {
    max_num = double(T - window);
    min_num = (cap - window) * 2.0 - max_num;
  }
  if (!(double(T) >= max_num && max_num >= min_num && min_num >= window))
    return std::max<int64_t>(1, int64_t(std::nearbyint(double(T) * (1.0 - ratio))));  // uniform fallback
  const double steps = n_layers > 1 ? (max_num - min_num) / double(n_layers - 1) : 0.0;
  return int64_t(std::nearbyint(max_num - double(layer) * steps));
}

KVB_REGISTER_METHOD(pyramidkv, 1, "PyramidKV: Cai et al. 2024, arXiv:2406.02069 (kvpress PyramidKVPress)",
                    "scorer=snapkv, budget=pyramid per layer, schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::PerLayer},
                    {{"window", "64", "observation window (SnapKV)"},
                     {"kernel_size", "5", "1-D average pooling kernel (SnapKV)"},
                     {"beta", "20", "pyramid steepness: the top layer keeps 1/beta of the bottom's extra budget"}},
                    [](const MethodContext& ctx) {
                      const double beta = ctx.params.get_double("beta");
                      KVB_CHECK(beta >= 1.0, "pyramidkv: beta {} must be >= 1", beta);
                      const int window = int(ctx.params.get_int("window"));
                      const double ratio = ctx.compression_ratio;
                      const int n_layers = ctx.config->n_layers;
                      BudgetPolicy pyramid{[=](const LayerView& v, const Scores& s) {
                        const int64_t T = v.n_context;
                        // With a token budget, the equivalent ratio drives the pyramid.
                        const double r = ratio > 0.0 ? ratio : 1.0 - double(v.n_kept) / double(T);
                        const int64_t k = pyramid_layer_budget(v.layer, n_layers, T, r, window, beta);
                        return top_k_per_head(s, k);
                      }};
                      return make_scored_method(snapkv_scorer(ctx), pyramid);
                    },
                    snapkv_scorer);

}  // namespace
}  // namespace kvb
