// Decode-step attention kernels for the G query heads that share one KV head (GQA group): each key
// and value row is loaded once for all G heads. float32 throughout. AVX-512 kernels (D = 32, 64 or
// 128) or a portable loop; they sum in different orders, so the last bits may differ between the two,
// never between runs or thread counts. cpu::attention (ops.cpp) splits the keys into fixed chunks
// and calls these per (KV head, chunk). Tests: kvb_tests --gtest_filter='DecodeAttention*'.
#pragma once
#include <cstdint>

namespace kvb::cpu {

// True when the AVX-512 kernels run for head dim D on this CPU (checked at run time).
bool decode_attention_vectorized(int64_t D);

// s[i][j] = scale * q_i . K_j + (bias ? bias[j] : 0) for heads i < G and keys j < n.
//   q: [G, D] (rows D floats apart); K: [n, D]; bias: [n] or null; s: G row pointers, each [n]
void group_scores(const float* q, int G, const float* K, int64_t n, int64_t D, float scale, const float* bias,
                  float* const* s);

// o[i] += sum_j p_i[j] V_j for heads i < G.
//   p: G row pointers, each [n]; V: [n, D]; o: [G, D]
void group_weighted_values(const float* const* p, int G, const float* V, int64_t n, int64_t D, float* o);

}  // namespace kvb::cpu
