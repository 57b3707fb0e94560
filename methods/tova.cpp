// tova: the last prompt query's attention averaged over all query heads, one score shared by every
// KV head; the last token is always kept (Oren et al. 2024, arXiv:2401.06104; kvpress TOVAPress).
// schedule=decode adds TOVA's token-by-token form: after each generated token the entry with the lowest
// head-averaged attention from that token is evicted (methods/decode_eviction.h).
// `kvbench eval --method tova --ratio 0.5 [--param schedule=decode]`.
#include "core/error.h"
#include "methods/scoring.h"
#include "methods/decode_eviction.h"

namespace kvb {
namespace {

Scorer tova_scorer(const MethodContext&) {
  return {{1, false}, [](const LayerView& v) {
            const ModelConfig& c = *v.config;
            const int64_t T = v.cache->head(v.layer, 0).size();
            KVB_CHECK(T > 1, "tova: layer {} holds {} entries; it needs at least 2", v.layer, T);
            auto attn = window_attention(v, 1);  // [Hq][1][T]
            std::vector<float> mean(size_t(T - 1), 0.0f);
            for (int j = 0; j < T - 1; ++j) {
              float m = 0;
              for (int qh = 0; qh < c.n_heads; ++qh) m += attn[size_t(qh)][size_t(j)];
              mean[size_t(j)] = m / float(c.n_heads);
            }
            Scores s(size_t(c.n_kv_heads), mean);
            const float keep_last = max_score(s) + 1.0f;
            for (auto& row : s) row.push_back(keep_last);
            return s;
          }};
}

KVB_REGISTER_METHOD(tova, 2, "TOVA: Oren et al. 2024, arXiv:2401.06104 (kvpress TOVAPress)",
                    "scorer=last query's attention, head-averaged, budget=uniform, schedule=prefill | decode",
                    MethodRoles{.evicts = true, .schedule = Schedule::ByScheduleParam, .budget = Budget::Uniform},
                    {{"schedule", "prefill", "prefill (kvpress) | decode (also evict one entry per generated token)"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      const std::string schedule = ctx.params.get_string("schedule");
                      KVB_CHECK(schedule == "prefill" || schedule == "decode",
                                "tova: schedule '{}' must be prefill or decode", schedule);
                      if (schedule == "prefill") return make_scored_method(tova_scorer(ctx), uniform_budget());
                      return std::make_unique<DecodeTimeEviction>(tova_scorer(ctx),
                                                                  DecodeTimeEviction::Rule::CurrentAttention, 1,
                                                                  ctx.token_budget);
                    },
                    tova_scorer);

}  // namespace
}  // namespace kvb
