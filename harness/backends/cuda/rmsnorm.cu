// RMSNorm on the device, cpu::rmsnorm's counterpart: y = x / sqrt(mean(x^2) + eps) * w per row,
// the sum of squares accumulated in double. One block per row. See ops.h.
#include "backends/cuda/check.h"
#include "backends/cuda/common.cuh"
#include "backends/cuda/ops.h"

namespace kvb::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void rmsnorm_kernel(const float* x, const float* w, float* y, int64_t dim, int64_t stride, float eps) {
  const float* xi = x + blockIdx.x * stride;
  float* yi = y + blockIdx.x * stride;
  double ss = 0.0;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) ss += double(xi[j]) * xi[j];
  __shared__ double partial[kThreads];
  partial[threadIdx.x] = ss;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  const float inv = 1.0f / sqrtf(float(partial[0] / double(dim)) + eps);
  // Every thread has read its own elements of xi above and reads each again before writing it,
  // so y == x (in place) is safe.
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) yi[j] = xi[j] * inv * w[j];
}

}  // namespace

void rmsnorm(const float* x, const float* w, float* y, int64_t n, int64_t dim, int64_t stride, float eps,
             cudaStream_t stream) {
  if (n <= 0) return;
  rmsnorm_kernel<<<unsigned(n), kThreads, 0, stream>>>(x, w, y, dim, stride, eps);
  KVB_CUDA_CHECK_LAUNCH("rmsnorm_kernel");
}

}  // namespace kvb::cuda
