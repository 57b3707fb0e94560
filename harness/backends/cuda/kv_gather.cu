// KV compaction on the device: the gather behind DeviceKVCache::keep (KVCache::keep's
// counterpart). One launch per layer: grid.y = KV head, threads over the head's kept rows x D.
// See ops.h; tested by CudaKVCache.KeepMatchesKVCacheKeep.
#include "backends/cuda/check.h"
#include "backends/cuda/common.cuh"
#include "backends/cuda/ops.h"

namespace kvb::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void gather_kv_rows_kernel(const float* __restrict__ src_k, const float* __restrict__ src_v,
                                      const float* __restrict__ src_bias, float* __restrict__ dst_k,
                                      float* __restrict__ dst_v, float* __restrict__ dst_bias,
                                      const GatherHead* __restrict__ heads, const int32_t* __restrict__ idx,
                                      int64_t D) {
  const GatherHead h = heads[blockIdx.y];
  const int64_t total = int64_t(h.count) * D;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = t / D, d = t % D;
    const int64_t s = idx[h.idx_offset + r];
    dst_k[(h.dst_row + r) * D + d] = src_k[(h.src_row + s) * D + d];
    dst_v[(h.dst_row + r) * D + d] = src_v[(h.src_row + s) * D + d];
    if (d == 0 && h.has_bias) dst_bias[h.dst_entry + r] = src_bias[h.src_entry + s];
  }
}

}  // namespace

void gather_kv_rows(const float* src_k, const float* src_v, const float* src_bias, float* dst_k, float* dst_v,
                    float* dst_bias, const GatherHead* heads, int n_heads, const int32_t* idx, int64_t max_count,
                    int64_t head_dim, cudaStream_t stream) {
  if (n_heads <= 0 || max_count <= 0) return;
  const dim3 grid{detail::grid_for(max_count * head_dim, kThreads), unsigned(n_heads)};
  gather_kv_rows_kernel<<<grid, kThreads, 0, stream>>>(src_k, src_v, src_bias, dst_k, dst_v, dst_bias, heads, idx,
                                                        head_dim);
  KVB_CUDA_CHECK_LAUNCH("gather_kv_rows_kernel");
}

}  // namespace kvb::cuda
