// The CPU reference forward pass (Llama family: llama, mistral, qwen2, qwen3) in float32, or with
// int8 projections (`--matmul int8`, int8_gemm.h): the "cpu" entry of the backend registry
// (backends/forward_backend.h). Exercise: `kvbench generate --model M --prompt TEXT`.
#pragma once
#include <memory>

#include "backends/forward_backend.h"

namespace kvb::cpu {

std::unique_ptr<ForwardBackend> make_cpu_forward(const ModelConfig& config, const ModelWeights& weights,
                                                 const EngineOptions& options);

}  // namespace kvb::cpu
