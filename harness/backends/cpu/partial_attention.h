// Attention of one query over a subset of one head's entries, returning its log-sum-exp, and the
// exact merge of two such partial attentions (seam (d) of docs/methods-wave2: RetrievalAttention's
// static + retrieved parts, arXiv:2409.10516 §3): with lse = log(e^{lse_a} + e^{lse_b}),
//   o = e^{lse_a - lse} o_a + e^{lse_b - lse} o_b,
// which equals softmax attention over the union of the two disjoint subsets. Tests:
// tests/test_selectors.cpp (PartialAttention.*).
#pragma once
#include <cstdint>
#include <span>

namespace kvb::cpu {

// q [D]; K, V [T, D] rows; bias [T] added to the logits or null; `read` sorted indices into the rows.
// out [D] = sum_r p_r V[read[r]], p = softmax(scale q.K[read]^T + bias); probs [|read|] gets p.
// Returns the log-sum-exp of the logits (-inf for an empty subset, whose out is zero).
float attend_partial(const float* q, const float* K, const float* V, const float* bias, std::span<const int32_t> read,
                     int64_t D, float scale, float* out, float* probs);

// o [D] = the merge of (o_a, lse_a) and (o_b, lse_b); returns the merged lse. Either side may be
// empty (lse -inf). The weights e^{lse_x - lse} are written to w_a / w_b when not null.
float lse_merge(const float* o_a, float lse_a, const float* o_b, float lse_b, int64_t D, float* o,
                float* w_a = nullptr, float* w_b = nullptr);

}  // namespace kvb::cpu
