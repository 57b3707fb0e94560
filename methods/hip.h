// HiP Attention's hierarchical top-k (methods/hip.cpp; property tests in tests/test_selectors.cpp).
// Axes: M candidate entries of one KV head, D head dim, b_k tokens per key block.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace kvb::hip {

enum class Representative { Center, First };  // the token that scores a group of blocks

// Approximate top-k of q . K[j] over `candidates` (ascending indices into keys [T, D]) in blocks of
// `block` consecutive candidates: start from k / block groups of blocks spread evenly over the
// candidates; each iteration splits every group of more than one block in two, scores each half by
// its representative token's q . k, and keeps the k / block best halves (ties: the lower half),
// until every group is one block (about log2(M / k) iterations). Returns the kept blocks' entries,
// ascending (at most k of them). k >= M: every candidate.
std::vector<int32_t> hierarchical_top_k(const float* q, const float* keys, int64_t D,
                                        std::span<const int32_t> candidates, int64_t k, int64_t block,
                                        Representative rep);

}  // namespace kvb::hip
