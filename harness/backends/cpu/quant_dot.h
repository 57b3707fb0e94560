// Dot products of float32 activations with rows stored in ggml block formats, without
// materialising the dequantized row: for Q4_1, sum_j (d*q_j + m) x_j = d * sum_j q_j x_j + m * sum_j x_j.
// Used by cpu::linear for decode steps; tested against dequantize-then-dot in tests/test_cpu_ops.cpp.
#pragma once
#include <cstdint>
#include <vector>

#include "model/raw_tensor.h"

namespace kvb::cpu {

// True when a fused kernel exists for `t` (otherwise callers dequantize rows first).
bool has_fused_dot(DType t);
// y[r] = row_r · x for r in [0, n_rows); rows are contiguous, `row_bytes` apart, `cols` elements each.
void fused_dot_rows(DType t, const uint8_t* rows, int64_t n_rows, size_t row_bytes, int64_t cols, const float* x,
                    float* y);

}  // namespace kvb::cpu

namespace kvb::cpu {

// llama.cpp-compatible numerics (RunnerOptions::llamacpp_numerics): activations are quantized to
// 8-bit blocks of 32 before a dot with a block-quantized row, as ggml's CPU backend does (Q8_0 for
// Q8_0/Q4_0 rows, Q8_1 — with a block sum — for Q4_1 rows), and the dot is an integer sum per block.
struct Q8Activation {
  std::vector<int8_t> q;  // [cols]
  std::vector<float> d;   // [cols / 32] block scales, rounded to fp16 as ggml stores them
  std::vector<float> s;   // [cols / 32] d * sum(q), rounded to fp16 (Q8_1)
};
void quantize_activation_q8(const float* x, int64_t cols, Q8Activation& out);
bool has_q8_dot(DType t);
void q8_dot_rows(DType t, const uint8_t* rows, int64_t n_rows, size_t row_bytes, int64_t cols, const Q8Activation& x,
                 float* y);
// Rounds to the nearest fp16 value (ties to even), returned as float.
float round_to_fp16(float x);

}  // namespace kvb::cpu
