// knorm: keep the keys with the smallest L2 norm (Devoto et al. 2024, arXiv:2406.11430; kvpress
// KnormPress: score = -||k||). `kvbench eval --method knorm --ratio 0.5`.
#include <cmath>

#include "backends/cpu/ops.h"
#include "methods/scoring.h"

namespace kvb {
namespace {

Scorer knorm_scorer(const MethodContext&) {
  return {{}, [](const LayerView& v) {
            const int64_t D = v.cache->head_dim();
            Scores s(size_t(v.cache->n_kv_heads()));
            for (int h = 0; h < v.cache->n_kv_heads(); ++h) {
              const HeadRows hc = v.cache->rows(v.layer, h);
              s[size_t(h)].resize(size_t(hc.size()));
              for (int64_t j = 0; j < hc.size(); ++j) {
                const float* k = hc.key(j);
                s[size_t(h)][size_t(j)] = -std::sqrt(cpu::dot(k, k, D));
              }
            }
            return s;
          }};
}

KVB_REGISTER_METHOD(knorm, 1, "Knorm: Devoto et al. 2024, arXiv:2406.11430 (kvpress KnormPress)",
                    "scorer=-key L2 norm, budget=uniform, schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::Uniform}, {},
                    [](const MethodContext& ctx) { return make_scored_method(knorm_scorer(ctx), uniform_budget()); },
                    knorm_scorer);

}  // namespace
}  // namespace kvb
