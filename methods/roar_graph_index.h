// retrieval_attention's graph index (Liu et al. 2024, arXiv:2409.10516, §3.3, after RoarGraph, Chen
// et al. 2024, arXiv:2408.08933): a key-key graph built from prefill queries so that a best-first
// search driven by a decode query reaches that query's top keys by inner product although queries
// and keys come from different distributions. Used by methods/retrieval_attention.cpp (index=graph);
// tests in tests/test_selectors.cpp (RoarGraphIndex.*). Axes: T keys, N build queries, D head dim.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvb::retrieval {

struct GraphBuildOptions {
  int64_t knn = 16;         // exact nearest keys (by inner product) of every build query
  int64_t max_degree = 32;  // out-edges per key from the query projection (plus 2 position links)
  int64_t n_entry = 4;      // entry points: the keys most often among the build queries' kNN
};

// A MIPS graph over T keys. Built once:
//  1. every build query's exact top-`knn` keys (one GEMM of [N, D] x [D, T]);
//  2. projection onto the keys (RoarGraph): the query's best key gets an edge to each of its other kNN
//     keys and each of them one back to it; a key's candidates are ranked by how many queries linked
//     them (ties: the higher key-key inner product, then the lower id) and cut at `max_degree`;
//  3. connectivity: every key is linked to its position neighbours j-1 and j+1, so the graph is one
//     component (RoarGraph instead adds edges by searching for each key; ours costs nothing).
// Search: best-first with a beam of `ef` (>= k) from the entry points; stops when the best unexpanded
// candidate is worse than the beam's worst. Every inner product it computes is counted.
class RoarGraphIndex {
 public:
  RoarGraphIndex() = default;
  // keys [T, D] row-major, queries [N, D] row-major (N >= 1); the index refers to keys by row 0..T-1.
  static RoarGraphIndex build(const float* keys, int64_t T, const float* queries, int64_t N, int64_t D,
                              const GraphBuildOptions& opt = {});

  // The (up to) k rows with the largest q . key(row) that the search finds, ascending by row, where
  // key(row) = keys + (row_map ? row_map[row] : row) * D must be the key row `row` was built from
  // (row_map lets the caller search the cache's rows in place). *n_dist += the inner products computed.
  std::vector<int32_t> search(const float* q, const float* keys, const int32_t* row_map, int64_t k, int64_t ef,
                              int64_t* n_dist) const;

  int64_t size() const { return int64_t(neighbors_.size()); }
  const std::vector<int32_t>& neighbors(int32_t key) const { return neighbors_[size_t(key)]; }
  const std::vector<int32_t>& entry_points() const { return entry_; }
  int64_t dim() const { return D_; }

 private:
  std::vector<std::vector<int32_t>> neighbors_;  // [T][<= max_degree + 2] out-edges
  std::vector<int32_t> entry_;                   // [n_entry]
  int64_t D_ = 0;
};

}  // namespace kvb::retrieval
