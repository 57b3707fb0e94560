// expected_attention: score each key by the attention that future queries are expected to give it,
// from the mean (and covariance) of the prompt's pre-RoPE queries rotated by the average RoPE of the
// next n_future_positions positions, weighted by the value norm (kvpress ExpectedAttentionPress,
// docs/kvpress-notes.md §10). `kvbench eval --method expected_attention --ratio 0.5`.
#include <algorithm>
#include <cmath>

#include "backends/cpu/ops.h"
#include "core/error.h"
#include "methods/scoring.h"

namespace kvb {
namespace {

// 8 doubles as one value (GCC/Clang vector extension: AVX-512, two AVX2 or four SSE2 registers);
// lane-wise arithmetic rounds exactly as the scalar expression does.
typedef double Double8 __attribute__((vector_size(8 * sizeof(double))));

Scorer expected_attention_scorer(const MethodContext& ctx) {
  const int64_t n_future = ctx.params.get_int("n_future_positions");
  const int n_sink = int(ctx.params.get_int("n_sink"));
  const bool use_cov = ctx.params.get_bool("use_covariance");
  const bool use_vnorm = ctx.params.get_bool("use_vnorm");
  const double epsilon = ctx.params.get_double("epsilon");
  KVB_CHECK(n_future >= 1, "expected_attention: n_future_positions {} must be >= 1", n_future);
  KVB_CHECK(n_sink >= 0, "expected_attention: n_sink {} is negative", n_sink);
  const std::vector<float> inv_freq = rope_inv_freq(*ctx.config);
  const bool neox = ctx.config->rope_neox;
  PrefillNeeds needs;
  needs.query_stats_from = n_sink;
  needs.query_covariance = use_cov;
  Scorer scorer{needs, [=](const LayerView& v) {
            const ModelConfig& c = *v.config;
            const int64_t Hq = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim, half = D / 2, group = Hq / Hkv;
            const int64_t T = v.cache->head(v.layer, 0).size();
            KVB_CHECK(T > n_sink, "expected_attention: layer {} holds {} entries, not more than n_sink={}", v.layer, T,
                      n_sink);
            const QueryStats& st = *v.query_stats;
            KVB_CHECK(st.n > 0, "expected_attention: no query statistics for layer {}", v.layer);
            // Average rotation over positions T .. T + n_future - 1, one 2x2 block per frequency.
            std::vector<double> cbar(size_t(half), 0.0), sbar(size_t(half), 0.0);
            for (int64_t i = 0; i < half; ++i) {
              for (int64_t p = v.n_context; p < v.n_context + n_future; ++p) {
                const float angle = float(p) * inv_freq[size_t(i)];
                cbar[size_t(i)] += std::cos(angle);
                sbar[size_t(i)] += std::sin(angle);
              }
              cbar[size_t(i)] /= double(n_future);
              sbar[size_t(i)] /= double(n_future);
            }
            auto pair_of = [&](int64_t i) { return std::pair<int64_t, int64_t>{neox ? i : 2 * i, neox ? i + half : 2 * i + 1}; };
            auto rotate = [&](std::vector<double>& x, int64_t stride, int64_t offset) {  // x <- R̄ x on a strided vector
              for (int64_t i = 0; i < half; ++i) {
                auto [a, b] = pair_of(i);
                const double x0 = x[size_t(offset + a * stride)], x1 = x[size_t(offset + b * stride)];
                x[size_t(offset + a * stride)] = x0 * cbar[size_t(i)] - x1 * sbar[size_t(i)];
                x[size_t(offset + b * stride)] = x0 * sbar[size_t(i)] + x1 * cbar[size_t(i)];
              }
            };
            const double N = double(st.n);
            std::vector<std::vector<float>> per_head(static_cast<size_t>(Hq));
            for (int64_t h = 0; h < Hq; ++h) {
              std::vector<double> mu(static_cast<size_t>(D));
              for (int64_t d = 0; d < D; ++d) mu[size_t(d)] = st.sum[size_t(h * D + d)] / N;
              std::vector<double> cov;
              if (use_cov) {  // C = E[q q^T] - mu mu^T (biased), then C' = R̄ C R̄^T
                cov.resize(size_t(D * D));
                for (int64_t a = 0; a < D; ++a)
                  for (int64_t b = 0; b < D; ++b)
                    cov[size_t(a * D + b)] = st.outer[size_t(h * D * D + a * D + b)] / N - mu[size_t(a)] * mu[size_t(b)];
                for (int64_t col = 0; col < D; ++col) rotate(cov, D, col);   // R̄ C (rows)
                for (int64_t row = 0; row < D; ++row) rotate(cov, 1, row * D);  // (R̄ C) R̄^T (columns)
              }
              rotate(mu, 1, 0);
              const HeadRows hc = v.cache->rows(v.layer, int(h / group));
              std::vector<double> e(static_cast<size_t>(T - n_sink));
              double mx = -INFINITY;
              // Keys in blocks of 8, one key per vector lane: each key's sums run in the same order
              // as one key at a time (so the same bits), 8 keys per instruction.
              std::vector<Double8> kd(static_cast<size_t>(D));  // [D] lanes = the block's keys, in double
              for (int64_t j0 = n_sink; j0 < T; j0 += 8) {
                const int64_t nk = std::min<int64_t>(8, T - j0);
                for (int64_t d = 0; d < D; ++d)
                  for (int64_t i = 0; i < 8; ++i) kd[size_t(d)][i] = i < nk ? double(hc.key(j0 + i)[d]) : 0.0;
                Double8 quad = {}, dotmu = {};
                if (use_cov)
                  for (int64_t a = 0; a < D; ++a) {
                    Double8 row = {};
                    for (int64_t b = 0; b < D; ++b) row += cov[size_t(a * D + b)] * kd[size_t(b)];
                    quad += kd[size_t(a)] * row;
                  }
                for (int64_t d = 0; d < D; ++d) dotmu += kd[size_t(d)] * mu[size_t(d)];
                for (int64_t i = 0; i < nk; ++i) {
                  double val = dotmu[i] / std::sqrt(double(D));
                  if (use_cov) val += quad[i] / (2.0 * double(D));
                  e[size_t(j0 + i - n_sink)] = val;
                  mx = std::max(mx, val);
                }
              }
              double sum = 0;
              for (double& x : e) sum += (x = std::exp(x - mx));
              per_head[size_t(h)].resize(size_t(T - n_sink));
              for (int64_t j = 0; j < T - n_sink; ++j) per_head[size_t(h)][size_t(j)] = float(e[size_t(j)] / sum);
            }
            Scores s = mean_over_group(per_head, int(Hkv));
            if (use_vnorm)
              for (int64_t g = 0; g < Hkv; ++g) {
                const HeadRows hc = v.cache->rows(v.layer, int(g));
                for (int64_t j = n_sink; j < T; ++j) {
                  const float* val = hc.value(j);
                  s[size_t(g)][size_t(j - n_sink)] =
                      (s[size_t(g)][size_t(j - n_sink)] + float(epsilon)) * std::sqrt(cpu::dot(val, val, D));
                }
              }
            const float keep_sink = max_score(s) + 1.0f;
            for (auto& row : s) row.insert(row.begin(), size_t(n_sink), keep_sink);
            return s;
          }};
  scorer.memo_key = fmt::format("expected_attention n_future_positions={} n_sink={} use_covariance={} use_vnorm={} "
                                 "epsilon={:a}", n_future, n_sink, use_cov, use_vnorm, epsilon);
  return scorer;
}

KVB_REGISTER_METHOD(expected_attention, 1,
                    "Expected Attention: Devoto et al. 2025, arXiv:2510.00636 (kvpress ExpectedAttentionPress)",
                    "scorer=expected attention of future queries x value norm, budget=uniform, schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::Uniform},
                    {{"n_future_positions", "512", "future positions whose average RoPE rotates the query statistics"},
                     {"n_sink", "4", "leading tokens always kept (excluded from the statistics)"},
                     {"use_covariance", "true", "add the query covariance term"},
                     {"use_vnorm", "true", "weight scores by the value L2 norm"},
                     {"epsilon", "0.0", "added to scores before the value-norm weighting"}},
                    [](const MethodContext& ctx) {
                      return make_scored_method(expected_attention_scorer(ctx), uniform_budget());
                    },
                    expected_attention_scorer);

}  // namespace
}  // namespace kvb
