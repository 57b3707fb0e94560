// ACT's attention calibration on the CPU; see attention_calibration.h.
#include "backends/cpu/attention_calibration.h"

#include <cblas.h>

#include <algorithm>

#include "backends/cpu/ops.h"
#include "core/error.h"

namespace kvb::cpu {

std::vector<int32_t> hidden_sinks(std::span<const double> column_mean, float tau) {
  std::vector<int32_t> out;
  bool first = true;
  for (size_t j = 0; j < column_mean.size(); ++j) {
    if (!(column_mean[j] > double(tau))) continue;
    if (first) {  // the first sink (the reference's indices[1:])
      first = false;
      continue;
    }
    out.push_back(int32_t(j));
  }
  return out;
}

void recalibrate_row(float* p, int64_t visible, std::span<const int32_t> sinks, float beta) {
  double removed = 0, rest = 0, total = 0;
  size_t n_sinks = 0;
  for (int32_t s : sinks) {
    if (s >= visible) break;
    removed += double(p[s]) * (1.0 - double(beta));
    ++n_sinks;
  }
  for (int64_t j = 0; j < visible; ++j) total += p[j];
  for (size_t k = 0; k < n_sinks; ++k) total -= p[sinks[k]];
  rest = total;
  if (n_sinks == 0 || !(rest > 0)) return;
  // Scale the other entries first (their weights before the sinks change), then the sinks.
  size_t k = 0;
  const double gain = removed / rest;
  for (int64_t j = 0; j < visible; ++j) {
    if (k < n_sinks && sinks[k] == j) {
      ++k;
      continue;
    }
    p[j] = float(double(p[j]) + gain * double(p[j]));
  }
  for (size_t s = 0; s < n_sinks; ++s) p[sinks[s]] *= beta;
}

void calibrated_attention(const float* q, int64_t n, const KVCache& cache, int layer, int n_heads, float scale,
                          float* out, std::vector<std::vector<float>>* attn_mass, const AttentionCalibration& calib) {
  const int64_t D = cache.head_dim(), Hkv = cache.n_kv_heads(), group = n_heads / Hkv, stride = n_heads * D;
  KVB_CHECK(int(calib.heads.size()) == n_heads, "layer {}: attention calibration for {} query heads, the model has {}",
            layer, calib.heads.size(), n_heads);
  constexpr int64_t kQueryBlock = 64;  // as cpu::attention's prefill blocks
  std::vector<float> kbuf, vbuf, probs;
  for (int qh = 0; qh < n_heads; ++qh) {
    if (!calib.heads[size_t(qh)]) continue;
    const HeadCache& h = cache.head(layer, int(qh / group));
    const KVCache::DenseRows rows = cache.dense_rows(layer, int(qh / group), kbuf, vbuf);
    const int64_t T = h.size(), past = T - n;
    const float* bias = h.logit_bias().empty() ? nullptr : h.logit_bias().data();
    // P [n, T]: row i's softmax over its visible entries [0, past + i], zeros after them.
    probs.assign(size_t(n * T), 0.0f);
    for (int64_t i0 = 0; i0 < n; i0 += kQueryBlock) {
      const int64_t m = std::min(kQueryBlock, n - i0), C = past + i0 + m;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m), int(C), int(D), scale, q + i0 * stride + qh * D,
                  int(stride), rows.keys, int(D), 0.0f, probs.data() + i0 * T, int(T));
      for (int64_t i = 0; i < m; ++i) {
        float* row = probs.data() + (i0 + i) * T;
        const int64_t visible = past + i0 + i + 1;
        if (bias)
          for (int64_t j = 0; j < visible; ++j) row[j] += bias[j];
        masked_softmax(row, visible, C);
      }
    }
    // Column means over the rows that see each column, the hidden sinks, every row recalibrated.
    std::vector<double> mean(static_cast<size_t>(T), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < past + i + 1; ++j) mean[size_t(j)] += probs[size_t(i * T + j)];
    for (int64_t j = 0; j < T; ++j) mean[size_t(j)] /= double(j <= past ? n : T - j);
    const std::vector<int32_t> sinks = hidden_sinks(mean, calib.tau);
    if (!sinks.empty())
      for (int64_t i = 0; i < n; ++i) recalibrate_row(probs.data() + i * T, past + i + 1, sinks, calib.beta);
    for (int64_t i0 = 0; i0 < n; i0 += kQueryBlock) {
      const int64_t m = std::min(kQueryBlock, n - i0), C = past + i0 + m;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(D), int(C), 1.0f, probs.data() + i0 * T,
                  int(T), rows.values, int(D), 0.0f, out + i0 * stride + qh * D, int(stride));
    }
    if (attn_mass) {
      std::vector<float>& mass = (*attn_mass)[size_t(qh)];
      mass.assign(size_t(T), 0.0f);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < T; ++j) mass[size_t(j)] += probs[size_t(i * T + j)];
    }
  }
}

}  // namespace kvb::cpu
