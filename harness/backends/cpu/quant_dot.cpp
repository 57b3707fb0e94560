// Fused dequantize-and-dot kernels; see quant_dot.h. Block layouts as ggml defines them
// (harness/model/raw_tensor.cpp documents each). AVX2+FMA+F16C kernels (compiled with target
// attributes, chosen at run time; simd.h) and portable loops.
#include "backends/cpu/quant_dot.h"

#include <cstring>
#include <immintrin.h>

#include "core/simd.h"

namespace kvb::cpu {
namespace {

inline float half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_f32(h);
}

KVB_TARGET_AVX2 inline float half_f16c(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// ---- AVX2 + FMA + F16C: 8 partial sums per block, added across blocks in a vector.
KVB_TARGET_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
// 8 unsigned / signed bytes -> 8 floats
KVB_TARGET_AVX2 inline __m256 u8_to_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }
KVB_TARGET_AVX2 inline __m256 i8_to_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

// The 32 elements of a 4-bit block as four float vectors (elements 0-7, 8-15, 16-23, 24-31).
KVB_TARGET_AVX2 inline void nibbles_to_ps(const uint8_t* qs, __m256 out[4]) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0F);
  const __m128i lo = _mm_and_si128(raw, mask), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
  out[0] = u8_to_ps(lo);
  out[1] = u8_to_ps(_mm_srli_si128(lo, 8));
  out[2] = u8_to_ps(hi);
  out[3] = u8_to_ps(_mm_srli_si128(hi, 8));
}

KVB_TARGET_AVX2 inline __m256 block_dot(const __m256 q[4], const float* x) {
  __m256 s = _mm256_mul_ps(q[0], _mm256_loadu_ps(x));
  s = _mm256_fmadd_ps(q[1], _mm256_loadu_ps(x + 8), s);
  s = _mm256_fmadd_ps(q[2], _mm256_loadu_ps(x + 16), s);
  return _mm256_fmadd_ps(q[3], _mm256_loadu_ps(x + 24), s);
}

KVB_TARGET_AVX2 float dot_q8_0_avx2(const uint8_t* row, int64_t cols, const float* x) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < cols / 32; ++b, row += 34, x += 32) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2));
    const __m128i lo = _mm256_castsi256_si128(raw), hi = _mm256_extracti128_si256(raw, 1);
    const __m256 q[4] = {i8_to_ps(lo), i8_to_ps(_mm_srli_si128(lo, 8)), i8_to_ps(hi), i8_to_ps(_mm_srli_si128(hi, 8))};
    acc = _mm256_fmadd_ps(block_dot(q, x), _mm256_set1_ps(half_f16c(row)), acc);
  }
  return hsum(acc);
}

KVB_TARGET_AVX2 float dot_q4_0_avx2(const uint8_t* row, int64_t cols, const float* x) {
  __m256 acc = _mm256_setzero_ps();
  const __m256 eight = _mm256_set1_ps(8.0f);
  for (int64_t b = 0; b < cols / 32; ++b, row += 18, x += 32) {
    __m256 q[4];
    nibbles_to_ps(row + 2, q);
    for (auto& v : q) v = _mm256_sub_ps(v, eight);
    acc = _mm256_fmadd_ps(block_dot(q, x), _mm256_set1_ps(half_f16c(row)), acc);
  }
  return hsum(acc);
}

KVB_TARGET_AVX2 float dot_q4_1_avx2(const uint8_t* row, int64_t cols, const float* x) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < cols / 32; ++b, row += 20, x += 32) {
    __m256 q[4];
    nibbles_to_ps(row + 4, q);
    const __m256 sx = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8)),
                                    _mm256_add_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24)));
    acc = _mm256_fmadd_ps(block_dot(q, x), _mm256_set1_ps(half_f16c(row)), acc);
    acc = _mm256_fmadd_ps(sx, _mm256_set1_ps(half_f16c(row + 2)), acc);
  }
  return hsum(acc);
}
// ---- Portable: one running sum per block.

float dot_q8_0_portable(const uint8_t* row, int64_t cols, const float* x) {
  float total = 0.0f;
  for (int64_t b = 0; b < cols / 32; ++b, row += 34, x += 32) {
    const auto* q = reinterpret_cast<const int8_t*>(row + 2);
    float s = 0.0f;
    for (int j = 0; j < 32; ++j) s += float(q[j]) * x[j];
    total += half(row) * s;
  }
  return total;
}

float dot_q4_0_portable(const uint8_t* row, int64_t cols, const float* x) {
  float total = 0.0f;
  for (int64_t b = 0; b < cols / 32; ++b, row += 18, x += 32) {
    const uint8_t* qs = row + 2;
    float s = 0.0f;
    for (int j = 0; j < 16; ++j) s += float(int(qs[j] & 0x0F) - 8) * x[j] + float(int(qs[j] >> 4) - 8) * x[j + 16];
    total += half(row) * s;
  }
  return total;
}

float dot_q4_1_portable(const uint8_t* row, int64_t cols, const float* x) {
  float total = 0.0f;
  for (int64_t b = 0; b < cols / 32; ++b, row += 20, x += 32) {
    const uint8_t* qs = row + 4;
    float s = 0.0f, sx = 0.0f;
    for (int j = 0; j < 16; ++j) {
      s += float(qs[j] & 0x0F) * x[j] + float(qs[j] >> 4) * x[j + 16];
      sx += x[j] + x[j + 16];
    }
    total += half(row) * s + half(row + 2) * sx;
  }
  return total;
}

// bf16: the widening is exact; the vectorized sum's order follows the vector width of each variant.
KVB_ALWAYS_INLINE float dot_bf16_body(const uint8_t* row, int64_t cols, const float* x) {
  const auto* h = reinterpret_cast<const uint16_t*>(row);
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < cols; ++j) {
    uint32_t u = uint32_t(h[j]) << 16;
    float w;
    std::memcpy(&w, &u, 4);
    s += w * x[j];
  }
  return s;
}

float dot_bf16_portable(const uint8_t* row, int64_t cols, const float* x) { return dot_bf16_body(row, cols, x); }
KVB_TARGET_AVX2 float dot_bf16_avx2(const uint8_t* row, int64_t cols, const float* x) {
  return dot_bf16_body(row, cols, x);
}
KVB_TARGET_AVX512 float dot_bf16_avx512(const uint8_t* row, int64_t cols, const float* x) {
  return dot_bf16_body(row, cols, x);
}

using DotFn = float (*)(const uint8_t*, int64_t, const float*);

DotFn dot_fn(DType t, SimdLevel level) {
  const bool avx2 = level >= SimdLevel::Avx2;
  switch (t) {
    case DType::Q8_0: return avx2 ? dot_q8_0_avx2 : dot_q8_0_portable;
    case DType::Q4_0: return avx2 ? dot_q4_0_avx2 : dot_q4_0_portable;
    case DType::Q4_1: return avx2 ? dot_q4_1_avx2 : dot_q4_1_portable;
    case DType::BF16:
      return level >= SimdLevel::Avx512 ? dot_bf16_avx512 : avx2 ? dot_bf16_avx2 : dot_bf16_portable;
    default: return nullptr;
  }
}

}  // namespace

bool has_fused_dot(DType t) { return dot_fn(t, SimdLevel::Portable) != nullptr; }

void fused_dot_rows(DType t, const uint8_t* rows, int64_t n_rows, size_t row_bytes, int64_t cols, const float* x,
                    float* y, SimdLevel level) {
  const DotFn fn = dot_fn(t, level);
  for (int64_t r = 0; r < n_rows; ++r) y[r] = fn(rows + r * row_bytes, cols, x);
}

}  // namespace kvb::cpu

