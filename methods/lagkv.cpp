// lagkv: score each entry by how much it stands out against the next partition of the sequence
// (Liang et al. 2025, arXiv:2504.04704; kvpress LagKVPress). After n_sink sinks the entries are cut
// into partitions of lag_size; every entry of partition p is min/max-normalized per channel by
// partition p + 1 (its "lag reference"), the std over channels is softmaxed within p, keys and values
// averaged. Sinks, the last full partition and the tail (no reference) score 1 and are kept first.
// `kvbench eval --method lagkv --ratio 0.5 --param lag_size=128`.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "methods/scoring.h"

namespace kvb {
namespace {

// Softmax over a partition of the per-entry std (over channels) of the rows normalized by the next
// partition's per-channel min/max: x [n_parts, lag, D] row-major -> [n_parts - 1, lag].
std::vector<float> lag_relative_scores(const float* x, int64_t n_parts, int64_t lag, int64_t D) {
  std::vector<float> out(size_t((n_parts - 1) * lag));
  std::vector<float> lo(static_cast<size_t>(D)), hi(static_cast<size_t>(D));
  std::vector<double> sd(static_cast<size_t>(lag));
  for (int64_t p = 0; p + 1 < n_parts; ++p) {
    const float* ref = x + (p + 1) * lag * D;  // [lag, D]
    std::fill(lo.begin(), lo.end(), std::numeric_limits<float>::infinity());
    std::fill(hi.begin(), hi.end(), -std::numeric_limits<float>::infinity());
    for (int64_t t = 0; t < lag; ++t)
      for (int64_t d = 0; d < D; ++d) {
        lo[size_t(d)] = std::min(lo[size_t(d)], ref[t * D + d]);
        hi[size_t(d)] = std::max(hi[size_t(d)], ref[t * D + d]);
      }
    for (int64_t t = 0; t < lag; ++t) {
      // std with Bessel's correction (torch.std's default) of (x - min) / (max - min) over D channels.
      const float* row = x + (p * lag + t) * D;
      std::vector<float> z(static_cast<size_t>(D));
      double mean = 0;
      for (int64_t d = 0; d < D; ++d) {
        z[size_t(d)] = (row[d] - lo[size_t(d)]) / (hi[size_t(d)] - lo[size_t(d)]);
        mean += z[size_t(d)];
      }
      mean /= double(D);
      double var = 0;
      for (int64_t d = 0; d < D; ++d) var += (z[size_t(d)] - mean) * (z[size_t(d)] - mean);
      sd[size_t(t)] = double(float(std::sqrt(var / double(D - 1))));
    }
    const double mx = *std::max_element(sd.begin(), sd.end());
    double sum = 0;
    for (int64_t t = 0; t < lag; ++t) sum += std::exp(sd[size_t(t)] - mx);
    for (int64_t t = 0; t < lag; ++t) out[size_t(p * lag + t)] = float(std::exp(sd[size_t(t)] - mx) / sum);
  }
  return out;
}

// Rank of each value within its group of `lag` (argsort().argsort()), divided by lag.
void rank_within_partitions(std::vector<float>& s, int64_t lag) {
  std::vector<int64_t> order(static_cast<size_t>(lag));
  for (size_t p0 = 0; p0 < s.size(); p0 += size_t(lag)) {
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return s[p0 + size_t(a)] < s[p0 + size_t(b)]; });
    std::vector<float> ranked(static_cast<size_t>(lag));
    for (int64_t r = 0; r < lag; ++r) ranked[size_t(order[size_t(r)])] = float(r) / float(lag);
    std::copy(ranked.begin(), ranked.end(), s.begin() + std::ptrdiff_t(p0));
  }
}

Scorer lagkv_scorer(const MethodContext& ctx) {
  const int64_t n_sink = ctx.params.get_int("n_sink"), lag = ctx.params.get_int("lag_size");
  const bool cross = ctx.params.get_bool("cross_scoring");
  KVB_CHECK(n_sink >= 0, "lagkv: n_sink {} must be >= 0", n_sink);
  KVB_CHECK(lag >= 2, "lagkv: lag_size {} must be >= 2", lag);
  Scorer scorer{{}, [=](const LayerView& v) {
    const int64_t D = v.cache->head_dim();
    Scores s(size_t(v.cache->n_kv_heads()));
    for (int h = 0; h < v.cache->n_kv_heads(); ++h) {
      const HeadRows rows = v.cache->rows(v.layer, h);
      const int64_t T = rows.size();
      std::vector<float>& out = s[size_t(h)];
      if (T < n_sink + 2 * lag) {  // too short to partition: sinks 1, then rising with position
        out.assign(size_t(T), 1.0f);
        for (int64_t t = n_sink; t < T; ++t) out[size_t(t)] = float(t - n_sink) / float(T - n_sink);
        continue;
      }
      const int64_t end = n_sink + ((T - n_sink) / lag) * lag, n_parts = (end - n_sink) / lag;
      const std::vector<float> ks = lag_relative_scores(rows.key(n_sink), n_parts, lag, D);
      const std::vector<float> vs = lag_relative_scores(rows.value(n_sink), n_parts, lag, D);
      std::vector<float> mid(ks.size());
      for (size_t i = 0; i < ks.size(); ++i) mid[i] = (ks[i] + vs[i]) / 2.0f;
      if (!cross) rank_within_partitions(mid, lag);
      out.assign(size_t(T), 1.0f);  // sinks, the last full partition and the tail
      std::copy(mid.begin(), mid.end(), out.begin() + std::ptrdiff_t(n_sink));
    }
    return s;
  }};
  scorer.memo_key = fmt::format("lagkv n_sink={} lag_size={} cross_scoring={}", n_sink, lag, cross);
  return scorer;
}

KVB_REGISTER_METHOD(lagkv, 1, "LagKV: Liang et al. 2025, arXiv:2504.04704 (kvpress LagKVPress)",
                    "scorer=lag-relative key/value spread (next partition as reference), budget=uniform, schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::Uniform},
                    {{"n_sink", "4", "attention-sink entries always kept at the start"},
                     {"lag_size", "128", "partition length; each partition is scored against the next one"},
                     {"cross_scoring", "false", "true: raw scores comparable across partitions (for adakv); "
                                                "false: ranks within each partition"}},
                    [](const MethodContext& ctx) { return make_scored_method(lagkv_scorer(ctx), uniform_budget()); },
                    lagkv_scorer);

}  // namespace
}  // namespace kvb
