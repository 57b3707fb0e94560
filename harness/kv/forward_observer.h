// What a forward pass shows the kv layer, on every backend: per layer, the chunk's queries and
// (on request) the attention mass each cached entry received, and before attention, which entries
// each KV head reads. The compression protocol (kv/compression_protocol.h) is built on it; the
// backends (backends/forward_backend.h) call it.
#pragma once
#include <cstdint>
#include <vector>

#include "kv/attention_calibration.h"
#include "kv/kv_cache.h"
#include "kv/prefill_pattern.h"
#include "kv/read_selection.h"

namespace kvb {

// What one layer computed for a chunk of n new tokens.
struct LayerObservation {
  int layer = 0;
  int64_t n = 0;                    // tokens in this chunk
  const int32_t* positions = nullptr;  // [n] original positions
  const float* queries = nullptr;   // [n, Hq*D] post-RoPE (post q_norm) queries
  const KVCache* cache = nullptr;   // this layer's heads already hold the chunk's K/V
  // [Hq][T_h]: attention weight each cached entry received from this chunk's queries (summed over
  // the n queries); null unless the observer asked for it.
  const std::vector<std::vector<float>>* attn_mass = nullptr;
};

class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  virtual bool wants_attention_mass(int layer) const { return false; }
  virtual void on_layer(const LayerObservation& obs) {}
  // Before a layer's attention: the entries each KV head (or query head) reads
  // (kv/read_selection.h); null reads everything. q is [n, Hq*D] post-RoPE. Used by selectors
  // (quest, tokenselect, loki, ...) for decode steps.
  virtual const ReadSelection* read_sets(int layer, const float* q, int64_t n, const KVCache& cache) {
    return nullptr;
  }
  // Seam (g): the LM-head logits of a prefill's rows, [n, V], with those rows' token ids, in order
  // (blocks of consecutive rows; sirllm's token surprisal). Computed apart from the logits forward()
  // returns, which keep their bits. Called by Transformer::forward only (not by decode steps).
  virtual bool wants_logits() const { return false; }
  virtual void on_logits(const int32_t* tokens, int64_t n, const float* logits) {}
  // Before a prefill chunk's attention (n queries, q [n, Hq*D] post-RoPE, the chunk's K/V already
  // in `cache`): the entries each query head's rows attend (kv/prefill_pattern.h, MInference's seam
  // (f)); null attends every causal entry. The pattern stays valid until the next call.
  virtual const PrefillPattern* prefill_pattern(int layer, const float* q, int64_t n, const KVCache& cache) {
    return nullptr;
  }
  // Before a layer's attention: the query heads whose attention rows are recalibrated after softmax
  // (kv/attention_calibration.h, the act method); null: none. Prefill chunks and decode steps alike.
  virtual const AttentionCalibration* attention_calibration(int layer) { return nullptr; }
};

}  // namespace kvb
