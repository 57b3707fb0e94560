// random: seeded uniform eviction (kvpress RandomPress's decision rule: uniform scores, top-k per
// head). Our generator is xoshiro256** (harness/core/random.h), so kept sets differ from torch's RNG.
// `kvbench eval --method random --ratio 0.5 --param seed=1`.
#include <cstddef>

#include "core/random.h"
#include "methods/scoring.h"

namespace kvb {
namespace {

Scorer random_scorer(const MethodContext& ctx) {
  const uint64_t seed = uint64_t(ctx.params.get_int("seed")) ^ (ctx.seed * 0x9e3779b97f4a7c15ULL);
  return {{}, [seed](const LayerView& v) {
            Rng rng(seed + 0x100000001b3ULL * uint64_t(v.layer + 1));
            Scores s(size_t(v.cache->n_kv_heads()));
            for (int h = 0; h < v.cache->n_kv_heads(); ++h) {
              s[size_t(h)].resize(size_t(v.cache->head(v.layer, h).size()));
              for (float& x : s[size_t(h)]) x = float(rng.unit());
            }
            return s;
          }};
}

KVB_REGISTER_METHOD(random, 1, "random eviction baseline (kvpress RandomPress)",
                    "scorer=uniform random, budget=uniform, schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::Uniform},
                    {{"seed", "0", "seed of the eviction draw (combined with the case seed)"}},
                    [](const MethodContext& ctx) { return make_scored_method(random_scorer(ctx), uniform_budget()); },
                    random_scorer);

}  // namespace
}  // namespace kvb
