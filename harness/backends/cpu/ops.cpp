// CPU reference ops; see ops.h.
#include "backends/cpu/ops.h"

#include "backends/cpu/quant_dot.h"
#include "core/error.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

namespace kvb::cpu {

namespace {

// 16 running partial sums in a fixed order, then a fixed tree: vectorizes well (one AVX-512 register,
// two AVX2 or four SSE registers), and the result does not depend on the vector width the variant
// was compiled for (FMA contraction is off), so every level computes the same float32 value.
KVB_ALWAYS_INLINE float dot_body(const float* a, const float* b, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  for (int j = 0; i < n; ++i, ++j) acc[j] += a[i] * b[i];
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}
KVB_SIMD_VARIANTS(float, dot, (const float* a, const float* b, int64_t n), (a, b, n))

KVB_ALWAYS_INLINE void dot_rows_body(const float* q, const float* K, const int32_t* idx, int64_t n, int64_t D,
                                     float scale, const float* bias, float* out) {
  for (int64_t r = 0; r < n; ++r) {
    const int64_t j = idx ? int64_t(idx[r]) : r;
    const float s = dot_body(q, K + j * D, D) * scale;
    out[r] = bias ? s + bias[j] : s;
  }
}
KVB_SIMD_VARIANTS(void, dot_rows,
                  (const float* q, const float* K, const int32_t* idx, int64_t n, int64_t D, float scale,
                   const float* bias, float* out),
                  (q, K, idx, n, D, scale, bias, out))

}  // namespace

float dot(const float* a, const float* b, int64_t n, SimdLevel level) { return dot_at(level, a, b, n); }

void dot_rows(const float* q, const float* K, const int32_t* idx, int64_t n, int64_t D, float scale,
              const float* bias, float* out, SimdLevel level) {
  dot_rows_at(level, q, K, idx, n, D, scale, bias, out);
}

void add_in_place(float* x, const float* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

namespace {

constexpr int64_t kRowwiseMaxTokens = 4;  // up to this many tokens, dequantize rows and dot
constexpr int64_t kRowBlock = 16;         // rows dequantized at a time per thread

void add_bias(float* y, int64_t n, int64_t out, const Tensor* bias) {
  if (!bias || bias->data.empty()) return;
  const float* b = bias->ptr();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < out; ++j) y[i * out + j] += b[j];
}

}  // namespace

void linear(const float* x, int64_t n, const WeightMatrix& w, float* y, const Tensor* bias) {
  const int64_t out = w.rows(), in = w.cols();
  if (w.dtype() == DType::F32) {
    if (n == 1) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, int(out), int(in), 1.0f, w.f32_data(), int(in), x, 1, 0.0f, y, 1);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(out), int(in), 1.0f, x, int(in),
                  w.f32_data(), int(in), 0.0f, y, int(out));
    }
  } else if (n <= kRowwiseMaxTokens && has_fused_dot(w.dtype())) {
    for (int64_t t = 0; t < n; ++t) {
#pragma omp parallel for schedule(static)
      for (int64_t r0 = 0; r0 < out; r0 += kRowBlock)
        fused_dot_rows(w.dtype(), w.packed_data() + r0 * w.row_bytes(), std::min(kRowBlock, out - r0), w.row_bytes(),
                       in, x + t * in, y + t * out + r0);
    }
  } else if (n <= kRowwiseMaxTokens) {
#pragma omp parallel
    {
      std::vector<float> rows(size_t(kRowBlock * in));
#pragma omp for schedule(static)
      for (int64_t r0 = 0; r0 < out; r0 += kRowBlock) {
        const int64_t nr = std::min(kRowBlock, out - r0);
        w.dequantize_rows(r0, nr, rows.data());
        for (int64_t r = 0; r < nr; ++r)
          for (int64_t t = 0; t < n; ++t) y[t * out + r0 + r] = dot(rows.data() + r * in, x + t * in, in);
      }
    }
  } else {
    // One scratch matrix per calling thread, reused across calls (the OpenMP workers write into it).
    thread_local std::vector<float> scratch;
    scratch.resize(size_t(out * in));
    float* dense = scratch.data();
#pragma omp parallel for schedule(static)
    for (int64_t r0 = 0; r0 < out; r0 += kRowBlock)
      w.dequantize_rows(r0, std::min(kRowBlock, out - r0), dense + r0 * in);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(out), int(in), 1.0f, x, int(in), dense, int(in),
                0.0f, y, int(out));
  }
  add_bias(y, n, out, bias);
}

const Q8Activations& LinearInput::quantized() {
  if (!quantized_) {
    quantize_q8(x_, n_, cols_, q8_);
    quantized_ = true;
  }
  return q8_;
}

void linear(LinearInput& in, const WeightMatrix& w, float* y, const Tensor* bias) {
  if (in.mode() == MatmulMode::Int8 && int8_gemm_supports(w.dtype())) {
    int8_linear(in.quantized(), w, y);
    add_bias(y, in.tokens(), w.rows(), bias);
  } else {
    linear(in.data(), in.tokens(), w, y, bias);
  }
}

void linear_rows_as_alone(LinearInput& in, const WeightMatrix& w, float* y, const Tensor* bias) {
  if (in.tokens() == 1 || (in.mode() == MatmulMode::Int8 && int8_gemm_supports(w.dtype()))) {
    linear(in, w, y, bias);
    return;
  }
  for (int64_t t = 0; t < in.tokens(); ++t) {
    LinearInput row(in.data() + t * in.cols(), 1, in.cols(), in.mode());
    linear(row, w, y + t * w.rows(), bias);
  }
}

void rmsnorm(const float* x, const float* w, float* y, int64_t n, int64_t dim, int64_t stride, float eps) {
#pragma omp parallel for if (n > 4)
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * stride;
    float* yi = y + i * stride;
    double ss = 0.0;
    for (int64_t j = 0; j < dim; ++j) ss += double(xi[j]) * xi[j];
    const float inv = 1.0f / std::sqrt(float(ss / double(dim)) + eps);
    for (int64_t j = 0; j < dim; ++j) yi[j] = xi[j] * inv * w[j];
  }
}

namespace {

// silu(g) * up with silu(g) = g * sigmoid(g) and e = exp(-|g|) <= 1 (exp_nonpositive, so the loop
// vectorizes): sigmoid(g) = 1 / (1 + e) for g >= 0, e / (1 + e) for g < 0.
KVB_ALWAYS_INLINE void swiglu_block_body(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i], e = exp_nonpositive(-std::fabs(g));
    const float sigmoid = (g >= 0.0f ? 1.0f : e) / (1.0f + e);
    out[i] = g * sigmoid * up[i];
  }
}
KVB_SIMD_VARIANTS(void, swiglu_block, (const float* gate, const float* up, float* out, int64_t n), (gate, up, out, n))

KVB_ALWAYS_INLINE void masked_softmax_body(float* row, int64_t valid, int64_t len) {
  float mx16[16];
  std::fill(mx16, mx16 + 16, -INFINITY);
  int64_t j = 0;
  for (; j + 16 <= valid; j += 16)
    for (int k = 0; k < 16; ++k) mx16[k] = std::max(mx16[k], row[j + k]);
  for (int k = 0; j < valid; ++j, ++k) mx16[k] = std::max(mx16[k], row[j]);
  const float mx = *std::max_element(mx16, mx16 + 16);
  float sum16[16] = {};
  j = 0;
  for (; j + 16 <= valid; j += 16)
    for (int k = 0; k < 16; ++k) {
      row[j + k] = exp_nonpositive(row[j + k] - mx);
      sum16[k] += row[j + k];
    }
  for (int k = 0; j < valid; ++j, ++k) {
    row[j] = exp_nonpositive(row[j] - mx);
    sum16[k] += row[j];
  }
  double sum = 0.0;
  for (int k = 0; k < 16; ++k) sum += sum16[k];
  const float inv = float(1.0 / sum);
  for (j = 0; j < valid; ++j) row[j] *= inv;
  for (j = valid; j < len; ++j) row[j] = 0.0f;
}
KVB_SIMD_VARIANTS(void, masked_softmax, (float* row, int64_t valid, int64_t len), (row, valid, len))

}  // namespace

void swiglu(const float* gate, const float* up, float* out, int64_t n, SimdLevel level) {
  constexpr int64_t kBlock = 1024;
#pragma omp parallel for schedule(static) if (n > 4096)
  for (int64_t i0 = 0; i0 < n; i0 += kBlock)
    swiglu_block_at(level, gate + i0, up + i0, out + i0, std::min(kBlock, n - i0));
}

void masked_softmax(float* row, int64_t valid, int64_t len, SimdLevel level) {
  masked_softmax_at(level, row, valid, len);
}

int64_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

}  // namespace kvb::cpu
