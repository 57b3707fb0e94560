// CPU reference ops (float32): OpenBLAS GEMM for projections and attention blocks,
// OpenMP loops for the element-wise ops. Every CUDA op is tested against these.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "kv/kv_cache.h"
#include "model/config.h"
#include "model/weight_matrix.h"

namespace kvb::cpu {

// y[n, out] = x[n, in] · W[out, in]^T (+ bias[out] if given). Float32 weights go straight to
// OpenBLAS; stored types are dequantized row block by row block (few tokens) or into a scratch
// matrix for one GEMM (many tokens).
void linear(const float* x, int64_t n, const WeightMatrix& w, float* y, const Tensor* bias = nullptr);

float dot(const float* a, const float* b, int64_t n);

// y[n, dim] = x / rms(x) * w, rows of length dim with row stride `stride` (in and out).
void rmsnorm(const float* x, const float* w, float* y, int64_t n, int64_t dim, int64_t stride, float eps);

// RoPE inverse frequencies [D/2] for a config (theta, linear or llama3 scaling, GGUF freq factors).
std::vector<float> rope_inv_freq(const ModelConfig& c);

// Rotates x[n, H, D] in place (row stride `stride` floats between tokens) at positions pos[n].
// neox: rotate (x[i], x[i + D/2]); otherwise rotate adjacent pairs (x[2i], x[2i+1]).
void rope(float* x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t stride, const int32_t* pos,
          const std::vector<float>& inv_freq, bool neox);

// out[i] = silu(gate[i]) * up[i]
void swiglu(const float* gate, const float* up, float* out, int64_t n);

// Causal attention of n new queries over one layer of the cache. The new tokens are the last n
// entries of every head's cache, so query i sees entries [0, T_h - n + i].
//   q:    [n, Hq*D] post-RoPE queries
//   out:  [n, Hq*D]
//   attn_mass (optional): [Hq][T_h] per query head, += the softmax weights each cached entry
//         received from these n queries (indexed like the head's cache)
//   read (optional, decode only): [Hkv][sorted entry indices] the entries each KV head reads
//         (page selection); entries outside it get no weight
void attention(const float* q, int64_t n, const KVCache& cache, int layer, int n_heads, float scale, float* out,
               std::vector<std::vector<float>>* attn_mass = nullptr,
               const std::vector<std::vector<int32_t>>* read = nullptr);

int64_t argmax(const float* x, int64_t n);

}  // namespace kvb::cpu
