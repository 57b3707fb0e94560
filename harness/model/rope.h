// Rotary position embedding (Su et al. 2021, arXiv:2104.09864) as Llama-family checkpoints define
// it: inverse frequencies from the config (theta; linear or llama3 scaling; GGUF freq factors) and
// the rotation itself in float32. Part of the model's definition: the CPU forward pass applies it,
// the kv layer un-rotates recorded queries with it, and backends/cuda/rope.cu matches it.
// Exercised by tests/test_cpu_ops.cpp (Rope*).
#pragma once
#include <cstdint>
#include <vector>

#include "model/config.h"

namespace kvb {

// RoPE inverse frequencies [D/2] for a config (theta, linear or llama3 scaling, GGUF freq factors).
std::vector<float> rope_inv_freq(const ModelConfig& c);

// Rotates x[n, H, D] in place (row stride `stride` floats between tokens) at positions pos[n].
// neox: rotate (x[i], x[i + D/2]); otherwise rotate adjacent pairs (x[2i], x[2i+1]).
void rope(float* x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t stride, const int32_t* pos,
          const std::vector<float>& inv_freq, bool neox);

}  // namespace kvb
