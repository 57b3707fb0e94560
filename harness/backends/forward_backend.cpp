// The backend registry; see forward_backend.h.
#include "backends/forward_backend.h"

#include <map>
#include <mutex>

#include <fmt/ranges.h>

#include "backends/cpu/cpu_forward.h"
#include "backends/cpu/int8_gemm.h"
#include "core/error.h"

namespace kvb {

namespace {

struct BackendEntry {
  ForwardBackendFactory factory;
  std::function<std::string()> unavailable;
};

constexpr const char* kCudaNotBuilt =
    "backend 'cuda' is not available: this kvbench was built without the CUDA backend (configure with "
    "-DKVB_CUDA=ON on a machine with nvcc; `kvbench list backends` shows what is built in)";

std::mutex registry_mutex;
// Guarded by registry_mutex. The CPU reference is registered on first use, so no static
// initialisation order or linker dead-stripping can lose it.
std::map<std::string, BackendEntry>& registry() {
  static std::map<std::string, BackendEntry> r{{"cpu", {cpu::make_cpu_forward, {}}}};
  return r;
}

}  // namespace

void register_forward_backend(const std::string& name, ForwardBackendFactory factory,
                              std::function<std::string()> unavailable) {
  std::lock_guard lock(registry_mutex);
  registry()[name] = {std::move(factory), std::move(unavailable)};
}

std::string backend_unavailable_reason(const std::string& name) {
  std::function<std::string()> unavailable;
  {
    std::lock_guard lock(registry_mutex);
    auto it = registry().find(name);
    if (it == registry().end())
      return name == "cuda" ? std::string(kCudaNotBuilt) : fmt::format("unknown backend '{}'", name);
    unavailable = it->second.unavailable;
  }
  return unavailable ? unavailable() : std::string();
}

std::vector<std::string> forward_backends() {
  std::lock_guard lock(registry_mutex);
  std::vector<std::string> out;
  for (const auto& [name, entry] : registry()) out.push_back(name);
  return out;
}

std::unique_ptr<ForwardBackend> make_forward_backend(const ModelConfig& config, const ModelWeights& weights,
                                                     const EngineOptions& options) {
  KVB_CHECK(options.prefill_chunk > 0, "prefill chunk must be positive, got {}", options.prefill_chunk);
  const bool int8 = cpu::parse_matmul_mode(options.matmul) == cpu::MatmulMode::Int8;
  KVB_CHECK(!int8 || options.backend == "cpu", "matmul 'int8' is a cpu backend option; backend '{}' uses --device-dtype",
            options.backend);
  ForwardBackendFactory factory;
  {
    std::lock_guard lock(registry_mutex);
    auto it = registry().find(options.backend);
    if (it != registry().end()) factory = it->second.factory;
  }
  if (!factory && options.backend == "cuda") KVB_FAIL("{}", kCudaNotBuilt);
  KVB_CHECK(bool(factory), "unknown backend '{}' (built in: {})", options.backend, fmt::join(forward_backends(), ", "));
  return factory(config, weights, options);
}

}  // namespace kvb
