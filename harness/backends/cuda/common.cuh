// Device helpers shared by the CUDA kernels: warp reductions, grid sizing, and the loaders that
// read one element of a cached key / value, fp32 or KIVI-packed (layout in kv_view.h).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/kv_view.h"

namespace kvb::cuda::detail {

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}

// Blocks for a grid-stride loop over n elements (capped; the loop covers the rest).
inline unsigned grid_for(int64_t n, int threads, int64_t cap = 65535) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > cap) b = cap;
  return unsigned(b);
}

// Packed code of element i (= entry * D + channel) of a head whose codes start at `codes`.
__device__ __forceinline__ uint32_t kivi_code(const uint8_t* codes, int64_t i, int bits) {
  const int64_t bit = i * bits;
  return (uint32_t(codes[bit >> 3]) >> (bit & 7)) & ((1u << bits) - 1u);
}

// Key element (entry j, channel d) of head h. KIVI = false compiles the packed branch out.
template <bool KIVI>
__device__ __forceinline__ float load_key(const KVLayerView& kv, const DeviceHeadMeta& h, int64_t j, int d) {
  const int D = kv.head_dim;
  if (KIVI && j < h.n_quant) {
    const int64_t s = h.kscale_offset + (j / kv.kivi_group) * D + d;
    return kv.k_min[s] + kv.k_scale[s] * float(kivi_code(kv.k_codes + h.code_offset, j * D + d, kv.kivi_bits));
  }
  return kv.k[(h.row_offset + j - h.n_quant) * D + d];
}

template <bool KIVI>
__device__ __forceinline__ float load_value(const KVLayerView& kv, const DeviceHeadMeta& h, int64_t j, int d) {
  const int D = kv.head_dim;
  if (KIVI && j < h.n_quant) {
    const int n_vgroups = (D + kv.kivi_vgroup - 1) / kv.kivi_vgroup;
    const int64_t s = h.vscale_offset + j * n_vgroups + d / kv.kivi_vgroup;
    return kv.v_min[s] + kv.v_scale[s] * float(kivi_code(kv.v_codes + h.code_offset, j * D + d, kv.kivi_bits));
  }
  return kv.v[(h.row_offset + j - h.n_quant) * D + d];
}

__device__ __forceinline__ float entry_bias(const KVLayerView& kv, const DeviceHeadMeta& h, int64_t j) {
  return h.has_bias ? kv.bias[h.entry_offset + j] : 0.0f;
}

}  // namespace kvb::cuda::detail
