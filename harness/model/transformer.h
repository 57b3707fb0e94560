// The CPU transformer forward pass (Llama family: llama, mistral, qwen2, qwen3) in float32.
// forward() runs tokens through the model in chunks, appending post-RoPE K/V to the KV cache,
// and lets an observer see each layer's queries and attention (what compression methods need)
// without recomputing anything. Exercise: `kvbench generate --model M --prompt TEXT`.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "kv/kv_cache.h"
#include "model/checkpoint.h"

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
  // Before a layer's attention: the entries each KV head reads ([Hkv][sorted indices]); null reads
  // everything. q is [n, Hq*D] post-RoPE. Used by page selectors (quest) for decode steps.
  virtual const std::vector<std::vector<int32_t>>* read_sets(int layer, const float* q, int64_t n,
                                                              const KVCache& cache) {
    return nullptr;
  }
};

enum class LogitRows { None, Last, All };

struct RunnerOptions {
  int prefill_chunk = 512;  // tokens per forward chunk during prefill
};

class Transformer {
 public:
  Transformer(const ModelConfig& config, const ModelWeights& weights, RunnerOptions options = {});

  const ModelConfig& config() const { return config_; }
  KVCache make_cache() const { return KVCache(config_.n_layers, config_.n_kv_heads, config_.head_dim); }

  // Appends `tokens` at positions cache.next_position()... and returns logits [rows, V]:
  // none, the last token's, or every token's.
  Tensor forward(std::span<const int32_t> tokens, KVCache& cache, LogitRows rows = LogitRows::Last,
                 ForwardObserver* observer = nullptr);

 private:
  void forward_chunk(std::span<const int32_t> tokens, KVCache& cache, ForwardObserver* observer, float* x);
  void logits(const float* x, int64_t n, float* out) const;

  const ModelConfig& config_;
  const ModelWeights& weights_;
  RunnerOptions options_;
  std::vector<float> inv_freq_;  // [D/2]
};

}  // namespace kvb
