// keydiff: keep the keys least similar to the head's average key direction (Park et al. 2025,
// arXiv:2504.15364; kvpress KeyDiffPress): anchor = mean over entries of k / ||k||, score = -cos(k, anchor).
// The paper's block-wise form is `--method block --param scorer=keydiff` (methods/block.cpp).
// `kvbench eval --method keydiff --ratio 0.5`.
#include <algorithm>
#include <cmath>

#include "methods/scoring.h"

namespace kvb {
namespace {

// ||x||_2 of a [D] row, accumulated in double and rounded once.
float l2_norm(const float* x, int64_t D) {
  double s = 0;
  for (int64_t d = 0; d < D; ++d) s += double(x[d]) * double(x[d]);
  return float(std::sqrt(s));
}

Scorer keydiff_scorer(const MethodContext&) {
  Scorer scorer{{}, [](const LayerView& v) {
            const int64_t D = v.cache->head_dim();
            Scores s(size_t(v.cache->n_kv_heads()));
            for (int h = 0; h < v.cache->n_kv_heads(); ++h) {
              const HeadRows rows = v.cache->rows(v.layer, h);
              const int64_t T = rows.size();
              // anchor [D] = mean_t k_t / max(||k_t||, 1e-12)   (F.normalize, then mean over entries)
              std::vector<double> sum(size_t(D), 0.0);
              for (int64_t t = 0; t < T; ++t) {
                const float* k = rows.key(t);
                const float n = std::max(l2_norm(k, D), 1e-12f);
                for (int64_t d = 0; d < D; ++d) sum[size_t(d)] += double(k[d] / n);
              }
              std::vector<float> anchor(static_cast<size_t>(D));
              for (int64_t d = 0; d < D; ++d) anchor[size_t(d)] = float(sum[size_t(d)] / double(T));
              // F.cosine_similarity: each side divided by max(its norm, 1e-8), then the dot product.
              const float an = std::max(l2_norm(anchor.data(), D), 1e-8f);
              s[size_t(h)].resize(static_cast<size_t>(T));
              for (int64_t t = 0; t < T; ++t) {
                const float* k = rows.key(t);
                const float kn = std::max(l2_norm(k, D), 1e-8f);
                double dot = 0;
                for (int64_t d = 0; d < D; ++d) dot += double(k[d] / kn) * double(anchor[size_t(d)] / an);
                s[size_t(h)][size_t(t)] = -float(dot);
              }
            }
            return s;
          }};
  scorer.memo_key = "keydiff";  // the scores depend on the prefill alone
  return scorer;
}

KVB_REGISTER_METHOD(keydiff, 1, "KeyDiff: Park et al. 2025, arXiv:2504.15364 (kvpress KeyDiffPress)",
                    "scorer=-cosine(key, mean normalized key), budget=uniform, schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::Uniform}, {},
                    [](const MethodContext& ctx) { return make_scored_method(keydiff_scorer(ctx), uniform_budget()); },
                    keydiff_scorer);

}  // namespace
}  // namespace kvb
