// Greedy argmax on the device (cpu::argmax's counterpart): one block per row, ties to the smallest
// index, NaN never chosen. See ops.h.
#include "backends/cuda/check.h"
#include "backends/cuda/common.cuh"
#include "backends/cuda/ops.h"

namespace kvb::cuda {
namespace {

constexpr int kThreads = 256;

// Is (v, i) better than (bv, bi)? Larger value, then smaller index; NaN loses to everything.
__device__ __forceinline__ bool better(float v, int64_t i, float bv, int64_t bi) {
  if (v != v) return false;
  if (bv != bv) return true;
  return v > bv || (v == bv && i < bi);
}

__global__ void argmax_kernel(const float* x, int64_t n, int32_t* out) {
  const float* row = x + blockIdx.x * n;
  float bv = -INFINITY;
  int64_t bi = n;  // sentinel: nothing seen
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
    if (bi == n || better(row[j], j, bv, bi)) {
      if (row[j] == row[j]) {
        bv = row[j];
        bi = j;
      }
    }
  __shared__ float sv[kThreads];
  __shared__ int64_t si[kThreads];
  sv[threadIdx.x] = bv;
  si[threadIdx.x] = bi;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) {
      const float ov = sv[threadIdx.x + s];
      const int64_t oi = si[threadIdx.x + s];
      if (oi != n && (si[threadIdx.x] == n || better(ov, oi, sv[threadIdx.x], si[threadIdx.x]))) {
        sv[threadIdx.x] = ov;
        si[threadIdx.x] = oi;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = si[0] == n ? 0 : int32_t(si[0]);
}

}  // namespace

void argmax(const float* x, int64_t n_rows, int64_t n, int32_t* out, cudaStream_t stream) {
  if (n_rows <= 0) return;
  argmax_kernel<<<unsigned(n_rows), kThreads, 0, stream>>>(x, n, out);
  KVB_CUDA_CHECK_LAUNCH("argmax_kernel");
}

}  // namespace kvb::cuda
