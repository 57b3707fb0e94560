// The transformer (Llama family: llama, mistral, qwen2, qwen3) on the backend EngineOptions names
// (backends/forward_backend.h: the CPU reference or CUDA). forward() runs tokens through the model
// in chunks, appending post-RoPE K/V to the KV cache, and lets an observer see each layer's
// queries and attention (what compression methods need) without recomputing anything.
// Exercise: `kvbench generate --model M --prompt TEXT`.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backends/forward_backend.h"

namespace kvb {

class Transformer {
 public:
  // Fails (kvb::Error) for a backend that is not built in or has no device.
  Transformer(const ModelConfig& config, const ModelWeights& weights, EngineOptions options = {});
  ~Transformer();
  Transformer(Transformer&&) noexcept;

  const ModelConfig& config() const { return config_; }
  // The weights it runs (methods that read a projection, e.g. criticalkv's output projection).
  const ModelWeights& weights() const { return weights_; }
  const EngineOptions& options() const { return options_; }
  // "cpu", or the backend's device description.
  std::string device() const;
  DeviceMemory device_memory() const;
  void reset_device_peak_memory();
  KVCache make_cache() const { return KVCache(config_.n_layers, config_.n_kv_heads, config_.head_dim); }

  // Appends `tokens` at positions cache.next_position()... and returns logits [rows, V]:
  // none, the last token's, or every token's.
  Tensor forward(std::span<const int32_t> tokens, KVCache& cache, LogitRows rows = LogitRows::Last,
                 ForwardObserver* observer = nullptr);
  // forward() then the greedy next token (argmax of the last logits row, ties to the lowest id);
  // a device backend takes the argmax on the device.
  int32_t forward_greedy(std::span<const int32_t> tokens, KVCache& cache, ForwardObserver* observer = nullptr);
  // One decode step of B independent sequences (token b onto caches[b], observed by observers[b] or
  // none): their greedy next tokens [B], each the same as forward_greedy of that sequence alone.
  std::vector<int32_t> forward_greedy_batch(std::span<const int32_t> tokens, std::span<KVCache* const> caches,
                                            std::span<ForwardObserver* const> observers = {});

 private:
  const ModelConfig& config_;
  const ModelWeights& weights_;
  EngineOptions options_;
  std::unique_ptr<ForwardBackend> backend_;  // never null
};

}  // namespace kvb
