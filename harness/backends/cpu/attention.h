// CPU reference attention over the KV cache (float32; int8 scores for prefill on request): reads
// each head's rows through KVCache::rows, so ragged, compacted and KIVI-packed heads all work.
#pragma once
#include <cstdint>
#include <vector>

#include "backends/cpu/ops.h"
#include "kv/kv_cache.h"
#include "kv/prefill_pattern.h"
#include "kv/read_selection.h"

namespace kvb::cpu {

// Causal attention of n new queries over one layer of the cache. The new tokens are the last n
// entries of every head's cache, so query i sees entries [0, T_h - n + i].
//   q:    [n, Hq*D] post-RoPE queries
//   out:  [n, Hq*D]
//   attn_mass (optional): [Hq][T_h] per query head, += the softmax weights each cached entry
//         received from these n queries (indexed like the head's cache)
//   read (optional, decode only): [Hkv][sorted entry indices] the entries each KV head reads
//         (page selection); entries outside it get no weight
//   mode: MatmulMode::Int8 computes a prefill chunk's scores Q.K^T in int8 (Int8Keys / int8_scores in
//         int8_gemm.h; head dims that are multiples of 32); P.V and decode steps stay float32
//   pattern (optional, prefill chunks; kv/prefill_pattern.h): per query head, the entries each row
//         attends; the others get no weight (scores set to -inf before the softmax, so a pattern that
//         allows everything gives the dense result bit for bit). Null or dense: every causal entry.
void attention(const float* q, int64_t n, const KVCache& cache, int layer, int n_heads, float scale, float* out,
               std::vector<std::vector<float>>* attn_mass = nullptr,
               const std::vector<std::vector<int32_t>>* read = nullptr, MatmulMode mode = MatmulMode::F32,
               const PrefillPattern* pattern = nullptr);

// The same under a selector's ReadSelection (kv/read_selection.h): everything (dense, the same bits
// as read = null), per-KV-head sets (as `read` above), or per-query-head sets, each query head over
// its own entries, with an optional second part merged by log-sum-exp (partial_attention.h). Per
// query head, attn_mass gets each entry's weight in the merged softmax.
// With read.compact_positions, each head's read keys are rotated by RoPE (inv_freq, neox: the
// model's) from their original positions to compact ones before the scores (a kvb::Error without
// inv_freq).
void attention(const float* q, int64_t n, const KVCache& cache, int layer, int n_heads, float scale, float* out,
               std::vector<std::vector<float>>* attn_mass, const ReadSelection& read, MatmulMode mode = MatmulMode::F32,
               const std::vector<float>* inv_freq = nullptr, bool neox = false);

}  // namespace kvb::cpu
