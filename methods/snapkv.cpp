// snapkv: attention of the last `window` prompt queries, averaged over the window, pooled with a
// 1-D average kernel, averaged over each GQA group; the window itself is always kept (Li et al. 2024,
// arXiv:2404.14469; kvpress SnapKVPress). `kvbench eval --method snapkv --ratio 0.5 --param window=64`.
#include "methods/snapkv.h"

#include "core/error.h"

namespace kvb {

Scorer snapkv_scorer(const MethodContext& ctx) {
  const int window = int(ctx.params.get_int("window"));
  const int kernel = int(ctx.params.get_int("kernel_size"));
  KVB_CHECK(window >= 1, "snapkv: window {} must be >= 1", window);
  KVB_CHECK(kernel >= 1 && kernel % 2 == 1, "snapkv: kernel_size {} must be a positive odd number", kernel);
  Scorer scorer{{window, false}, [window, kernel](const LayerView& v) {
            const ModelConfig& c = *v.config;
            const int64_t T = v.cache->head(v.layer, 0).size();
            KVB_CHECK(T > window, "snapkv: layer {} holds {} entries, not more than the window ({})", v.layer, T,
                      window);
            // [Hq][W][T] -> mean over W of the first T - W columns -> pool -> mean over group.
            auto attn = window_attention(v, window);
            auto per_head = mean_over_window(attn, window, T - window);
            for (auto& row : per_head) row = avg_pool1d_same(row, kernel);
            Scores s = mean_over_group(per_head, c.n_kv_heads);
            const float keep_window = max_score(s) + 1.0f;  // the window outranks every entry
            for (auto& row : s) row.resize(size_t(T), keep_window);
            return s;
          }};
  scorer.memo_key = fmt::format("snapkv window={} kernel_size={}", window, kernel);
  return scorer;
}

namespace {

KVB_REGISTER_METHOD(snapkv, 1, "SnapKV: Li et al. 2024, arXiv:2404.14469 (kvpress SnapKVPress)",
                    "scorer=observation-window attention (avg-pooled), budget=uniform, schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::Uniform},
                    {{"window", "64", "observation window: the last prompt tokens whose queries vote"},
                     {"kernel_size", "5", "1-D average pooling kernel over token scores"}},
                    [](const MethodContext& ctx) { return make_scored_method(snapkv_scorer(ctx), uniform_budget()); },
                    snapkv_scorer);

}  // namespace
}  // namespace kvb
