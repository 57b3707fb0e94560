// Decode attention on the device (cpu::attention with n == 1): split-KV / flash-decoding over
// per-KV-head ragged caches. Kernel 1: block (chunk c, KV head g, query group slice) reduces the
// chunk's entries to (max m, sum l, unnormalised sum of p·v) for each query head of g's group —
// each warp takes tiles of 32 entries (lane = entry for the softmax, lane = channel for the dots),
// the block's warps merge in shared memory. Kernel 2 merges the chunks of each query head by
// log-sum-exp. Optional per-head read sets (quest) and per-entry logit bias; KIVI-packed entries
// are dequantized in registers (common.cuh). See ops.h; tested by CudaOps.Decode* / CudaOps.Kivi*.
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
constexpr int kTile = 32;      // entries per warp tile
constexpr int kMaxGroup = 8;   // query heads per block; larger GQA groups use grid.z

template <int DMAX, bool KIVI>
__global__ void __launch_bounds__(kThreads)
    decode_chunk_kernel(const float* __restrict__ q, KVLayerView kv, ReadSetsView read, int group, float scale,
                        int64_t chunk_len, int n_chunks, float* part_m, float* part_l, float* part_acc) {
  constexpr int EPL = DMAX / 32;  // channels per lane: d = lane + 32 * i
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = blockIdx.y, D = kv.head_dim;
  const DeviceHeadMeta h = kv.heads[g];
  const int qh0 = g * group + int(blockIdx.z) * kMaxGroup;
  const int nq = min(kMaxGroup, group - int(blockIdx.z) * kMaxGroup);
  const int32_t* idx = nullptr;
  int64_t count = h.length;
  if (read.indices) {
    idx = read.indices + read.offsets[g];
    count = read.offsets[g + 1] - read.offsets[g];
  }
  const int64_t c0 = int64_t(blockIdx.x) * chunk_len, c1 = min(count, c0 + chunk_len);

  float qreg[kMaxGroup][EPL], acc[kMaxGroup][EPL], m_run[kMaxGroup], l_run[kMaxGroup];
#pragma unroll
  for (int qi = 0; qi < kMaxGroup; ++qi) {
    m_run[qi] = -INFINITY;
    l_run[qi] = 0.0f;
#pragma unroll
    for (int i = 0; i < EPL; ++i) {
      const int d = lane + 32 * i;
      qreg[qi][i] = (qi < nq && d < D) ? q[int64_t(qh0 + qi) * D + d] : 0.0f;
      acc[qi][i] = 0.0f;
    }
  }

  for (int64_t t0 = c0 + int64_t(warp) * kTile; t0 < c1; t0 += int64_t(kWarps) * kTile) {
    const int ntile = int(min(int64_t(kTile), c1 - t0));
    // Lane e holds the entry index of the tile's e-th entry.
    const int my_j = lane < ntile ? (idx ? idx[t0 + lane] : int(t0 + lane)) : 0;
    float s_lane[kMaxGroup];
#pragma unroll
    for (int qi = 0; qi < kMaxGroup; ++qi) s_lane[qi] = -INFINITY;
    for (int e = 0; e < ntile; ++e) {
      const int j = __shfl_sync(kFullMask, my_j, e);
      float kreg[EPL];
#pragma unroll
      for (int i = 0; i < EPL; ++i) {
        const int d = lane + 32 * i;
        kreg[i] = d < D ? detail::load_key<KIVI>(kv, h, j, d) : 0.0f;
      }
      const float b = detail::entry_bias(kv, h, j);
#pragma unroll
      for (int qi = 0; qi < kMaxGroup; ++qi) {
        if (qi < nq) {
          float p = 0.0f;
#pragma unroll
          for (int i = 0; i < EPL; ++i) p += qreg[qi][i] * kreg[i];
          p = detail::warp_sum(p);
          if (lane == e) s_lane[qi] = p * scale + b;
        }
      }
    }
    float p_lane[kMaxGroup];
#pragma unroll
    for (int qi = 0; qi < kMaxGroup; ++qi) {
      p_lane[qi] = 0.0f;
      if (qi < nq) {
        const float mnew = fmaxf(m_run[qi], detail::warp_max(s_lane[qi]));
        if (mnew == -INFINITY) continue;  // warp-uniform: nothing with weight yet
        const float corr = m_run[qi] == -INFINITY ? 0.0f : expf(m_run[qi] - mnew);
        p_lane[qi] = (lane < ntile && s_lane[qi] != -INFINITY) ? expf(s_lane[qi] - mnew) : 0.0f;
        l_run[qi] = l_run[qi] * corr + detail::warp_sum(p_lane[qi]);
#pragma unroll
        for (int i = 0; i < EPL; ++i) acc[qi][i] *= corr;
        m_run[qi] = mnew;
      }
    }
    for (int e = 0; e < ntile; ++e) {
      const int j = __shfl_sync(kFullMask, my_j, e);
      float vreg[EPL];
#pragma unroll
      for (int i = 0; i < EPL; ++i) {
        const int d = lane + 32 * i;
        vreg[i] = d < D ? detail::load_value<KIVI>(kv, h, j, d) : 0.0f;
      }
#pragma unroll
      for (int qi = 0; qi < kMaxGroup; ++qi) {
        if (qi < nq) {
          const float pe = __shfl_sync(kFullMask, p_lane[qi], e);
#pragma unroll
          for (int i = 0; i < EPL; ++i) acc[qi][i] += pe * vreg[i];
        }
      }
    }
  }

  // Merge the warps' partial softmaxes; write the block's partial for each query head.
  __shared__ float sm_m[kWarps][kMaxGroup], sm_l[kWarps][kMaxGroup];
  __shared__ float sm_acc[kWarps][kMaxGroup][DMAX];
#pragma unroll
  for (int qi = 0; qi < kMaxGroup; ++qi) {
    if (lane == 0) {
      sm_m[warp][qi] = m_run[qi];
      sm_l[warp][qi] = l_run[qi];
    }
#pragma unroll
    for (int i = 0; i < EPL; ++i) sm_acc[warp][qi][lane + 32 * i] = acc[qi][i];
  }
  __syncthreads();
  for (int t = threadIdx.x; t < nq * D; t += kThreads) {
    const int qi = t / D, d = t % D;
    float M = -INFINITY;
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, sm_m[w][qi]);
    float L = 0.0f, A = 0.0f;
    if (M != -INFINITY) {
      for (int w = 0; w < kWarps; ++w) {
        if (sm_m[w][qi] == -INFINITY) continue;
        const float f = expf(sm_m[w][qi] - M);
        L += sm_l[w][qi] * f;
        A += sm_acc[w][qi][d] * f;
      }
    }
    const int64_t slot = int64_t(qh0 + qi) * n_chunks + blockIdx.x;
    part_acc[slot * D + d] = A;
    if (d == 0) {
      part_m[slot] = M;
      part_l[slot] = L;
    }
  }
}

// grid.x = query head: out[qh, d] = sum_c e^(m_c - M) acc_c[d] / sum_c e^(m_c - M) l_c
__global__ void decode_merge_kernel(const float* part_m, const float* part_l, const float* part_acc, int n_chunks,
                                    int D, float* out) {
  const int qh = blockIdx.x;
  const float* pm = part_m + int64_t(qh) * n_chunks;
  const float* pl = part_l + int64_t(qh) * n_chunks;
  float M = -INFINITY;
  for (int c = 0; c < n_chunks; ++c) M = fmaxf(M, pm[c]);
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float L = 0.0f, A = 0.0f;
    if (M != -INFINITY) {
      for (int c = 0; c < n_chunks; ++c) {
        if (pm[c] == -INFINITY) continue;
        const float f = expf(pm[c] - M);
        L += pl[c] * f;
        A += part_acc[(int64_t(qh) * n_chunks + c) * D + d] * f;
      }
    }
    out[int64_t(qh) * D + d] = L > 0.0f ? A / L : 0.0f;
  }
}

size_t align_up(size_t x) { return (x + 255) / 256 * 256; }

template <int DMAX>
void launch_chunks(bool kivi, dim3 grid, const float* q, const KVLayerView& kv, const ReadSetsView& read, int group,
                   float scale, int64_t chunk, int n_chunks, float* pm, float* pl, float* pa, cudaStream_t stream) {
  if (kivi)
    decode_chunk_kernel<DMAX, true><<<grid, kThreads, 0, stream>>>(q, kv, read, group, scale, chunk, n_chunks, pm, pl, pa);
  else
    decode_chunk_kernel<DMAX, false><<<grid, kThreads, 0, stream>>>(q, kv, read, group, scale, chunk, n_chunks, pm, pl, pa);
  KVB_CUDA_CHECK_LAUNCH("decode_chunk_kernel");
}

}  // namespace

void decode_attention(const float* q, const KVLayerView& kv, int n_heads, float scale, float* out, Workspace& ws,
                      const ReadSetsView& read, cudaStream_t stream) {
  const int Hkv = kv.n_kv_heads, D = kv.head_dim;
  KVB_CHECK(Hkv > 0 && n_heads > 0 && n_heads % Hkv == 0, "cuda decode attention: {} query heads over {} KV heads",
            n_heads, Hkv);
  KVB_CHECK(D >= 1 && D <= 256, "cuda decode attention: head dim {} (1..256 supported)", D);
  KVB_CHECK(kv.kivi_bits == 0 || kv.kivi_bits == 2 || kv.kivi_bits == 4 || kv.kivi_bits == 8,
            "cuda decode attention: KIVI with {} bits (2, 4 or 8 supported)", kv.kivi_bits);
  KVB_CHECK(kv.kivi_bits == 0 || (kv.kivi_group > 0 && kv.kivi_vgroup > 0),
            "cuda decode attention: KIVI group {} / value group {}", kv.kivi_group, kv.kivi_vgroup);
  const int group = n_heads / Hkv, gz = (group + kMaxGroup - 1) / kMaxGroup;
  const int64_t T = read.indices ? read.max_count : kv.max_length;
  int device = 0, sms = 0;
  KVB_CUDA_CHECK(cudaGetDevice(&device));
  KVB_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  // About four blocks per SM in total; a chunk is at least one tile per warp.
  const int64_t per_head = std::max<int64_t>(1, int64_t(4) * sms / (int64_t(Hkv) * gz));
  int64_t chunk = std::max<int64_t>(1, (T + per_head - 1) / per_head);
  chunk = (chunk + kThreads - 1) / kThreads * kThreads;
  const int64_t n_chunks64 = std::max<int64_t>(1, (T + chunk - 1) / chunk);
  KVB_CHECK(n_chunks64 < (int64_t(1) << 30), "cuda decode attention: {} entries is too many", T);
  const int n_chunks = int(n_chunks64);

  const size_t slots = size_t(n_heads) * size_t(n_chunks);
  const size_t off_l = align_up(slots * sizeof(float)), off_a = off_l + align_up(slots * sizeof(float));
  char* base = static_cast<char*>(ws.get(off_a + slots * size_t(D) * sizeof(float)));
  float* pm = reinterpret_cast<float*>(base);
  float* pl = reinterpret_cast<float*>(base + off_l);
  float* pa = reinterpret_cast<float*>(base + off_a);

  const dim3 grid{unsigned(n_chunks), unsigned(Hkv), unsigned(gz)};
  const bool kivi = kv.kivi_bits > 0;
  if (D <= 64)
    launch_chunks<64>(kivi, grid, q, kv, read, group, scale, chunk, n_chunks, pm, pl, pa, stream);
  else if (D <= 128)
    launch_chunks<128>(kivi, grid, q, kv, read, group, scale, chunk, n_chunks, pm, pl, pa, stream);
  else
    launch_chunks<256>(kivi, grid, q, kv, read, group, scale, chunk, n_chunks, pm, pl, pa, stream);
  decode_merge_kernel<<<unsigned(n_heads), 128, 0, stream>>>(pm, pl, pa, n_chunks, D, out);
  KVB_CUDA_CHECK_LAUNCH("decode_merge_kernel");
}

}  // namespace kvb::cuda
