// razor_attention: retrieval heads (found by echo and induction scores on a repeated random-token
// probe) keep every entry; every other head keeps its n_sink first and most recent entries plus one
// compensation entry (mean of the dropped keys and values, attention logit + log(n_dropped), i.e.
// counted as the n tokens it stands for) — Tang et al. 2024, arXiv:2407.15891. --ratio sets the
// non-retrieval heads' budget (compensation entry included). Head scores are computed once per model:
// prefill N random tokens, then feed them again one by one and read each step's attention.
// `kvbench eval --method razor_attention --ratio 0.75 --param retrieval_fraction=0.15`.
#include <algorithm>
#include <cstring>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>

#include "core/error.h"
#include "core/random.h"
#include "methods/scoring.h"
#include "engine/transformer.h"

namespace kvb {
namespace {

// Per (layer, KV head): max over the group's query heads of max(echo, induction) on the probe.
// Cached by the model's own logits on the probe's first half (content-addressed, so two models never
// share scores by accident).
std::vector<float> probe_head_scores(Transformer& model, int64_t n, uint64_t seed) {
  const ModelConfig& c = model.config();
  KVB_CHECK(c.vocab_size > 16, "razor_attention: vocabulary of {} tokens is too small for the probe", c.vocab_size);
  Rng rng(seed);
  std::vector<int32_t> first(static_cast<size_t>(n));
  for (auto& t : first) t = int32_t(8 + rng.below(uint64_t(c.vocab_size - 8)));
  struct StepMass final : ForwardObserver {
    std::vector<std::vector<std::vector<float>>> mass;  // [L][Hq][T] of the current step
    bool wants_attention_mass(int) const override { return true; }
    void on_layer(const LayerObservation& o) override { mass[size_t(o.layer)] = *o.attn_mass; }
  } obs;
  obs.mass.resize(size_t(c.n_layers));
  KVCache cache = model.make_cache();
  Tensor fingerprint = model.forward(first, cache, LogitRows::Last);
  uint64_t key = 1469598103934665603ull ^ uint64_t(n) ^ (seed << 32);
  for (float x : fingerprint.data) {
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    key = (key ^ bits) * 1099511628211ull;
  }
  static std::mutex mu;
  static std::map<uint64_t, std::vector<float>> cached;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cached.find(key);
    if (it != cached.end()) return it->second;
  }
  const int group = c.n_heads / c.n_kv_heads;
  std::vector<double> echo(size_t(c.n_layers * c.n_heads), 0.0), induction(echo.size(), 0.0);
  for (int64_t k = 0; k + 1 < n; ++k) {  // query = the second copy's token k (its first occurrence is k)
    const int32_t tok[1] = {first[size_t(k)]};
    model.forward(tok, cache, LogitRows::None, &obs);
    if (k == 0) continue;
    for (int l = 0; l < c.n_layers; ++l)
      for (int qh = 0; qh < c.n_heads; ++qh) {
        echo[size_t(l * c.n_heads + qh)] += obs.mass[size_t(l)][size_t(qh)][size_t(k)];
        induction[size_t(l * c.n_heads + qh)] += obs.mass[size_t(l)][size_t(qh)][size_t(k + 1)];
      }
  }
  std::vector<float> score(size_t(c.n_layers * c.n_kv_heads), 0.0f);
  for (int l = 0; l < c.n_layers; ++l)
    for (int qh = 0; qh < c.n_heads; ++qh) {
      const size_t i = size_t(l * c.n_heads + qh);
      const float s = float(std::max(echo[i], induction[i]) / double(n - 2));
      float& dst = score[size_t(l * c.n_kv_heads + qh / group)];
      dst = std::max(dst, s);
    }
  std::lock_guard<std::mutex> lock(mu);
  cached[key] = score;
  return score;
}

class RazorAttention final : public Method {
 public:
  RazorAttention(std::vector<char> retrieval, int64_t n_sink) : retrieval_(std::move(retrieval)), n_sink_(n_sink) {}
  KeepSets compress_prefill(const LayerView& v) override {
    const int H = v.cache->n_kv_heads();
    const int64_t T = v.n_context;
    if (v.n_kept >= T) return {};
    KVB_CHECK(v.n_kept >= n_sink_ + 2, "razor_attention: a budget of {} entries cannot hold {} sinks, the recent "
              "window and the compensation entry", v.n_kept, n_sink_);
    const int64_t recent = v.n_kept - n_sink_ - 1;  // one entry is the compensation token
    KeepSets keep(static_cast<size_t>(H));
    for (int h = 0; h < H; ++h)
      for (int64_t j = 0; j < T; ++j)
        if (retrieval_[size_t(v.layer * H + h)] || j < n_sink_ || j >= T - recent) keep[size_t(h)].push_back(int32_t(j));
    return keep;
  }
  std::vector<Compensation> compensation(const LayerView& v, const KeepSets& keep) override {
    if (keep.empty()) return {};
    const int H = v.cache->n_kv_heads();
    const int64_t D = v.cache->head_dim();
    std::vector<Compensation> out(static_cast<size_t>(H));
    for (int h = 0; h < H; ++h) {
      const HeadRows hc = v.cache->rows(v.layer, h);
      const std::vector<int32_t>& positions = v.cache->head(v.layer, h).positions();
      std::vector<char> kept(size_t(hc.size()), 0);
      for (int32_t j : keep[size_t(h)]) kept[size_t(j)] = 1;
      Compensation& c = out[size_t(h)];
      c.key.assign(size_t(D), 0.0f);
      c.value.assign(size_t(D), 0.0f);
      int64_t n = 0;
      for (int64_t j = 0; j < hc.size(); ++j) {
        if (kept[size_t(j)]) continue;
        if (n++ == 0) c.position = positions[size_t(j)];
        for (int64_t d = 0; d < D; ++d) {
          c.key[size_t(d)] += hc.key(j)[d];
          c.value[size_t(d)] += hc.value(j)[d];
        }
      }
      if (n == 0) continue;
      for (int64_t d = 0; d < D; ++d) {
        c.key[size_t(d)] /= float(n);
        c.value[size_t(d)] /= float(n);
      }
      c.logit_bias = float(std::log(double(n)));
      c.present = true;
    }
    return out;
  }

 private:
  std::vector<char> retrieval_;  // [L * Hkv]
  int64_t n_sink_;
};

KVB_REGISTER_METHOD(razor_attention, 1, "RazorAttention: Tang et al. 2024, arXiv:2407.15891",
                    "budget=per head (retrieval heads by echo/induction probe keep all; others sink + recent + "
                    "1 compensation entry), schedule=prefill",
                    MethodRoles{.evicts = true, .compensates = true, .budget = Budget::WholeOrRecent},
                    {{"retrieval_fraction", "0.15", "fraction of (layer, KV head) pairs kept whole"},
                     {"n_sink", "4", "first entries every other head keeps"},
                     {"probe_length", "64", "random tokens in the echo/induction probe (fed twice)"},
                     {"probe_seed", "0", "seed of the probe tokens"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      KVB_CHECK(ctx.model != nullptr, "razor_attention needs the model to find retrieval heads");
                      const double fraction = ctx.params.get_double("retrieval_fraction");
                      const int64_t n_sink = ctx.params.get_int("n_sink");
                      const int64_t n = ctx.params.get_int("probe_length");
                      KVB_CHECK(fraction >= 0.0 && fraction <= 1.0, "razor_attention: retrieval_fraction {} is "
                                "outside [0, 1]", fraction);
                      KVB_CHECK(n_sink >= 0 && n >= 4, "razor_attention: n_sink >= 0 and probe_length >= 4");
                      const std::vector<float> scores =
                          probe_head_scores(*ctx.model, n, uint64_t(ctx.params.get_int("probe_seed")));
                      std::vector<int64_t> order(scores.size());
                      std::iota(order.begin(), order.end(), 0);
                      std::stable_sort(order.begin(), order.end(),
                                       [&](int64_t a, int64_t b) { return scores[size_t(a)] > scores[size_t(b)]; });
                      const int64_t n_retrieval = int64_t(std::ceil(fraction * double(scores.size())));
                      std::vector<char> retrieval(scores.size(), 0);
                      for (int64_t i = 0; i < n_retrieval; ++i) retrieval[size_t(order[size_t(i)])] = 1;
                      return std::make_unique<RazorAttention>(std::move(retrieval), n_sink);
                    });

}  // namespace
}  // namespace kvb
