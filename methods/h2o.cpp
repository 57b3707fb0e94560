// h2o: heavy hitters by accumulated attention received (Zhang et al. 2023, arXiv:2306.14048; kvpress
// ObservedAttentionPress): every prefill query's attention summed per key, divided by the number of
// queries that could see that key, averaged over each GQA group. schedule=decode adds H2O's decode-time
// form: one eviction per generated token by accumulated attention, `recent` newest entries protected
// (methods/decode_eviction.h). `kvbench eval --method h2o --ratio 0.5 [--param schedule=decode]`.
#include "core/error.h"
#include "methods/scoring.h"
#include "methods/decode_eviction.h"

namespace kvb {
namespace {

Scorer h2o_scorer(const MethodContext&) {
  return {{0, true}, [](const LayerView& v) {
            const ModelConfig& c = *v.config;
            KVB_CHECK(v.attn_mass && int(v.attn_mass->size()) == c.n_heads,
                      "h2o: layer {}: no attention mass was recorded", v.layer);
            const int64_t T = v.cache->head(v.layer, 0).size();
            std::vector<std::vector<float>> per_head(size_t(c.n_heads), std::vector<float>(size_t(T)));
            for (int qh = 0; qh < c.n_heads; ++qh)
              for (int64_t j = 0; j < T; ++j)  // key j is seen by the T - j queries at or after it
                per_head[size_t(qh)][size_t(j)] = (*v.attn_mass)[size_t(qh)][size_t(j)] / float(T - j);
            return mean_over_group(per_head, c.n_kv_heads);
          }};
}

KVB_REGISTER_METHOD(h2o, 2, "H2O: Zhang et al. 2023, arXiv:2306.14048 (kvpress ObservedAttentionPress)",
                    "scorer=accumulated attention (normalised), budget=uniform, schedule=prefill | decode",
                    MethodRoles{.evicts = true, .schedule = Schedule::ByScheduleParam, .budget = Budget::Uniform},
                    {{"schedule", "prefill", "prefill (kvpress) | decode (also evict one entry per generated token)"},
                     {"recent", "32", "schedule=decode: newest entries never evicted"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      const std::string schedule = ctx.params.get_string("schedule");
                      KVB_CHECK(schedule == "prefill" || schedule == "decode",
                                "h2o: schedule '{}' must be prefill or decode", schedule);
                      if (schedule == "prefill") return make_scored_method(h2o_scorer(ctx), uniform_budget());
                      return std::make_unique<DecodeTimeEviction>(
                          h2o_scorer(ctx), DecodeTimeEviction::Rule::AccumulatedAttention, ctx.params.get_int("recent"),
                          ctx.token_budget);
                    },
                    h2o_scorer);

}  // namespace
}  // namespace kvb
