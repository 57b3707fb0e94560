// Rotary position embedding on the device, kvb::rope's counterpart (neox half-split or adjacent
// pairs; angle = float(pos) * inv_freq[i] in float32, inv_freq from rope_inv_freq). See ops.h.
#include "backends/cuda/check.h"
#include "backends/cuda/common.cuh"
#include "backends/cuda/ops.h"

namespace kvb::cuda {
namespace {

constexpr int kThreads = 256;

// One thread per (token, head, pair).
__global__ void rope_kernel(float* x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t stride,
                            const int32_t* pos, const float* inv_freq, bool neox) {
  const int64_t half = head_dim / 2, total = n * n_heads * half;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = k % half, h = (k / half) % n_heads, t = k / (half * n_heads);
    const float angle = float(pos[t]) * inv_freq[i];
    const float cs = cosf(angle), sn = sinf(angle);
    float* v = x + t * stride + h * head_dim;
    const int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    const float x0 = v[a], x1 = v[b];
    v[a] = x0 * cs - x1 * sn;
    v[b] = x0 * sn + x1 * cs;
  }
}

}  // namespace

void rope(float* x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t stride, const int32_t* pos,
          const float* inv_freq, bool neox, cudaStream_t stream) {
  const int64_t total = n * n_heads * (head_dim / 2);
  if (total <= 0) return;
  rope_kernel<<<detail::grid_for(total, kThreads), kThreads, 0, stream>>>(x, n, n_heads, head_dim, stride, pos,
                                                                          inv_freq, neox);
  KVB_CUDA_CHECK_LAUNCH("rope_kernel");
}

}  // namespace kvb::cuda
