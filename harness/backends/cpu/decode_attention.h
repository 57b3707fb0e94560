// Decode-step attention kernels for the G query heads that share one KV head (GQA group): each key
// and value row is loaded once for all G heads. float32 throughout. AVX-512 and AVX2 kernels (D = 32,
// 64 or 128; chosen at run time, simd.h) or a portable loop. The scores sum the D products in a
// different order in each (a tree over 16 or 8 lanes, or one running sum), so their last bits may
// differ between kernels (tests bound it at 1e-5 of the sum of |products|), never between runs or
// thread counts; P.V adds the keys in the same order in all three (the same bits). cpu::attention (ops.cpp) splits the keys into fixed chunks
// and calls these per (KV head, chunk). Tests: kvb_tests --gtest_filter='DecodeAttention*'.
#pragma once
#include <cstdint>

#include "core/simd.h"

namespace kvb::cpu {

// The kernel that runs for head dim D when `level` is allowed (Portable for other head dims).
SimdLevel decode_attention_level(int64_t D, SimdLevel level = simd_level());

// s[i][j] = scale * q_i . K_j + (bias ? bias[j] : 0) for heads i < G and keys j < n.
//   q: [G, D] (rows D floats apart); K: [n, D]; bias: [n] or null; s: G row pointers, each [n]
void group_scores(const float* q, int G, const float* K, int64_t n, int64_t D, float scale, const float* bias,
                  float* const* s, SimdLevel level = simd_level());

// o[i] += sum_j p_i[j] V_j for heads i < G.
//   p: G row pointers, each [n]; V: [n, D]; o: [G, D]
void group_weighted_values(const float* const* p, int G, const float* V, int64_t n, int64_t D, float* o,
                           SimdLevel level = simd_level());

}  // namespace kvb::cpu
