// ACT's attention calibration on the CPU (Yu et al. 2024, arXiv:2406.15765; reference
// GATECH-EIC/ACT models/llama_modelling_aug.py, atten_process_eval): in a calibrated head's attention
// map of one forward call, column j is a hidden sink when its mean weight over the rows that see it
// exceeds tau; the first such column (usually the BOS sink) is left alone; the other sinks keep beta
// of their weight in every row and the removed mass goes to that row's other entries in proportion
// to their weights (each row still sums to 1). Seam: kv/attention_calibration.h. Tests:
// tests/test_act.cpp. Axes: n queries of the call, T entries of the head, D head dim.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "kv/attention_calibration.h"
#include "kv/kv_cache.h"

namespace kvb::cpu {

// The hidden sinks of a map given each column's mean attention [T] (ascending): every j with
// mean[j] > tau except the first such j.
std::vector<int32_t> hidden_sinks(std::span<const double> column_mean, float tau);

// One softmax row p [visible] recalibrated in place: p[s] *= beta for the sinks s < visible, and the
// removed (1 - beta) sum_s p[s] added to the other entries j in proportion to p[j]. A row whose other
// entries carry no weight is left unchanged (nowhere to move the mass; the reference divides by 0).
void recalibrate_row(float* p, int64_t visible, std::span<const int32_t> sinks, float beta);

// Recomputes the attention of the calibrated query heads of `calib` (after cpu::attention ran the
// layer: the other heads' outputs are left as they are, bit for bit): per head, the softmax map
// [n, T] of the call (causal: query i sees entries [0, T - n + i]), the hidden sinks from its column
// means (column j is seen by n rows if j <= T - n, else by T - j), every row recalibrated, then
// out[:, head] = P.V and, when given, attn_mass[head] = the recalibrated column sums. Float32 scores
// (also under --matmul int8). Reads every entry (no read selection).
//   q: [n, Hq*D] post-RoPE, out: [n, Hq*D], attn_mass: [Hq][T] or null
void calibrated_attention(const float* q, int64_t n, const KVCache& cache, int layer, int n_heads, float scale,
                          float* out, std::vector<std::vector<float>>* attn_mass, const AttentionCalibration& calib);

}  // namespace kvb::cpu
