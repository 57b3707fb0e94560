// KIVI packing and min/max quantization; see kivi_codec.h.
#include "kv/kivi_codec.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace kvb {
namespace {

void put_code(std::vector<uint8_t>& codes, int bits, int64_t i, uint32_t q) {
  const int64_t bit = i * bits;
  codes[size_t(bit / 8)] |= uint8_t(q << (bit % 8));
}

uint32_t get_code(const std::vector<uint8_t>& codes, int bits, int64_t i) {
  const int64_t bit = i * bits;
  return (codes[size_t(bit / 8)] >> (bit % 8)) & ((1u << bits) - 1u);
}

// min/max quantization of one value given its group's min and scale.
uint32_t quantize(float x, float mn, float scale, uint32_t qmax) {
  if (scale <= 0.0f) return 0;
  const float q = std::nearbyint((x - mn) / scale);
  return uint32_t(std::clamp(q, 0.0f, float(qmax)));
}

}  // namespace

size_t KiviBlock::bytes() const {
  return k_codes.capacity() + v_codes.capacity() +
         (k_scale.capacity() + k_min.capacity() + v_scale.capacity() + v_min.capacity()) * sizeof(float);
}

void kivi_quantize_append(KiviBlock& b, const KiviConfig& cfg, int64_t D, const float* keys, const float* values,
                          int64_t n) {
  KVB_CHECK(cfg.bits == 2 || cfg.bits == 4 || cfg.bits == 8, "kivi: {} bits; 2, 4 or 8 are supported", cfg.bits);
  KVB_CHECK(n % cfg.group == 0, "kivi: {} tokens is not a multiple of the group size {}", n, cfg.group);
  const uint32_t qmax = (1u << cfg.bits) - 1u;
  const int64_t VG = kivi_value_group(cfg, D), n_vgroups = (D + VG - 1) / VG;
  const int64_t first = b.n, total = b.n + n;
  const size_t code_bytes = size_t((total * D * cfg.bits + 7) / 8);
  b.k_codes.resize(code_bytes, 0);
  b.v_codes.resize(code_bytes, 0);
  // Keys: per channel, over each group of `group` tokens.
  for (int64_t g0 = 0; g0 < n; g0 += cfg.group) {
    for (int64_t d = 0; d < D; ++d) {
      float mn = keys[g0 * D + d], mx = mn;
      for (int64_t t = g0; t < g0 + cfg.group; ++t) {
        mn = std::min(mn, keys[t * D + d]);
        mx = std::max(mx, keys[t * D + d]);
      }
      const float scale = (mx - mn) / float(qmax);
      b.k_min.push_back(mn);
      b.k_scale.push_back(scale);
      for (int64_t t = g0; t < g0 + cfg.group; ++t)
        put_code(b.k_codes, cfg.bits, (first + t) * D + d, quantize(keys[t * D + d], mn, scale, qmax));
    }
  }
  // Values: per token, over each group of VG channels.
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t vg = 0; vg < n_vgroups; ++vg) {
      const int64_t c0 = vg * VG, c1 = std::min(D, c0 + VG);
      float mn = values[t * D + c0], mx = mn;
      for (int64_t c = c0; c < c1; ++c) {
        mn = std::min(mn, values[t * D + c]);
        mx = std::max(mx, values[t * D + c]);
      }
      const float scale = (mx - mn) / float(qmax);
      b.v_min.push_back(mn);
      b.v_scale.push_back(scale);
      for (int64_t c = c0; c < c1; ++c)
        put_code(b.v_codes, cfg.bits, (first + t) * D + c, quantize(values[t * D + c], mn, scale, qmax));
    }
  }
  b.n = total;
}

void kivi_dequantize(const KiviBlock& b, const KiviConfig& cfg, int64_t D, float* keys, float* values) {
  const int64_t VG = kivi_value_group(cfg, D), n_vgroups = (D + VG - 1) / VG;
  for (int64_t t = 0; t < b.n; ++t) {
    const int64_t kg = t / cfg.group;
    for (int64_t d = 0; d < D; ++d) {
      const size_t s = size_t(kg * D + d);
      keys[t * D + d] = b.k_min[s] + b.k_scale[s] * float(get_code(b.k_codes, cfg.bits, t * D + d));
      const size_t vs = size_t(t * n_vgroups + d / VG);
      values[t * D + d] = b.v_min[vs] + b.v_scale[vs] * float(get_code(b.v_codes, cfg.bits, t * D + d));
    }
  }
}

}  // namespace kvb
