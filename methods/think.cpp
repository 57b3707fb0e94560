// think: query-driven pruning of key channels (Xu et al. 2024, arXiv:2407.21018; kvpress ThinKPress,
// docs/kvpress-notes.md §11). --ratio is the fraction of key channels pruned per KV head; no token is
// evicted. As in kvpress the pruned channels are zeroed (keys appended later keep every channel),
// so resident bytes do not shrink. `kvbench eval --method think --ratio 0.5 --param window=32`.
#include "core/error.h"
#include "methods/scoring.h"

namespace kvb {
namespace {

class ThinK final : public Method {
 public:
  ThinK(int window, double channel_ratio) : window_(window), ratio_(channel_ratio) {}
  PrefillNeeds prefill_needs() const override { return {window_, false}; }
  std::vector<std::vector<int32_t>> prune_key_channels(const LayerView& v) override {
    const ModelConfig& c = *v.config;
    const int64_t Hq = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim, group = Hq / Hkv;
    const int64_t n_pruned = int64_t(double(D) * ratio_);
    if (n_pruned <= 0) return {};
    const int W = v.window;  // the last min(window, T) prompt queries
    std::vector<std::vector<int32_t>> out(static_cast<size_t>(Hkv));
    for (int64_t g = 0; g < Hkv; ++g) {
      // score[c] = mean over the group of mean_i q[i,c]^2, times mean_j k[j,c]^2.
      std::vector<float> qn(size_t(D), 0.0f), kn(size_t(D), 0.0f), neg(size_t(D), 0.0f);
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        std::vector<float> per(size_t(D), 0.0f);
        for (int i = 0; i < W; ++i) {
          const float* q = v.window_queries + int64_t(i) * Hq * D + h * D;
          for (int64_t d = 0; d < D; ++d) per[size_t(d)] += q[d] * q[d];
        }
        for (int64_t d = 0; d < D; ++d) qn[size_t(d)] += per[size_t(d)] / float(W) / float(group);
      }
      const HeadRows hc = v.cache->rows(v.layer, int(g));
      for (int64_t j = 0; j < hc.size(); ++j)
        for (int64_t d = 0; d < D; ++d) kn[size_t(d)] += hc.key(j)[d] * hc.key(j)[d];
      for (int64_t d = 0; d < D; ++d) neg[size_t(d)] = -(qn[size_t(d)] * (kn[size_t(d)] / float(hc.size())));
      out[size_t(g)] = top_k_indices(neg, n_pruned);  // the n_pruned smallest scores (torch's tie rule)
    }
    return out;
  }

 private:
  int window_;
  double ratio_;
};

KVB_REGISTER_METHOD(think, 1, "ThinK: Xu et al. 2024, arXiv:2407.21018 (kvpress ThinKPress)",
                    "channel pruner=query-weighted key channel norms (--ratio = key channels pruned), schedule=prefill",
                    MethodRoles{.prunes_key_channels = true, .budget = Budget::KeyChannelsPruned},
                    {{"window", "32", "the last prompt queries whose channel magnitudes weigh the keys'"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      const int window = int(ctx.params.get_int("window"));
                      KVB_CHECK(window >= 1, "think: window {} must be >= 1", window);
                      KVB_CHECK(ctx.token_budget == 0, "think prunes key channels: give --ratio, not a token budget");
                      return std::make_unique<ThinK>(window, ctx.compression_ratio);
                    });

}  // namespace
}  // namespace kvb
