// CPU reference math (float32): OpenBLAS GEMM for projections, OpenMP loops for the element-wise
// ops. Attention over the KV cache is in attention.h. Every CUDA op is tested against these.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backends/cpu/int8_gemm.h"
#include "core/simd.h"
#include "core/tensor.h"
#include "model/config.h"
#include "model/rope.h"
#include "model/weight_matrix.h"

namespace kvb::cpu {

// y[n, out] = x[n, in] · W[out, in]^T (+ bias[out] if given). Float32 weights go straight to
// OpenBLAS; stored types are dequantized row block by row block (few tokens) or into a scratch
// matrix for one GEMM (many tokens).
void linear(const float* x, int64_t n, const WeightMatrix& w, float* y, const Tensor* bias = nullptr);

// The input x[n, cols] of one or more linears (q/k/v share one, gate/up another) and the matmul mode.
// With MatmulMode::Int8 it is quantized once, by the first product that takes the integer path
// (a Q4_0 / Q4_1 / Q8_0 weight, any number of tokens); everything else goes to linear() above.
class LinearInput {
 public:
  LinearInput(const float* x, int64_t n, int64_t cols, MatmulMode mode) : x_(x), n_(n), cols_(cols), mode_(mode) {}
  const float* data() const { return x_; }
  int64_t tokens() const { return n_; }
  int64_t cols() const { return cols_; }
  MatmulMode mode() const { return mode_; }
  const Q8Activations& quantized();

 private:
  const float* x_;
  int64_t n_, cols_;
  MatmulMode mode_;
  bool quantized_ = false;
  Q8Activations q8_;
};
void linear(LinearInput& in, const WeightMatrix& w, float* y, const Tensor* bias = nullptr);
// linear() for rows of independent sequences (a decode batch), each row getting exactly the bits it
// gets as a one-token linear(): the int8 path (exact integer sums, per-row activation scales) takes
// the rows together; every other path (SGEMM vs SGEMV, fused dots vs dequantized GEMM) runs row by row.
void linear_rows_as_alone(LinearInput& in, const WeightMatrix& w, float* y, const Tensor* bias = nullptr);

// sum_i a[i] b[i] in a fixed order (16 running sums, then a tree): the same bits at every SIMD level.
float dot(const float* a, const float* b, int64_t n, SimdLevel level = simd_level());
// out[r] = scale * q . K[j] + (bias ? bias[j] : 0) for r < n, j = idx ? idx[r] : r: one query against
// gathered key rows (the selectors' and subset attention's scoring), each row exactly dot()'s value.
//   q: [D]; K: [T, D]; idx: [n] rows of K or null (rows 0..n-1); bias: [T] or null; out: [n]
void dot_rows(const float* q, const float* K, const int32_t* idx, int64_t n, int64_t D, float scale,
              const float* bias, float* out, SimdLevel level = simd_level());

// x[i] += y[i] for i < n (the residual adds; threads for long chunks).
void add_in_place(float* x, const float* y, int64_t n);

// exp(x) for softmax arguments (x <= 0 after subtracting the row maximum): 2^n * e^r with
// n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2], e^r from Cephes' degree-7 polynomial.
// Relative error below 2e-7 (tests/test_cpu_ops.cpp checks it against std::exp). Only fma, mul, add
// and integer ops, so that the softmax loops in ops.cpp vectorize: every element gets the same value
// whether it lands in a vector lane or in the scalar tail, on any build. Below -87 (and for -inf,
// a masked score) the result is 0.
inline float exp_nonpositive(float x) {
  const float xc = std::max(x, -87.0f);
  const float n = std::fma(xc, 1.44269504088896341f, 12582912.0f) - 12582912.0f;  // round to nearest
  float r = std::fma(n, -0.693359375f, xc);
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p * r, r, r + 1.0f);
  const int32_t bits = (int32_t(n) + 127) << 23;  // n in [-126, 0]: a normal power of two
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x < -87.0f ? 0.0f : p * scale;
}


// y[n, dim] = x / rms(x) * w, rows of length dim with row stride `stride` (in and out).
void rmsnorm(const float* x, const float* w, float* y, int64_t n, int64_t dim, int64_t stride, float eps);

// out[i] = silu(gate[i]) * up[i]. Every SIMD level gives the same bits (element-wise).
void swiglu(const float* gate, const float* up, float* out, int64_t n, SimdLevel level = simd_level());

// Softmax over row[0, valid) with row[valid, len) zeroed. The max and the sum run in 16 partial
// results in a fixed order: every SIMD level and build gives the same bits.
void masked_softmax(float* row, int64_t valid, int64_t len, SimdLevel level = simd_level());

int64_t argmax(const float* x, int64_t n);

}  // namespace kvb::cpu
