// RoPE frequencies and rotation; see rope.h.
#include "model/rope.h"

#include <cmath>
#include <numbers>

namespace kvb {

std::vector<float> rope_inv_freq(const ModelConfig& c) {
  const int half = c.head_dim / 2;
  std::vector<float> inv(half);
  for (int i = 0; i < half; ++i)
    inv[i] = float(1.0 / std::pow(double(c.rope_theta), double(2 * i) / double(c.head_dim)));
  const RopeScaling& rs = c.rope_scaling;
  if (rs.type == "linear") {
    for (auto& f : inv) f /= rs.factor;
  } else if (rs.type == "llama3") {
    // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, the band between blended.
    const double two_pi = 2.0 * std::numbers::pi;
    const double low_wavelen = rs.original_max_position / rs.low_freq_factor;
    const double high_wavelen = rs.original_max_position / rs.high_freq_factor;
    for (auto& f : inv) {
      const double wavelen = two_pi / f;
      if (wavelen < high_wavelen) continue;
      if (wavelen > low_wavelen) {
        f = float(f / rs.factor);
      } else {
        const double smooth = (rs.original_max_position / wavelen - rs.low_freq_factor) /
                              (rs.high_freq_factor - rs.low_freq_factor);
        f = float((1.0 - smooth) * f / rs.factor + smooth * f);
      }
    }
  }
  if (!c.rope_freq_factors.empty())
    for (int i = 0; i < half && i < int(c.rope_freq_factors.size()); ++i) inv[i] /= c.rope_freq_factors[i];
  return inv;
}

void rope(float* x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t stride, const int32_t* pos,
          const std::vector<float>& inv_freq, bool neox) {
  const int64_t half = head_dim / 2;
#pragma omp parallel for if (n > 4)
  for (int64_t t = 0; t < n; ++t) {
    std::vector<float> cs(half), sn(half);
    for (int64_t i = 0; i < half; ++i) {
      const float angle = float(pos[t]) * inv_freq[i];
      cs[i] = std::cos(angle);
      sn[i] = std::sin(angle);
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + t * stride + h * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * cs[i] - x1 * sn[i];
        v[b] = x0 * sn[i] + x1 * cs[i];
      }
    }
  }
}

}  // namespace kvb
