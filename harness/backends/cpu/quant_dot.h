// Dot products of float32 activations with rows stored in ggml block formats, without
// materialising the dequantized row: for Q4_1, sum_j (d*q_j + m) x_j = d * sum_j q_j x_j + m * sum_j x_j.
// Used by cpu::linear for decode steps; tested against dequantize-then-dot in tests/test_cpu_ops.cpp.
// Kernels: AVX2 (from SimdLevel::Avx2 up) or portable; they sum in different orders (within 1e-5 of
// the sum of |products| of each other, as the tests check), so their last bits may differ.
#pragma once
#include <cstdint>

#include "core/simd.h"
#include "model/raw_tensor.h"

namespace kvb::cpu {

// True when a fused kernel exists for `t` (otherwise callers dequantize rows first).
bool has_fused_dot(DType t);
// y[r] = row_r · x for r in [0, n_rows); rows are contiguous, `row_bytes` apart, `cols` elements each.
void fused_dot_rows(DType t, const uint8_t* rows, int64_t n_rows, size_t row_bytes, int64_t cols, const float* x,
                    float* y, SimdLevel level = simd_level());

}  // namespace kvb::cpu

