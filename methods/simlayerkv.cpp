// simlayerkv: whole layers are "lazy" when their last queries attend mostly to the first and the most
// recent tokens; a lazy layer keeps only those, the others keep everything (Zhang et al. 2024,
// arXiv:2410.13846; kvpress SimLayerKVPress). The budget is the layers' own decision: --ratio's value is
// not used (kvpress cannot set it either), but ratio 0 compresses nothing, as for every other method.
// `kvbench eval --method simlayerkv --ratio 0.5 --param lazy_threshold=0.9 --param n_recent=1024`.
#include <numeric>

#include "core/error.h"
#include "methods/scoring.h"

namespace kvb {
namespace {

class SimLayerKv final : public Method {
 public:
  SimLayerKv(double threshold, int n_last, int64_t n_recent, int64_t n_initial, bool active)
      : threshold_(threshold), n_last_(n_last), n_recent_(n_recent), n_initial_(n_initial), active_(active) {}
  PrefillNeeds prefill_needs() const override { return {n_last_, false}; }
  KeepSets compress_prefill(const LayerView& v) override {
    const int64_t T = v.cache->head(v.layer, 0).size();
    if (!active_ || threshold_ >= 1.0 || T <= n_initial_ + n_recent_ + n_last_) return {};
    if (!is_lazy(v, T)) return {};
    // Lazy: the first n_initial entries and the last n_recent - n_last (kvpress's slice -n_recent + n_last:).
    std::vector<int32_t> keep(static_cast<size_t>(n_initial_));
    std::iota(keep.begin(), keep.end(), 0);
    for (int64_t t = T - (n_recent_ - n_last_); t < T; ++t) keep.push_back(int32_t(t));
    return KeepSets(size_t(v.cache->n_kv_heads()), keep);
  }

 private:
  // The last n_last queries' attention over the first T - n_last entries, averaged over every query head
  // and query; lazy when its first n_initial plus its last n_recent columns hold more than the threshold.
  bool is_lazy(const LayerView& v, int64_t T) const {
    const auto attn = window_attention(v, n_last_);  // [Hq][n_last][T]
    const int64_t cols = T - n_last_;
    std::vector<double> mean(size_t(cols), 0.0);
    for (const auto& head : attn)
      for (int i = 0; i < n_last_; ++i)
        for (int64_t j = 0; j < cols; ++j) mean[size_t(j)] += head[size_t(i * T + j)];
    const double n = double(attn.size()) * n_last_;
    float score = 0;
    for (int64_t j = 0; j < std::min(n_initial_, cols); ++j) score += float(mean[size_t(j)] / n);
    for (int64_t j = std::max<int64_t>(0, cols - n_recent_); j < cols; ++j) score += float(mean[size_t(j)] / n);
    return double(score) > threshold_;
  }

  double threshold_;
  int n_last_;
  int64_t n_recent_, n_initial_;
  bool active_;
};

KVB_REGISTER_METHOD(simlayerkv, 1, "SimLayerKV: Zhang et al. 2024, arXiv:2410.13846 (kvpress SimLayerKVPress)",
                    "layer test=attention of the last queries on initial + recent tokens; budget=lazy layers keep "
                    "initial + recent, schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::LazyLayers},
                    {{"lazy_threshold", "1.0", "a layer is lazy above this attention share (1.0: none is; the paper: "
                                               "Llama3 0.9, Llama2 0.65, Mistral 0.8, Qwen 0.85)"},
                     {"n_last", "1", "last queries whose attention decides"},
                     {"n_recent", "1024", "recent entries a lazy layer keeps (n_recent - n_last of them, as kvpress)"},
                     {"n_initial", "4", "initial (sink) entries a lazy layer keeps"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      const double thr = ctx.params.get_double("lazy_threshold");
                      const int64_t n_last = ctx.params.get_int("n_last"), n_recent = ctx.params.get_int("n_recent");
                      const int64_t n_initial = ctx.params.get_int("n_initial");
                      KVB_CHECK(thr >= 0.0 && thr <= 1.0, "simlayerkv: lazy_threshold {} is outside [0, 1]", thr);
                      KVB_CHECK(n_last >= 1, "simlayerkv: n_last {} must be >= 1", n_last);
                      KVB_CHECK(n_recent > n_last, "simlayerkv: n_recent {} must exceed n_last {} (kvpress's slice "
                                "-n_recent + n_last: would keep every entry twice)", n_recent, n_last);
                      KVB_CHECK(n_initial >= 0, "simlayerkv: n_initial {} must be >= 0", n_initial);
                      const bool active = ctx.compression_ratio > 0.0 || ctx.token_budget > 0;
                      return std::make_unique<SimLayerKv>(thr, int(n_last), n_recent, n_initial, active);
                    });

}  // namespace
}  // namespace kvb
