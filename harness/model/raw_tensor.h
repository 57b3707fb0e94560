// A tensor as stored in a checkpoint file (any dtype), and its conversion to float32.
// Block formats follow ggml's definitions: Q8_0, Q4_0, Q4_1 (32-element blocks),
// Q4_K and Q6_K (256-element super-blocks).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/simd.h"

#include "core/tensor.h"

namespace kvb {

enum class DType { F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K };

const char* dtype_name(DType t);
// Elements per block and bytes per block (1 and sizeof(element) for plain types).
int64_t dtype_block_elems(DType t);
int64_t dtype_block_bytes(DType t);
// Bytes needed for `n` elements; throws if n is not a whole number of blocks.
size_t dtype_nbytes(DType t, int64_t n, const std::string& what);

struct RawTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // outermost first: a linear weight is [out, in]
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

// Dequantizes / converts `n` elements of `src` (stored as `t`) into `dst`. The block formats' loops
// run at `level` (core/simd.h); every level gives the same bits.
void convert_to_f32(DType t, const uint8_t* src, float* dst, int64_t n, cpu::SimdLevel level = cpu::simd_level());
Tensor to_f32(const RawTensor& t);

float fp16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

}  // namespace kvb
