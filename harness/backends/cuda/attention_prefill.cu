// Prefill attention on the device (cpu::attention with n > 1): causal, GQA, per-entry logit bias,
// tiled with an online softmax. Block = (32 queries, one query head); each warp owns 8 query rows;
// key / value tiles of 32 entries go through shared memory; for the scores lane = key, for the
// output lane = channel. Nothing of size T x T is stored. When the attention mass is asked for, a
// second kernel recomputes the scores of the last W queries against each key tile and adds
// exp(s - lse) (lse = the query's log-sum-exp from the first kernel) per key: what snapkv, h2o and
// tova read. See ops.h; tested by CudaOps.Prefill*.
#include <algorithm>
#include <cmath>

#include "backends/cuda/check.h"
#include "backends/cuda/common.cuh"
#include "backends/cuda/ops.h"
#include "core/error.h"

namespace kvb::cuda {
namespace {

using detail::kFullMask;

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kBQ = 32;               // queries per block
constexpr int kBK = 32;               // keys per tile (lane = key)
constexpr int kRows = kBQ / kWarps;   // query rows per warp

// Shared memory: Qs [kBQ, D], Ks [kBK, D + 1] (padded: lane j reads row j conflict-free), Vs [kBK, D].
template <int DMAX, bool KIVI>
__global__ void __launch_bounds__(kThreads)
    prefill_kernel(const float* __restrict__ q, int64_t n, int64_t q_stride, KVLayerView kv, int group, float scale,
                   float* __restrict__ out, int64_t out_stride, float* __restrict__ lse) {
  constexpr int EPL = DMAX / 32;
  extern __shared__ float smem[];
  const int D = kv.head_dim, DP = D + 1;
  float* Qs = smem;
  float* Ks = Qs + kBQ * D;
  float* Vs = Ks + kBK * DP;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int qh = blockIdx.y, g = qh / group;
  const DeviceHeadMeta h = kv.heads[g];
  const int64_t past = int64_t(h.length) - n;  // entries before the first new token
  const int64_t q0 = int64_t(blockIdx.x) * kBQ;
  const int rows = int(min(int64_t(kBQ), n - q0));

  for (int t = threadIdx.x; t < kBQ * D; t += kThreads) {
    const int r = t / D, d = t % D;
    Qs[t] = r < rows ? q[(q0 + r) * q_stride + int64_t(qh) * D + d] : 0.0f;
  }
  float m[kRows], l[kRows], acc[kRows][EPL];
#pragma unroll
  for (int rr = 0; rr < kRows; ++rr) {
    m[rr] = -INFINITY;
    l[rr] = 0.0f;
#pragma unroll
    for (int i = 0; i < EPL; ++i) acc[rr][i] = 0.0f;
  }

  const int64_t kend = past + q0 + rows;  // the block's last query sees entries [0, kend)
  for (int64_t k0 = 0; k0 < kend; k0 += kBK) {
    const int nk = int(min(int64_t(kBK), kend - k0));
    __syncthreads();  // the previous tile is consumed (and Qs is written, first time round)
    for (int t = threadIdx.x; t < kBK * D; t += kThreads) {
      const int jj = t / D, d = t % D;
      const bool in = jj < nk;
      Ks[jj * DP + d] = in ? detail::load_key<KIVI>(kv, h, k0 + jj, d) : 0.0f;
      Vs[jj * D + d] = in ? detail::load_value<KIVI>(kv, h, k0 + jj, d) : 0.0f;
    }
    __syncthreads();

    const int64_t j = k0 + lane;
    const float bj = lane < nk ? detail::entry_bias(kv, h, j) : 0.0f;
    float s[kRows];
#pragma unroll
    for (int rr = 0; rr < kRows; ++rr) s[rr] = 0.0f;
    const float* krow = Ks + lane * DP;
    const float* qrows = Qs + warp * kRows * D;
    for (int d = 0; d < D; ++d) {
      const float kd = krow[d];
#pragma unroll
      for (int rr = 0; rr < kRows; ++rr) s[rr] += qrows[rr * D + d] * kd;
    }
    float p[kRows];
#pragma unroll
    for (int rr = 0; rr < kRows; ++rr) {
      const int r = warp * kRows + rr;
      const bool valid = r < rows && lane < nk && j <= past + q0 + r;  // causal: query r sees [0, past + q0 + r]
      const float sv = valid ? s[rr] * scale + bj : -INFINITY;
      p[rr] = 0.0f;
      const float mnew = fmaxf(m[rr], detail::warp_max(sv));
      if (mnew == -INFINITY) continue;  // warp-uniform: this row sees nothing yet
      const float corr = m[rr] == -INFINITY ? 0.0f : expf(m[rr] - mnew);
      p[rr] = valid ? expf(sv - mnew) : 0.0f;
      l[rr] = l[rr] * corr + detail::warp_sum(p[rr]);
#pragma unroll
      for (int i = 0; i < EPL; ++i) acc[rr][i] *= corr;
      m[rr] = mnew;
    }
    for (int jj = 0; jj < nk; ++jj) {
      float v[EPL];
#pragma unroll
      for (int i = 0; i < EPL; ++i) {
        const int d = lane + 32 * i;
        v[i] = d < D ? Vs[jj * D + d] : 0.0f;
      }
#pragma unroll
      for (int rr = 0; rr < kRows; ++rr) {
        const float pj = __shfl_sync(kFullMask, p[rr], jj);
#pragma unroll
        for (int i = 0; i < EPL; ++i) acc[rr][i] += pj * v[i];
      }
    }
  }

#pragma unroll
  for (int rr = 0; rr < kRows; ++rr) {
    const int r = warp * kRows + rr;
    if (r >= rows) continue;
    const float inv = l[rr] > 0.0f ? 1.0f / l[rr] : 0.0f;
#pragma unroll
    for (int i = 0; i < EPL; ++i) {
      const int d = lane + 32 * i;
      if (d < D) out[(q0 + r) * out_stride + int64_t(qh) * D + d] = acc[rr][i] * inv;
    }
    if (lse && lane == 0) lse[int64_t(qh) * n + q0 + r] = m[rr] + logf(l[rr]);
  }
}

// Attention mass: block = (tile of kBK keys, query head); lane = key, warps take query rows in
// turn; mass[qh, j] += sum over queries i in [first, n) that see j of exp(s_ij - lse_i).
// Shared memory: Ks [kBK, D + 1], Qs [kBQ, D].
template <bool KIVI>
__global__ void __launch_bounds__(kThreads)
    prefill_mass_kernel(const float* __restrict__ q, int64_t n, int64_t q_stride, KVLayerView kv, int group,
                        float scale, const float* __restrict__ lse, int64_t first, float* __restrict__ mass,
                        int64_t mass_stride) {
  extern __shared__ float smem[];
  const int D = kv.head_dim, DP = D + 1;
  float* Ks = smem;
  float* Qs = Ks + kBK * DP;
  __shared__ float part[kWarps][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int qh = blockIdx.y, g = qh / group;
  const DeviceHeadMeta h = kv.heads[g];
  const int64_t T = h.length, past = T - n, k0 = int64_t(blockIdx.x) * kBK;
  if (k0 >= T) return;  // whole block: this head is shorter than the longest
  const int nk = int(min(int64_t(kBK), T - k0));
  for (int t = threadIdx.x; t < kBK * D; t += kThreads) {
    const int jj = t / D, d = t % D;
    Ks[jj * DP + d] = jj < nk ? detail::load_key<KIVI>(kv, h, k0 + jj, d) : 0.0f;
  }
  const int64_t j = k0 + lane;
  const float bj = lane < nk ? detail::entry_bias(kv, h, j) : 0.0f;
  float msum = 0.0f;
  // Queries that can see any key of the tile: cache index past + i >= k0.
  for (int64_t i0 = max(first, k0 - past); i0 < n; i0 += kBQ) {
    const int nq = int(min(int64_t(kBQ), n - i0));
    __syncthreads();  // Ks written / previous Qs consumed
    for (int t = threadIdx.x; t < kBQ * D; t += kThreads) {
      const int r = t / D, d = t % D;
      Qs[t] = r < nq ? q[(i0 + r) * q_stride + int64_t(qh) * D + d] : 0.0f;
    }
    __syncthreads();
    for (int r = warp; r < nq; r += kWarps) {
      const int64_t i = i0 + r;
      float s = 0.0f;
      for (int d = 0; d < D; ++d) s += Qs[r * D + d] * Ks[lane * DP + d];
      if (lane < nk && j <= past + i) msum += expf(s * scale + bj - lse[int64_t(qh) * n + i]);
    }
  }
  part[warp][lane] = msum;
  __syncthreads();
  if (warp == 0 && lane < nk) {
    float total = 0.0f;
    for (int w = 0; w < kWarps; ++w) total += part[w][lane];
    mass[int64_t(qh) * mass_stride + j] += total;
  }
}

template <class Kernel>
void allow_smem(Kernel kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    KVB_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

template <int DMAX, bool KIVI>
void launch_prefill(const float* q, int64_t n, int64_t q_stride, const KVLayerView& kv, int n_heads, float scale,
                    float* out, int64_t out_stride, float* lse, cudaStream_t stream) {
  const int D = kv.head_dim;
  const size_t smem = size_t(kBQ * D + kBK * (D + 1) + kBK * D) * sizeof(float);
  allow_smem(prefill_kernel<DMAX, KIVI>, smem);
  const dim3 grid{unsigned((n + kBQ - 1) / kBQ), unsigned(n_heads)};
  prefill_kernel<DMAX, KIVI><<<grid, kThreads, smem, stream>>>(q, n, q_stride, kv, n_heads / kv.n_kv_heads, scale,
                                                               out, out_stride, lse);
  KVB_CUDA_CHECK_LAUNCH("prefill_kernel");
}

template <bool KIVI>
void launch_mass(const float* q, int64_t n, int64_t q_stride, const KVLayerView& kv, int n_heads, float scale,
                 const float* lse, int64_t first, float* mass, int64_t mass_stride, cudaStream_t stream) {
  const int D = kv.head_dim;
  const size_t smem = size_t(kBK * (D + 1) + kBQ * D) * sizeof(float);
  allow_smem(prefill_mass_kernel<KIVI>, smem);
  const dim3 grid{unsigned((kv.max_length + kBK - 1) / kBK), unsigned(n_heads)};
  prefill_mass_kernel<KIVI><<<grid, kThreads, smem, stream>>>(q, n, q_stride, kv, n_heads / kv.n_kv_heads, scale, lse,
                                                              first, mass, mass_stride);
  KVB_CUDA_CHECK_LAUNCH("prefill_mass_kernel");
}

}  // namespace

void prefill_attention(const float* q, int64_t n, int64_t q_stride, const KVLayerView& kv, int n_heads, float scale,
                       float* out, int64_t out_stride, float* mass, int64_t mass_stride, int64_t window, Workspace& ws,
                       cudaStream_t stream) {
  const int Hkv = kv.n_kv_heads, D = kv.head_dim;
  if (n <= 0) return;
  KVB_CHECK(Hkv > 0 && n_heads > 0 && n_heads % Hkv == 0, "cuda prefill attention: {} query heads over {} KV heads",
            n_heads, Hkv);
  KVB_CHECK(D >= 1 && D <= 256, "cuda prefill attention: head dim {} (1..256 supported)", D);
  KVB_CHECK(kv.min_length >= n, "cuda prefill attention: {} new queries but a KV head holds only {} entries", n,
            kv.min_length);
  KVB_CHECK(q_stride >= int64_t(n_heads) * D && out_stride >= int64_t(n_heads) * D,
            "cuda prefill attention: row strides {} / {} below Hq*D = {}", q_stride, out_stride, int64_t(n_heads) * D);
  KVB_CHECK(kv.kivi_bits == 0 || kv.kivi_bits == 2 || kv.kivi_bits == 4 || kv.kivi_bits == 8,
            "cuda prefill attention: KIVI with {} bits (2, 4 or 8 supported)", kv.kivi_bits);
  KVB_CHECK((n + kBQ - 1) / kBQ < (int64_t(1) << 31), "cuda prefill attention: {} queries is too many", n);
  float* lse = nullptr;
  if (mass) {
    KVB_CHECK(window >= 1, "cuda prefill attention: attention-mass window {} (>= 1)", window);
    KVB_CHECK(mass_stride >= kv.max_length, "cuda prefill attention: mass row stride {} below the longest head ({})",
              mass_stride, kv.max_length);
    lse = static_cast<float*>(ws.get(size_t(n_heads) * size_t(n) * sizeof(float)));
  }
  const bool kivi = kv.kivi_bits > 0;
  if (D <= 64) {
    if (kivi) launch_prefill<64, true>(q, n, q_stride, kv, n_heads, scale, out, out_stride, lse, stream);
    else launch_prefill<64, false>(q, n, q_stride, kv, n_heads, scale, out, out_stride, lse, stream);
  } else if (D <= 128) {
    if (kivi) launch_prefill<128, true>(q, n, q_stride, kv, n_heads, scale, out, out_stride, lse, stream);
    else launch_prefill<128, false>(q, n, q_stride, kv, n_heads, scale, out, out_stride, lse, stream);
  } else {
    if (kivi) launch_prefill<256, true>(q, n, q_stride, kv, n_heads, scale, out, out_stride, lse, stream);
    else launch_prefill<256, false>(q, n, q_stride, kv, n_heads, scale, out, out_stride, lse, stream);
  }
  if (!mass) return;
  const int64_t first = n - std::min(window, n);
  if (kivi) launch_mass<true>(q, n, q_stride, kv, n_heads, scale, lse, first, mass, mass_stride, stream);
  else launch_mass<false>(q, n, q_stride, kv, n_heads, scale, lse, first, mass, mass_stride, stream);
}

}  // namespace kvb::cuda
