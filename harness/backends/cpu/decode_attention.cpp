// Decode-step attention kernels (see decode_attention.h).
#include "backends/cpu/decode_attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "core/simd.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace kvb::cpu {

namespace {

#define KVB_AVX512 KVB_TARGET_AVX512

// Sixteen vectors -> one: lane k = the sum of v[k]'s 16 lanes (a fixed tree: pairs of lanes, then
// 128-bit quarters; the same order for every call).
KVB_AVX512 inline __m512 sum16(const __m512* v) {
  __m512 w[8], x[4], y[2];
  for (int k = 0; k < 8; ++k)  // w[k] lane 4l+{0,1,2,3} = {v2k, v2k+1} x {lanes 4l+0/2, 4l+1/3} summed
    w[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]), _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));
  for (int k = 0; k < 4; ++k) {  // x[k] lane 4l+i = sum of v[4k+i]'s quarter l
    const __m512d a = _mm512_castps_pd(w[2 * k]), b = _mm512_castps_pd(w[2 * k + 1]);
    x[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
  for (int k = 0; k < 2; ++k)  // y[k] quarters: x[2k] (q0+q1, q2+q3), x[2k+1] (q0+q1, q2+q3)
    y[k] = _mm512_add_ps(_mm512_shuffle_f32x4(x[2 * k], x[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(x[2 * k], x[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(y[0], y[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(y[0], y[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

// Scores of one head against 16 keys at a time (fewer in the tail: the missing rows count as zero).
template <int NC>
KVB_AVX512 void scores_avx512(const float* q, const float* K, int64_t n, float scale, const float* bias, float* s) {
  constexpr int64_t D = NC * 16;
  __m512 qv[NC];
  for (int c = 0; c < NC; ++c) qv[c] = _mm512_loadu_ps(q + c * 16);
  const __m512 sc = _mm512_set1_ps(scale);
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    const int64_t len = std::min<int64_t>(16, n - j0);
    __m512 part[16];
    for (int64_t k = 0; k < 16; ++k) {
      if (k >= len) {
        part[k] = _mm512_setzero_ps();
        continue;
      }
      const float* row = K + (j0 + k) * D;
      __m512 acc = _mm512_mul_ps(qv[0], _mm512_loadu_ps(row));
      for (int c = 1; c < NC; ++c) acc = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(row + c * 16), acc);
      part[k] = acc;
    }
    const __mmask16 mask = len == 16 ? __mmask16(0xffff) : __mmask16((1u << len) - 1u);
    __m512 r = _mm512_mul_ps(sum16(part), sc);
    if (bias) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask, bias + j0));
    _mm512_mask_storeu_ps(s + j0, mask, r);
  }
}

// o[i] += sum_j p_i[j] V_j for GS heads, V rows loaded once.
template <int GS, int NC>
KVB_AVX512 void values_avx512(const float* const* p, const float* V, int64_t n, float* o) {
  constexpr int64_t D = NC * 16;
  __m512 acc[GS][NC];
  for (int i = 0; i < GS; ++i)
    for (int c = 0; c < NC; ++c) acc[i][c] = _mm512_loadu_ps(o + i * D + c * 16);
  for (int64_t j = 0; j < n; ++j) {
    __m512 v[NC];
    for (int c = 0; c < NC; ++c) v[c] = _mm512_loadu_ps(V + j * D + c * 16);
    for (int i = 0; i < GS; ++i) {
      const __m512 pj = _mm512_set1_ps(p[i][j]);
      for (int c = 0; c < NC; ++c) acc[i][c] = _mm512_fmadd_ps(pj, v[c], acc[i][c]);
    }
  }
  for (int i = 0; i < GS; ++i)
    for (int c = 0; c < NC; ++c) _mm512_storeu_ps(o + i * D + c * 16, acc[i][c]);
}

template <int NC>
void values_groups(const float* const* p, int G, const float* V, int64_t n, float* o) {
  // Up to 4 heads per pass (2 for D = 128): heads * NC accumulators + NC rows <= 24 registers.
  constexpr int64_t D = NC * 16;
  constexpr int kMaxHeads = NC >= 8 ? 2 : 4;
  for (int i = 0; i < G;) {
    const int heads = std::min(G - i, kMaxHeads);
    if (heads == 1) values_avx512<1, NC>(p + i, V, n, o + i * D);
    if (heads == 2) values_avx512<2, NC>(p + i, V, n, o + i * D);
    if constexpr (kMaxHeads >= 4) {
      if (heads == 3) values_avx512<3, NC>(p + i, V, n, o + i * D);
      if (heads == 4) values_avx512<4, NC>(p + i, V, n, o + i * D);
    }
    i += heads;
  }
}

// ---- AVX2 + FMA: 8 keys per horizontal-sum tree, P.V in 32-float slices of D.

// Eight vectors -> one: lane k = the sum of v[k]'s 8 lanes (a fixed tree, the same for every call).
KVB_TARGET_AVX2 inline __m256 sum8(const __m256* v) {
  const __m256 a0 = _mm256_hadd_ps(v[0], v[1]), a1 = _mm256_hadd_ps(v[2], v[3]);  // pairs within 128-bit halves
  const __m256 a2 = _mm256_hadd_ps(v[4], v[5]), a3 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 b0 = _mm256_hadd_ps(a0, a1), b1 = _mm256_hadd_ps(a2, a3);  // lane: v[k] half-sums, k = 0-3 | 4-7
  // b0 = [v0l v1l v2l v3l | v0h v1h v2h v3h], b1 likewise for v4-v7: add the halves.
  const __m256 lo = _mm256_permute2f128_ps(b0, b1, 0x20), hi = _mm256_permute2f128_ps(b0, b1, 0x31);
  return _mm256_add_ps(lo, hi);
}

template <int NC>
KVB_TARGET_AVX2 void scores_avx2(const float* q, const float* K, int64_t n, float scale, const float* bias, float* s) {
  constexpr int64_t D = NC * 8;
  const __m256 sc = _mm256_set1_ps(scale);
  for (int64_t j0 = 0; j0 < n; j0 += 8) {
    const int64_t len = std::min<int64_t>(8, n - j0);
    __m256 part[8];
    for (int64_t k = 0; k < 8; ++k) {
      if (k >= len) {
        part[k] = _mm256_setzero_ps();
        continue;
      }
      const float* row = K + (j0 + k) * D;
      __m256 acc = _mm256_mul_ps(_mm256_loadu_ps(q), _mm256_loadu_ps(row));
      for (int c = 1; c < NC; ++c) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + c * 8), _mm256_loadu_ps(row + c * 8), acc);
      part[k] = acc;
    }
    __m256 r = _mm256_mul_ps(sum8(part), sc);
    alignas(32) float out[8];
    if (bias) {
      alignas(32) float b[8] = {};
      std::copy(bias + j0, bias + j0 + len, b);
      r = _mm256_add_ps(r, _mm256_load_ps(b));
    }
    _mm256_store_ps(out, r);
    std::copy(out, out + len, s + j0);
  }
}

// o[i][slice] += sum_j p_i[j] V_j[slice] for GS heads and one 32-float slice of D.
template <int GS>
KVB_TARGET_AVX2 void values_slice_avx2(const float* const* p, const float* V, int64_t n, int64_t D, float* o) {
  __m256 acc[GS][4];
  for (int i = 0; i < GS; ++i)
    for (int c = 0; c < 4; ++c) acc[i][c] = _mm256_loadu_ps(o + i * D + c * 8);
  for (int64_t j = 0; j < n; ++j) {
    const float* v = V + j * D;
    for (int c = 0; c < 4; ++c) {
      const __m256 vc = _mm256_loadu_ps(v + c * 8);
      for (int i = 0; i < GS; ++i) acc[i][c] = _mm256_fmadd_ps(_mm256_set1_ps(p[i][j]), vc, acc[i][c]);
    }
  }
  for (int i = 0; i < GS; ++i)
    for (int c = 0; c < 4; ++c) _mm256_storeu_ps(o + i * D + c * 8, acc[i][c]);
}

void values_avx2(const float* const* p, int G, const float* V, int64_t n, int64_t D, float* o) {
  for (int64_t d0 = 0; d0 < D; d0 += 32)  // up to 3 heads per pass: 12 accumulators + a row slice
    for (int i = 0; i < G;) {
      const int heads = std::min(G - i, 3);
      if (heads == 1) values_slice_avx2<1>(p + i, V + d0, n, D, o + i * D + d0);
      if (heads == 2) values_slice_avx2<2>(p + i, V + d0, n, D, o + i * D + d0);
      if (heads == 3) values_slice_avx2<3>(p + i, V + d0, n, D, o + i * D + d0);
      i += heads;
    }
}

// ---- Portable: one running sum per score in key order.

void scores_portable(const float* q, int G, const float* K, int64_t n, int64_t D, float scale, const float* bias,
                     float* const* s) {
  for (int i = 0; i < G; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int64_t d = 0; d < D; ++d) acc = std::fma(q[i * D + d], K[j * D + d], acc);
      s[i][j] = acc * scale + (bias ? bias[j] : 0.0f);
    }
}

void values_portable(const float* const* p, int G, const float* V, int64_t n, int64_t D, float* o) {
  for (int i = 0; i < G; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t d = 0; d < D; ++d) o[i * D + d] = std::fma(p[i][j], V[j * D + d], o[i * D + d]);
}

}  // namespace

SimdLevel decode_attention_level(int64_t D, SimdLevel level) {
  if (level >= SimdLevel::Avx512 && (D == 32 || D == 64 || D == 128)) return SimdLevel::Avx512;
  if (level >= SimdLevel::Avx2 && (D == 32 || D == 64 || D == 128)) return SimdLevel::Avx2;
  return SimdLevel::Portable;
}

void group_scores(const float* q, int G, const float* K, int64_t n, int64_t D, float scale, const float* bias,
                  float* const* s, SimdLevel level) {
  switch (decode_attention_level(D, level)) {
    case SimdLevel::Avx512:
      for (int i = 0; i < G; ++i) {
        if (D == 32) scores_avx512<2>(q + i * D, K, n, scale, bias, s[i]);
        if (D == 64) scores_avx512<4>(q + i * D, K, n, scale, bias, s[i]);
        if (D == 128) scores_avx512<8>(q + i * D, K, n, scale, bias, s[i]);
      }
      return;
    case SimdLevel::Avx2:
      for (int i = 0; i < G; ++i) {
        if (D == 32) scores_avx2<4>(q + i * D, K, n, scale, bias, s[i]);
        if (D == 64) scores_avx2<8>(q + i * D, K, n, scale, bias, s[i]);
        if (D == 128) scores_avx2<16>(q + i * D, K, n, scale, bias, s[i]);
      }
      return;
    default: return scores_portable(q, G, K, n, D, scale, bias, s);
  }
}

void group_weighted_values(const float* const* p, int G, const float* V, int64_t n, int64_t D, float* o,
                           SimdLevel level) {
  switch (decode_attention_level(D, level)) {
    case SimdLevel::Avx512:
      if (D == 32) return values_groups<2>(p, G, V, n, o);
      if (D == 64) return values_groups<4>(p, G, V, n, o);
      return values_groups<8>(p, G, V, n, o);
    case SimdLevel::Avx2: return values_avx2(p, G, V, n, D, o);
    default: return values_portable(p, G, V, n, D, o);
  }
}

}  // namespace kvb::cpu
