// Decode-step attention kernels (see decode_attention.h).
#include "backends/cpu/decode_attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace kvb::cpu {

namespace {

#define KVB_AVX512 __attribute__((target("avx512f")))

bool cpu_has_avx512f() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

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

}  // namespace

bool decode_attention_vectorized(int64_t D) {
  return cpu_has_avx512f() && (D == 32 || D == 64 || D == 128);
}

void group_scores(const float* q, int G, const float* K, int64_t n, int64_t D, float scale, const float* bias,
                  float* const* s) {
  if (decode_attention_vectorized(D)) {
    for (int i = 0; i < G; ++i) {
      if (D == 32) scores_avx512<2>(q + i * D, K, n, scale, bias, s[i]);
      if (D == 64) scores_avx512<4>(q + i * D, K, n, scale, bias, s[i]);
      if (D == 128) scores_avx512<8>(q + i * D, K, n, scale, bias, s[i]);
    }
    return;
  }
  for (int i = 0; i < G; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int64_t d = 0; d < D; ++d) acc = std::fma(q[i * D + d], K[j * D + d], acc);
      s[i][j] = acc * scale + (bias ? bias[j] : 0.0f);
    }
}

void group_weighted_values(const float* const* p, int G, const float* V, int64_t n, int64_t D, float* o) {
  if (decode_attention_vectorized(D)) {
    if (D == 32) return values_groups<2>(p, G, V, n, o);
    if (D == 64) return values_groups<4>(p, G, V, n, o);
    return values_groups<8>(p, G, V, n, o);
  }
  for (int i = 0; i < G; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t d = 0; d < D; ++d) o[i * D + d] = std::fma(p[i][j], V[j * D + d], o[i * D + d]);
}

}  // namespace kvb::cpu
