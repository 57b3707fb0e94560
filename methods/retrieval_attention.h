// RetrievalAttention's exact (flat) index: the top-k keys by inner product with a query, per query
// head, over a KV head's candidate entries (methods/retrieval_attention.cpp; property test in
// tests/test_selectors.cpp). Axes: T entries, D head dim.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace kvb::retrieval {

// The k candidates (indices from `candidates`, ascending) with the largest q . K[j]; ties: the
// lower index wins. Exact: a scan of every candidate (the oracle an ANN graph index approximates).
std::vector<int32_t> flat_search(const float* q, const float* keys, int64_t D, std::span<const int32_t> candidates,
                                 int64_t k);

}  // namespace kvb::retrieval
