// longheads' chunk features (Lu et al. 2024, arXiv:2402.10685; reference LuLuLuyi/LongHeads
// modeling_longheads/modeling_llama.py), shared by methods/longheads.cpp and tests/test_longheads.cpp.
// Axes: Hq query heads, g whole chunks of w tokens, D head dim.
#pragma once
#include <cstdint>
#include <vector>

#include "kv/method.h"

namespace kvb {

// Per query head, the key feature c_k of every whole chunk of the compressed part, [Hq][g * D], from
// a layer right after the compressed prefill (every entry cached, the queries of every prompt token
// recorded: LayerView::window == n_context). Inside chunk c (entries c w .. c w + w - 1) the keys and
// queries are rotated to chunk-local positions 0..w-1 ("RoPE inside the chunk");
//   c_v = mean_i sum_j softmax_j(q_i . k_j / sqrt(D)) v_j   (j over the chunk, or j <= i when causal)
//   c_k = sum_j softmax_j(c_v . k_j / sqrt(D)) k_j
// (the reference's FlashSelfAttention(causal=False) and scaled_dot_product_attention).
std::vector<std::vector<float>> longheads_chunk_keys(const LayerView& v, int64_t chunk, bool causal);

}  // namespace kvb
