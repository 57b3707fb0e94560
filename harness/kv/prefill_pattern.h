// Seam (f) of docs/methods-wave2 (../shared/docs/methods-wave2.md): a sparse prefill pattern per
// query head (MInference's A-shape, vertical-slash and block-sparse). A method returns one for a
// prefill chunk (Method::prefill_pattern, forwarded by ForwardObserver::prefill_pattern) and the
// backend's prefill attention gives each query row softmax attention over exactly the entries its
// head's pattern allows (causal mask still applied); the cache is untouched. Tests:
// tests/test_minference.cpp. Axes: Hq query heads, T entries of a head, n queries of the chunk.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace kvb {

// What one query head attends during one prefill chunk. The chunk's n queries are the last n entries
// of the head (query row i is entry e = T - n + i). Row e attends entry j <= e when
//   j == e (its own entry: no row is empty), or
//   j is in `columns` (vertical lines: entry indices), or
//   e - j is in `diagonals` (slash lines: offsets, 0 = the main diagonal), or, with slash_tile = B > 0,
//   j lies in the column ranges the diagonals pass through in e's block of B rows, merged as
//   MInference's vertical-slash kernel merges them (slash_tile_ranges below: bands, not lines), or
//   block_size > 0 and j / block_size is in key_blocks[e / block_size - first_block] (block-sparse).
// A head with `dense` set attends every causal entry (the dense path, bit for bit).
struct HeadPrefillPattern {
  bool dense = false;
  std::vector<int32_t> columns;    // ascending entry indices
  std::vector<int32_t> diagonals;  // ascending offsets >= 0
  int32_t slash_tile = 0;          // > 0: diagonals cover 64-column-style tiles (see above), else exact lines
  int32_t block_size = 0;          // > 0: key_blocks applies
  int64_t first_block = 0;         // query block of key_blocks[0] (the chunk's first row's block)
  std::vector<std::vector<int32_t>> key_blocks;  // [query blocks of the chunk][ascending key blocks]
};

// Per query head; empty `heads`: the chunk is dense.
struct PrefillPattern {
  std::vector<HeadPrefillPattern> heads;  // [Hq]
  bool dense() const { return heads.empty(); }
};

// allowed[j] (j = 0..e) for query entry e under head pattern p; allowed is resized to e + 1.
void allowed_entries(const HeadPrefillPattern& p, int64_t e, std::vector<uint8_t>& allowed);

// MInference's reading of slash lines (ops/pit_sparse_flash_attention_v2.py, convert_vertical_slash_indexes):
// for the rows of the block [m1 - B, m1), diagonal o passes through columns [m1 - B - o, m1 - o) (its
// end at least B). Walking the diagonals from the farthest: a diagonal whose range ends more than B
// past the current range's end starts a new range; one that ends beyond it (by at most B) extends the
// current range by B. Returns the ranges [start, end) in ascending order (start may be negative:
// clamp at 0). `diagonals` ascending.
std::vector<std::pair<int64_t, int64_t>> slash_tile_ranges(const std::vector<int32_t>& diagonals, int64_t m1,
                                                           int64_t B);

// (query, key) pairs the pattern lets rows e = T - n .. T - 1 attend (causal ones only).
int64_t allowed_pairs(const HeadPrefillPattern& p, int64_t T, int64_t n);
// Causal (query, key) pairs of those rows: sum of e + 1.
int64_t causal_pairs(int64_t T, int64_t n);

// Checks a pattern before attention uses it: one head per query head, columns / diagonals ascending
// and non-negative, block lists covering the chunk's query blocks. kvb::Error naming the layer, head
// and problem otherwise.
void check_prefill_pattern(const PrefillPattern& p, int layer, int n_query_heads, int64_t T, int64_t n);

}  // namespace kvb
