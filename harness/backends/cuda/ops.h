// CUDA ops: the same operations as the CPU reference (backends/cpu/ops.h), one .cu per op family,
// each tested against the CPU op in tests/test_cuda_ops.cpp (`kvb_tests --gtest_filter='Cuda*'`).
// All pointers are device memory unless named host; every op runs on `stream` and does not
// synchronize. Axes: n tokens, E embedding, V vocabulary, Hq/Hkv heads, D head dim, T entries of a
// head's cache, W window. Arithmetic is float32 (accumulation included) unless a weight is stored
// as bf16/fp16, in which case the activations are rounded to that type for the GEMM.
//
//   file                   ops
//   linear.cpp             linear (cuBLAS GemmEx), upload_weight
//   elementwise.cu         swiglu, add, add_bias, convert (f32 -> bf16/fp16/f32)
//   embedding.cu           embedding
//   rmsnorm.cu             rmsnorm
//   rope.cu                rope
//   argmax.cu              argmax
//   attention_prefill.cu   prefill_attention (+ attention mass of the last W queries)
//   attention_decode.cu    decode_attention (fp32 and KIVI-packed entries, read sets, logit bias)
//   kv_gather.cu           gather_kv_rows (the kernel behind DeviceKVCache::keep)
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backends/cuda/kv_view.h"
#include "backends/cuda/memory.h"

namespace kvb {
class WeightMatrix;
}

namespace kvb::cuda {

// ---- weights -------------------------------------------------------------------------------

enum class WeightType { F32, BF16, F16 };
const char* weight_type_name(WeightType t);
size_t weight_type_bytes(WeightType t);

// A matrix [rows, cols] on the device in one of the GEMM input types.
struct DeviceWeight {
  WeightType type = WeightType::F32;
  int64_t rows = 0, cols = 0;
  DeviceBuffer data;
  size_t bytes() const { return data.bytes(); }
};

// Uploads once: rows are dequantized on the host by the CPU code (WeightMatrix::dequantize_rows,
// any stored type: F32, BF16, Q8_0, Q4_K, ...) in blocks, copied as float32 and rounded to `type`
// on the device (round to nearest even).
DeviceWeight upload_weight(const WeightMatrix& w, WeightType type, cudaStream_t stream = nullptr);
// Same for a host float32 matrix [rows, cols] (norm weights, biases: rows = 1).
DeviceWeight upload_weight(const float* host, int64_t rows, int64_t cols, WeightType type,
                           cudaStream_t stream = nullptr);

// ---- dense ops ------------------------------------------------------------------------------

// y[n, out] = x[n, in] · W[out, in]^T (+ bias[out] if not null); cuBLAS GemmEx with float32
// accumulation (CUBLAS_COMPUTE_32F). For bf16/fp16 weights x is rounded to the weight's type in
// `ws` first. cpu::linear's counterpart.
void linear(const float* x, int64_t n, const DeviceWeight& w, float* y, const float* bias, Workspace& ws,
            cudaStream_t stream = nullptr);

// out[n, E] = table[tokens[i], :] as float32; table is [V, E]. Token ids must be in [0, V) (the
// caller validates them, as Transformer::forward does); an id outside gives a row of NaN.
void embedding(const DeviceWeight& table, const int32_t* tokens, int64_t n, float* out,
               cudaStream_t stream = nullptr);

// y[n, dim] = x / rms(x) * w over rows of length dim, row stride `stride` (in and out); y may be x.
// The sum of squares is accumulated in double, as cpu::rmsnorm does.
void rmsnorm(const float* x, const float* w, float* y, int64_t n, int64_t dim, int64_t stride, float eps,
             cudaStream_t stream = nullptr);

// Rotates x[n, H, D] in place (row stride `stride` floats between tokens) at positions pos[n].
// inv_freq [D/2] comes from rope_inv_freq (uploaded by the caller). neox: rotate
// (x[i], x[i + D/2]); otherwise adjacent pairs (x[2i], x[2i+1]). kvb::rope's counterpart.
void rope(float* x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t stride, const int32_t* pos,
          const float* inv_freq, bool neox, cudaStream_t stream = nullptr);

// out[i] = silu(gate[i]) * up[i]   (out may be gate)
void swiglu(const float* gate, const float* up, float* out, int64_t n, cudaStream_t stream = nullptr);
// x[i] += y[i]   (residual add)
void add(float* x, const float* y, int64_t n, cudaStream_t stream = nullptr);
// y[r, :] += bias[:] for y [n, dim]
void add_bias(float* y, const float* bias, int64_t n, int64_t dim, cudaStream_t stream = nullptr);
// dst[n] = src[n] rounded to `type` (dst holds n elements of that type)
void convert(const float* src, void* dst, WeightType type, int64_t n, cudaStream_t stream = nullptr);

// out[r] = argmax_j x[r, j] for x [n_rows, n] (greedy decoding); ties go to the smallest index,
// as in cpu::argmax. NaN entries are never chosen.
void argmax(const float* x, int64_t n_rows, int64_t n, int32_t* out, cudaStream_t stream = nullptr);

// ---- attention --------------------------------------------------------------------------------

// Causal attention of n new queries over one layer of the cache (cpu::attention with n > 1): the
// new tokens are the last n entries of every head, so query i sees entries [0, T_h - n + i].
// Tiled with an online softmax (nothing of size T x T is stored); GQA: query head qh reads KV head
// qh / (Hq / Hkv); each entry's logit bias is added.
//   q:    [n, q_stride] post-RoPE queries, head qh at columns [qh*D, (qh+1)*D)
//   out:  [n, out_stride], same column layout
//   mass (optional): [Hq, mass_stride], mass[qh, j] += the softmax weight entry j of head
//         qh / group received from the last `window` queries (window >= n: all of them; the CPU op
//         sums over all n). mass_stride >= T of every head.
//   ws:   scratch (the per-query log-sum-exp when mass is asked for)
void prefill_attention(const float* q, int64_t n, int64_t q_stride, const KVLayerView& kv, int n_heads, float scale,
                       float* out, int64_t out_stride, float* mass, int64_t mass_stride, int64_t window, Workspace& ws,
                       cudaStream_t stream = nullptr);

// One query per head (decode step) over one layer of per-KV-head ragged caches, split-KV
// (flash-decoding): each block reduces a chunk of a head's entries to a partial softmax
// (max, sum, weighted values) for every query head of its group, a second kernel merges the
// chunks by log-sum-exp. Entries stored KIVI-packed (2/4/8 bits) are dequantized in registers.
//   q:    [Hq * D]   out: [Hq * D]
//   read (optional): the entries each KV head reads (cpu::attention's `read`); empty reads all
// Head dims up to 256 are supported.
void decode_attention(const float* q, const KVLayerView& kv, int n_heads, float scale, float* out, Workspace& ws,
                      const ReadSetsView& read = {}, cudaStream_t stream = nullptr);

// Owning device copy of per-KV-head read sets ([Hkv][sorted entry indices], as page selectors
// return them). An empty host vector gives an empty view (read everything).
struct DeviceReadSets {
  DeviceBuffer indices, offsets;
  int64_t max_count = 0;
  bool empty = true;
  ReadSetsView view() const;
};
DeviceReadSets upload_read_sets(const std::vector<std::vector<int32_t>>& read);

// ---- KV compaction ----------------------------------------------------------------------------

// One KV head's part of a gather: dst rows [dst_row, dst_row + count) = src rows idx[idx_offset ..
// idx_offset + count) relative to src_row; the same for the per-entry bias when has_bias.
struct GatherHead {
  int64_t src_row = 0, dst_row = 0, src_entry = 0, dst_entry = 0, idx_offset = 0;
  int32_t count = 0, has_bias = 0;
};
// Gathers the kept rows of every head of a layer ([Hkv] heads, device array) in one launch:
// k, v rows of D floats and (when present) the bias entries. src and dst must not overlap.
void gather_kv_rows(const float* src_k, const float* src_v, const float* src_bias, float* dst_k, float* dst_v,
                    float* dst_bias, const GatherHead* heads, int n_heads, const int32_t* idx, int64_t max_count,
                    int64_t head_dim, cudaStream_t stream = nullptr);

}  // namespace kvb::cuda
