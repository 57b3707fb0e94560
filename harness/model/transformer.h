// The CPU transformer forward pass (Llama family: llama, mistral, qwen2, qwen3) in float32.
// forward() runs tokens through the model in chunks, appending post-RoPE K/V to the KV cache,
// and lets an observer see each layer's queries and attention (what compression methods need)
// without recomputing anything. Exercise: `kvbench generate --model M --prompt TEXT`.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
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
  std::string backend = "cpu";       // "cpu" (the reference) or "cuda"
  std::string device_dtype = "bf16";  // cuda: GEMM input type of the weights (bf16, f16, f32)
  std::string matmul = "f32";  // cpu: projections in float32 ("f32") or int8 ("int8"; backends/cpu/int8_gemm.h)
};

// Device memory of a backend (bytes; zero on the CPU).
struct DeviceMemory {
  size_t current_bytes = 0, peak_bytes = 0;
};

// A compute backend other than the CPU reference (the CUDA backend, backends/cuda/cuda_forward.h).
// It computes what Transformer::forward computes and keeps the host KVCache identical to what the
// CPU path would hold (every new K/V is appended there too), so methods, the runner and the
// observers see no difference; its own copy of the cache follows through KVCacheMirror.
class ForwardBackend {
 public:
  virtual ~ForwardBackend() = default;
  virtual Tensor forward(std::span<const int32_t> tokens, KVCache& cache, LogitRows rows,
                         ForwardObserver* observer) = 0;
  // forward() and the greedy choice of the next token (argmax of the last row, ties to the lowest
  // id) on the device: only the token id comes back.
  virtual int32_t forward_greedy(std::span<const int32_t> tokens, KVCache& cache, ForwardObserver* observer) = 0;
  virtual std::string device() const = 0;  // e.g. "NVIDIA H100 80GB HBM3 (sm_90, driver 13.0, bf16 weights)"
  virtual DeviceMemory memory() const = 0;
  virtual void reset_peak_memory() = 0;
};
using ForwardBackendFactory =
    std::function<std::unique_ptr<ForwardBackend>(const ModelConfig&, const ModelWeights&, const RunnerOptions&)>;
// Makes `name` available as RunnerOptions::backend (the CUDA backend registers "cuda" from
// cuda::register_backend(), called by main() when built with it).
// `unavailable` says why the backend cannot start on this machine ("" when it can), so a sweep can
// refuse before it records anything.
void register_forward_backend(const std::string& name, ForwardBackendFactory factory,
                              std::function<std::string()> unavailable = {});
// Why `name` cannot run here: not built in, unknown, or no device; "" when it can.
std::string backend_unavailable_reason(const std::string& name);
std::vector<std::string> forward_backends();  // "cpu" and the registered ones

class Transformer {
 public:
  // Fails (kvb::Error) for a backend that is not built in or has no device.
  Transformer(const ModelConfig& config, const ModelWeights& weights, RunnerOptions options = {});
  ~Transformer();
  Transformer(Transformer&&) noexcept;

  const ModelConfig& config() const { return config_; }
  const RunnerOptions& options() const { return options_; }
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

 private:
  void forward_chunk(std::span<const int32_t> tokens, KVCache& cache, ForwardObserver* observer, float* x);
  void logits(const float* x, int64_t n, float* out) const;

  const ModelConfig& config_;
  const ModelWeights& weights_;
  RunnerOptions options_;
  std::vector<float> inv_freq_;  // [D/2]
  bool int8_matmul_ = false;     // options_.matmul == "int8"
  std::unique_ptr<ForwardBackend> backend_;  // null: the CPU code below
};

}  // namespace kvb
