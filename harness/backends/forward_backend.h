// The compute-backend seam: what a forward pass is given (EngineOptions), what every backend
// reports to observers (kv/forward_observer.h), and the one registry of backends. The CPU reference
// (backends/cpu/cpu_forward.cpp) and CUDA (backends/cuda/cuda_forward.cpp) both implement
// ForwardBackend; engine/transformer.h picks one by name. Exercise: `kvbench list backends`.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kv/forward_observer.h"
#include "kv/kv_cache.h"
#include "model/checkpoint.h"

namespace kvb {

// The engine settings: one struct, bound to CLI flags in one place (cli/engine_options.h) and
// read from a sweep config's `engine:` block (eval/sweep_config.cpp).
struct EngineOptions {
  int prefill_chunk = 512;            // tokens per forward chunk during prefill
  std::string backend = "cpu";        // "cpu" (the reference) or "cuda"
  std::string device_dtype = "bf16";  // cuda: GEMM input type of the weights (bf16, f16, f32)
  std::string matmul = "f32";  // cpu: projections in float32 ("f32") or int8 ("int8"; backends/cpu/int8_gemm.h)
  int threads = 0;             // CPU threads; 0: all cores
};

enum class LogitRows { None, Last, All };

// Device memory of a backend (bytes; zero on the CPU).
struct DeviceMemory {
  size_t current_bytes = 0, peak_bytes = 0;
};

// A compute backend: runs tokens through the model in chunks, appending post-RoPE K/V to the host
// KVCache (a device backend keeps its own copy in step through KVCacheMirror), so methods, the
// runner and the observers see the same thing on every backend.
class ForwardBackend {
 public:
  virtual ~ForwardBackend() = default;
  // Appends `tokens` at positions cache.next_position()... and returns logits [rows, V].
  virtual Tensor forward(std::span<const int32_t> tokens, KVCache& cache, LogitRows rows,
                         ForwardObserver* observer) = 0;
  // forward() and the greedy choice of the next token (argmax of the last row, ties to the lowest
  // id); a device backend takes it on the device, so only the token id comes back.
  virtual int32_t forward_greedy(std::span<const int32_t> tokens, KVCache& cache, ForwardObserver* observer) = 0;
  // One decode step of several independent sequences: token b is appended to caches[b] (seen by
  // observers[b], which may be null) and the result is each sequence's greedy next token. Every
  // sequence gets exactly the bits forward_greedy would give it alone; a backend batches the weight
  // products only where that holds (the CPU's int8 path), and this default runs them one by one.
  virtual std::vector<int32_t> forward_greedy_batch(std::span<const int32_t> tokens, std::span<KVCache* const> caches,
                                                    std::span<ForwardObserver* const> observers) {
    std::vector<int32_t> next(tokens.size());
    for (size_t b = 0; b < tokens.size(); ++b) next[b] = forward_greedy(tokens.subspan(b, 1), *caches[b], observers[b]);
    return next;
  }
  virtual std::string device() const = 0;  // "cpu", or e.g. "NVIDIA H100 80GB HBM3 (sm_90, ...)"
  virtual DeviceMemory memory() const { return {}; }
  virtual void reset_peak_memory() {}
};
using ForwardBackendFactory =
    std::function<std::unique_ptr<ForwardBackend>(const ModelConfig&, const ModelWeights&, const EngineOptions&)>;

// Makes `name` available as EngineOptions::backend. "cpu" is always registered; the CUDA backend
// registers "cuda" from cuda::register_backend(), called by main() when built with it.
// `unavailable` says why the backend cannot start on this machine ("" when it can), so a sweep can
// refuse before it records anything.
void register_forward_backend(const std::string& name, ForwardBackendFactory factory,
                              std::function<std::string()> unavailable = {});
// Why `name` cannot run here: not built in, unknown, or no device; "" when it can.
std::string backend_unavailable_reason(const std::string& name);
std::vector<std::string> forward_backends();  // "cpu" and the registered ones, sorted
// The backend `options.backend` names; kvb::Error when it is not built in, unknown or has no device.
std::unique_ptr<ForwardBackend> make_forward_backend(const ModelConfig& config, const ModelWeights& weights,
                                                     const EngineOptions& options);

}  // namespace kvb
