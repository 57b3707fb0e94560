// Partial attention and the log-sum-exp merge; see partial_attention.h.
#include "backends/cpu/partial_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/ops.h"

namespace kvb::cpu {

float attend_partial(const float* q, const float* K, const float* V, const float* bias, std::span<const int32_t> read,
                     int64_t D, float scale, float* out, float* probs) {
  std::fill(out, out + D, 0.0f);
  const int64_t R = int64_t(read.size());
  if (R == 0) return -std::numeric_limits<float>::infinity();
  float mx = -std::numeric_limits<float>::infinity();
  dot_rows(q, K, read.data(), R, D, scale, bias, probs);
  for (int64_t r = 0; r < R; ++r) mx = std::max(mx, probs[r]);
  double sum = 0.0;
  for (int64_t r = 0; r < R; ++r) {
    probs[r] = std::exp(probs[r] - mx);
    sum += probs[r];
  }
  const float inv = float(1.0 / sum);
  for (int64_t r = 0; r < R; ++r) {
    probs[r] *= inv;
    const float* v = V + int64_t(read[size_t(r)]) * D;
    for (int64_t d = 0; d < D; ++d) out[d] += probs[r] * v[d];
  }
  return mx + float(std::log(sum));
}

float lse_merge(const float* o_a, float lse_a, const float* o_b, float lse_b, int64_t D, float* o, float* w_a,
                float* w_b) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const float hi = std::max(lse_a, lse_b);
  float wa = 0.0f, wb = 0.0f, lse = ninf;
  if (hi != ninf) {
    // lse = hi + log(e^{lse_a - hi} + e^{lse_b - hi}): the larger side's exponent is 0, no overflow.
    const double ea = std::exp(double(lse_a) - hi), eb = std::exp(double(lse_b) - hi);
    lse = hi + float(std::log(ea + eb));
    wa = float(ea / (ea + eb));
    wb = float(eb / (ea + eb));
  }
  for (int64_t d = 0; d < D; ++d) o[d] = wa * o_a[d] + wb * o_b[d];
  if (w_a) *w_a = wa;
  if (w_b) *w_b = wb;
  return lse;
}

}  // namespace kvb::cpu
