// Embedding gather on the device: out[i, :] = table[tokens[i], :] as float32 (the CPU engine's
// tok_embd.dequantize_rows per token). See ops.h.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backends/cuda/check.h"
#include "backends/cuda/common.cuh"
#include "backends/cuda/ops.h"

namespace kvb::cuda {
namespace {

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }

// grid.x = token, threads over the row
template <class T>
__global__ void embedding_kernel(const T* table, int64_t V, int64_t E, const int32_t* tokens, float* out) {
  const int64_t i = blockIdx.x;
  const int32_t t = tokens[i];
  const bool ok = t >= 0 && t < V;
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x)
    out[i * E + e] = ok ? to_float(table[int64_t(t) * E + e]) : __int_as_float(0x7fc00000);  // NaN
}

}  // namespace

void embedding(const DeviceWeight& table, const int32_t* tokens, int64_t n, float* out, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t V = table.rows, E = table.cols;
  const unsigned grid = unsigned(n);
  constexpr int kThreads = 256;
  switch (table.type) {
    case WeightType::F32:
      embedding_kernel<float><<<grid, kThreads, 0, stream>>>(table.data.as<float>(), V, E, tokens, out);
      break;
    case WeightType::BF16:
      embedding_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(table.data.as<__nv_bfloat16>(), V, E, tokens, out);
      break;
    case WeightType::F16:
      embedding_kernel<__half><<<grid, kThreads, 0, stream>>>(table.data.as<__half>(), V, E, tokens, out);
      break;
  }
  KVB_CUDA_CHECK_LAUNCH("embedding_kernel");
}

}  // namespace kvb::cuda
