// Integer matrix product (opt-in, `--matmul int8`): activations quantized per 32-element
// block to int8 (a scale d and the block's float sum s, like ggml's q8_1), weights kept in their stored
// Q4_0 / Q4_1 / Q8_0 blocks, block dot products in int32 (AVX-512 VNNI vpdpbusd, AVX2 vpmaddubsw, or
// a portable loop, all with the same bits; chosen at run time). Tests: kvb_tests
// --gtest_filter='Int8Gemm*'; speed: docs/performance.md.
//
// For one output y[t, r] = sum_j W[r, j] x[t, j] and one 32-element block b (weight quants q_w and
// scale d_w, min m_w for Q4_1; activations x_j ~ d_a q_a,j with q_a = round(x_j / d_a),
// d_a = max_j |x_j| / 127, and s_a = d_a sum_j q_a,j):
//   Q4_0 (W = d_w (q_w - 8)):   isum = sum_j (q_w,j - 8) q_a,j        term = d_w d_a isum
//   Q4_1 (W = d_w q_w + m_w):   isum = sum_j q_w,j q_a,j              term = d_w d_a isum + m_w s_a
//   Q8_0 (W = d_w q_w):         isum = sum_j q_w,j q_a,j              term = d_w d_a isum
// accumulated over blocks in float32 in block order, each step one fused multiply-add:
//   acc = fma(float(isum), d_w * d_a, acc); acc = fma(m_w, s_a, acc)  (Q4_1's second step only).
// So each term is exactly sum_j W_j (d_a q_a,j): the product with the dequantized activations. (Using
// the exact float sum of x for s_a instead would leave the error on d_w q_w, which is never negative,
// and measured 2.5x larger on SmolLM2; ggml's q8_1 makes the same choice.) Integer sums are exact, so
// every kernel and every thread count gives the same bits. The only approximation is the activation
// rounding, |x_j - d_a q_a,j| <= d_a / 2, hence per output
//   |y_int8 - y_exact| <= sum_j |W_j| d_a / 2  (+ float32 accumulation rounding).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/weight_matrix.h"

namespace kvb::cpu {

// How cpu::linear multiplies stored (quantized) weights by activations. F32 (the reference, the
// default): float32 arithmetic on the dequantized weights (SGEMM for prefill chunks, fused dot
// kernels for decode steps). Int8: this file's integer path for Q4_0 / Q4_1 / Q8_0 weights, prefill
// and decode alike, as llama.cpp computes them; other weight types stay on F32.
enum class MatmulMode { F32, Int8 };

std::string_view matmul_mode_name(MatmulMode m);  // "f32" | "int8"
// "f32" | "int8"; anything else throws kvb::Error naming the accepted values.
MatmulMode parse_matmul_mode(std::string_view s);

// Weight types the integer path handles.
bool int8_gemm_supports(DType t);

// The integer kernels, chosen at run time from the CPU's features (each is compiled for its
// instructions whatever the build's -march): AVX-512 VNNI, AVX-VNNI (256-bit vpdpbusd, on CPUs that
// have it without AVX-512), AVX2 (+FMA; vpmaddubsw as llama.cpp's AVX2 path), or the portable loop. All give the same bits. Auto: the environment variable
// KVB_INT8_KERNEL (portable | avx2 | avx_vnni | avx512_vnni) when set, else the fastest this CPU runs.
enum class Int8Kernel { Auto, Portable, Avx2, AvxVnni, Avx512Vnni };
// True when this CPU runs AVX-512 F/BW/VL/DQ + VNNI / AVX2 + FMA / AVX-VNNI (checked at run time).
bool cpu_has_avx512_vnni();
bool cpu_has_avx2_fma();
bool cpu_has_avx_vnni();  // the 256-bit VEX vpdpbusd (Alder Lake, Sapphire Rapids, Zen 5, ...)
bool int8_kernel_runs_here(Int8Kernel k);
// Auto resolved as above; kvb::Error for an unknown KVB_INT8_KERNEL or a kernel this CPU cannot run.
Int8Kernel resolve_int8_kernel(Int8Kernel k);
std::string_view int8_kernel_name(Int8Kernel k);  // "avx512_vnni" | "avx_vnni" | "avx2" | "portable" | "auto"
// The kernel Int8Kernel::Auto runs: "avx512_vnni", "avx_vnni", "avx2" or "portable".
std::string_view int8_kernel_name();
// "f32" or "int8 (avx512_vnni)" / "int8 (avx2)" / "int8 (portable)": what a run records in its provenance.
std::string matmul_description(MatmulMode m);

// x[n, cols] quantized per 32-element block (cols a multiple of 32). nb = cols / 32.
struct Q8Activations {
  int64_t n = 0, cols = 0;
  std::vector<int8_t> q;      // [n, cols] round(x / d), in -127..127
  std::vector<float> d;       // [n, nb] scale: max |x| of the block / 127 (0 for an all-zero block)
  std::vector<int32_t> qsum;  // [n, nb] sum of the block's q (the unsigned-offset correction)
  std::vector<float> s;       // [n, nb] d * float(qsum): the sum of the dequantized block (Q4_1's min term)
};
void quantize_q8(const float* x, int64_t n, int64_t cols, Q8Activations& out, Int8Kernel kernel = Int8Kernel::Auto);

// y[n, out] = a . W[out, in]^T for W of a supported type (a.cols == in); no bias. Auto picks the kernel
// as above; a kernel the CPU cannot run throws. The VNNI and AVX2 kernels repack W once
// (kept with the WeightMatrix: 0.75 bytes per weight for Q4_1 with its scales and mins, 0.625 for
// Q4_0, 1.125 for Q8_0).
void int8_linear(const Q8Activations& a, const WeightMatrix& w, float* y, Int8Kernel kernel = Int8Kernel::Auto);

// Attention scores in int8 (the int8 mode's prefill Q.K^T, cpu::attention): one KV head's keys [T, D]
// quantized per 32-element block like the activations above (d = max |k| / 127, q = round(k / d)) and,
// on a VNNI CPU, packed as the kernel's Q8_0 rows (keys play the weight rows); the queries are a
// Q8Activations of the scaled queries [n, Hq * D], a head's columns starting at block `block0`. For a
// query i and key j, S_ij = sum_b fma(float(sum_e q_ie k_je), d_k d_q, .) over the head's blocks: the
// product of the dequantized vectors, each element off by at most half its block's step. Same bits from
// the VNNI kernel and the portable loop.
struct Int8Keys {
  int64_t keys = 0, head_dim = 0;
  Q8Activations q8;                    // [keys, head_dim]
  std::shared_ptr<const void> packed;  // the VNNI layout (null without VNNI)
  void quantize(const float* K, int64_t T, int64_t D);
};
// S[m, C] (row stride C) for queries i0 .. i0+m-1 of q against keys 0 .. C-1.
void int8_scores(const Q8Activations& q, int64_t i0, int64_t m, int64_t block0, const Int8Keys& k, int64_t C,
                 float* S);

}  // namespace kvb::cpu
