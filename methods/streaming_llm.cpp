// streaming_llm: attention sinks + a recent window (Xiao et al. 2023, arXiv:2309.17453), as kvpress's
// StreamingLLMPress: the first n_sink entries and the last n_kept - n_sink entries of each head.
// `kvbench eval --method streaming_llm --ratio 0.75 --param n_sink=4`.
#include "core/error.h"
#include "methods/scoring.h"

namespace kvb {
namespace {

Scorer streaming_llm_scorer(const MethodContext& ctx) {
  const int64_t n_sink = ctx.params.get_int("n_sink");
  KVB_CHECK(n_sink >= 0, "streaming_llm: n_sink {} is negative", n_sink);
  return {{}, [n_sink](const LayerView& v) {
            Scores s(size_t(v.cache->n_kv_heads()));
            for (int h = 0; h < v.cache->n_kv_heads(); ++h) {
              const int64_t T = v.cache->head(v.layer, h).size();
              const int64_t n_pruned = T - std::min(v.n_kept, T);
              KVB_CHECK(T > n_sink, "streaming_llm: layer {} head {} holds {} entries, not more than n_sink={}",
                        v.layer, h, T, n_sink);
              // score 1 = keep: sinks [0, n_sink) and the recent tail; 0 for the n_pruned after the sinks.
              s[size_t(h)].assign(size_t(T), 1.0f);
              for (int64_t j = n_sink; j < std::min(T, n_sink + n_pruned); ++j) s[size_t(h)][size_t(j)] = 0.0f;
            }
            return s;
          }};
}

KVB_REGISTER_METHOD(streaming_llm, 1, "StreamingLLM: Xiao et al. 2023, arXiv:2309.17453 (kvpress StreamingLLMPress)",
                    "scorer=sink+recent, budget=uniform, schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::Uniform},
                    {{"n_sink", "4", "attention-sink tokens always kept at the start"}},
                    [](const MethodContext& ctx) {
                      return make_scored_method(streaming_llm_scorer(ctx), uniform_budget());
                    },
                    streaming_llm_scorer);

}  // namespace
}  // namespace kvb
