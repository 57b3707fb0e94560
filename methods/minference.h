// MInference 1.0 (Jiang et al. 2024, arXiv:2407.02490): the pieces `--method minference` and
// `kvbench calibrate minference` share: the per-head pattern file (MInference's
// minference/configs/*best_pattern.json format: a JSON array over layers, each an object
// query head -> [type, v, s, score]), the budget scaling and the online pattern estimation
// (kv/prefill_pattern.h). Tests: tests/test_minference.cpp.
// Axes: L layers, Hq / Hkv heads, g = Hq / Hkv, T entries of a head, n queries of a chunk, D head dim.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kv/prefill_pattern.h"

namespace kvb::minference {

enum class PatternType { AShape, VerticalSlash, BlockSparse };
// MInference's names: "stream_llm" (A-shape), "vertical_and_slash", "block_sparse"; "a_shape" and
// "vertical_slash" are read too.
std::string type_name(PatternType t);

// One query head's offline choice. v / s at the paper's scale: A-shape sink / local, VS vertical /
// slash sizes, block-sparse v = key blocks per query block (s unused).
struct HeadChoice {
  PatternType type = PatternType::VerticalSlash;
  int64_t v = 1000, s = 6096;  // the paper's default for heads without a pattern
  double score = 0.0;          // the search objective (calibrate: recall of dense attention mass)
};
using PatternConfig = std::vector<std::vector<HeadChoice>>;  // [L][Hq]

// Reads a pattern file for a model of n_layers x n_heads query heads; a head missing from a layer's
// object gets the default VS(1000, 6096). kvb::Error naming the file and the problem otherwise.
PatternConfig read_pattern_file(const std::string& path, int n_layers, int n_heads);
void write_pattern_file(const std::string& path, const PatternConfig& config);

// The per-row budget k for a chunk of rows e = T - n .. T - 1 at compression ratio r: the smallest
// k such that sum_e min(e + 1, k) >= (1 - r) * sum_e (e + 1), i.e. rows reading k entries each would
// compute about 1 - r of the chunk's causal pairs. r <= 0: T (dense).
int64_t row_budget_for_ratio(double ratio, int64_t T, int64_t n);

// A head's sizes scaled to a per-row budget k in the proportion of its (v, s): VS v = round(k v /
// (v + s)), s = k - v; A-shape sink / local alike (each >= 1); block-sparse ceil(k / block) blocks.
HeadChoice scaled_choice(const HeadChoice& c, int64_t k, int64_t block_size);

// A-shape: the first n_init entries and the n_local newest diagonals (offsets 0..n_local-1).
HeadPrefillPattern a_shape(int64_t n_init, int64_t n_local);

// Online vertical-slash estimation (the spec's steps 1-4) for one query head: the last m queries
// q_last [m rows, row stride q_stride] (entries T - m .. T - 1) against keys [T, D]:
//   P = softmax(q_last K^T * scale) with the causal mask inside the last m;
//   vertical score of column j = sum of P's column j; the first n_forced_columns forced (+inf);
//   slash score of offset o = sum of P along the diagonal e - j = o; the first n_forced_diagonals
//   offsets (the local ones) forced;
//   lines(v, s): columns = top max(v, 30) verticals, diagonals = top max(s, 50) slashes (at most T
//   each; ties: the lower index wins).
struct VsEstimate {
  std::vector<float> vertical, slash;  // [T] each, forced entries +inf
  // The top max(v, 30) columns and top max(s, 50) diagonals (at most T each).
  HeadPrefillPattern lines(int64_t v, int64_t s) const;
};
VsEstimate vertical_slash(const float* q_last, int64_t m, int64_t q_stride, const float* keys, int64_t T, int64_t D,
                          float scale, int64_t n_forced_columns = 30, int64_t n_forced_diagonals = 100);

// Online block-sparse estimation for one query head: the chunk's n queries q [n rows, stride
// q_stride] (entries T - n .. T - 1) and keys [T, D] mean-pooled over blocks of block_size entries
// (query blocks: the chunk's rows in each block); per query block, the top_k key blocks by pooled
// q . k among the causal ones (key block <= query block; ties: the lower block wins).
HeadPrefillPattern block_sparse(const float* q, int64_t n, int64_t q_stride, const float* keys, int64_t T, int64_t D,
                                int64_t block_size, int64_t top_k);

// The pattern of one query head for a prefill chunk of n queries q [n rows, stride q_stride]
// (entries T - n .. T - 1) over keys [T, D], by its choice c (sizes as they apply: scaled or not).
HeadPrefillPattern head_pattern(const HeadChoice& c, const float* q, int64_t n, int64_t q_stride, const float* keys,
                                int64_t T, int64_t D, int64_t last_q, int64_t block_size);

}  // namespace kvb::minference
