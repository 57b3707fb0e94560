// Element-wise CUDA ops: SwiGLU, residual add, bias add, float32 -> bf16/fp16 conversion.
// Counterparts of cpu::swiglu and the loops in Transformer::forward_chunk; see ops.h.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backends/cuda/check.h"
#include "backends/cuda/common.cuh"
#include "backends/cuda/ops.h"

namespace kvb::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void swiglu_kernel(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    x[i] += y[i];
}

__global__ void add_bias_kernel(float* y, const float* bias, int64_t n, int64_t dim) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n * dim; i += int64_t(gridDim.x) * blockDim.x)
    y[i] += bias[i % dim];
}

template <class T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float x) {
  return __float2half_rn(x);
}

template <class T>
__global__ void convert_kernel(const float* src, T* dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = from_float<T>(src[i]);
}

}  // namespace

void swiglu(const float* gate, const float* up, float* out, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  swiglu_kernel<<<detail::grid_for(n, kThreads), kThreads, 0, stream>>>(gate, up, out, n);
  KVB_CUDA_CHECK_LAUNCH("swiglu_kernel");
}

void add(float* x, const float* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  add_kernel<<<detail::grid_for(n, kThreads), kThreads, 0, stream>>>(x, y, n);
  KVB_CUDA_CHECK_LAUNCH("add_kernel");
}

void add_bias(float* y, const float* bias, int64_t n, int64_t dim, cudaStream_t stream) {
  if (n <= 0 || dim <= 0) return;
  add_bias_kernel<<<detail::grid_for(n * dim, kThreads), kThreads, 0, stream>>>(y, bias, n, dim);
  KVB_CUDA_CHECK_LAUNCH("add_bias_kernel");
}

void convert(const float* src, void* dst, WeightType type, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const unsigned grid = detail::grid_for(n, kThreads);
  switch (type) {
    case WeightType::F32:
      convert_kernel<float><<<grid, kThreads, 0, stream>>>(src, static_cast<float*>(dst), n);
      break;
    case WeightType::BF16:
      convert_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(src, static_cast<__nv_bfloat16*>(dst), n);
      break;
    case WeightType::F16:
      convert_kernel<__half><<<grid, kThreads, 0, stream>>>(src, static_cast<__half*>(dst), n);
      break;
  }
  KVB_CUDA_CHECK_LAUNCH("convert_kernel");
}

}  // namespace kvb::cuda
