// The engine flags, bound in one place for every subcommand that runs a model: -t/--threads,
// --prefill-chunk, --backend, --device-dtype, --matmul (EngineOptions) and --weights.
#pragma once
#include <CLI/CLI.hpp>

#include <string>

#include "backends/forward_backend.h"

namespace kvb::cli {

inline void add_weights_option(CLI::App* cmd, std::string& weights) {
  cmd->add_option("--weights", weights,
                  "native: keep weights in their stored type (dequantized on use); f32: dequantize all at load")
      ->check(CLI::IsMember({"native", "f32"}))
      ->capture_default_str();
}

// `weights` (when given) binds --weights too.
inline void add_engine_options(CLI::App* cmd, EngineOptions& e, std::string* weights = nullptr) {
  if (weights) add_weights_option(cmd, *weights);
  cmd->add_option("-t,--threads", e.threads, "Threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--prefill-chunk", e.prefill_chunk, "Tokens per prefill chunk")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--backend", e.backend, "Compute backend: cpu (the reference) or cuda (kvbench list backends)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--device-dtype", e.device_dtype, "cuda: GEMM input type of the weights (fp32 accumulation)")
      ->check(CLI::IsMember({"bf16", "f16", "f32"}))
      ->capture_default_str();
  cmd->add_option("--matmul", e.matmul,
                  "cpu: projections in f32 (float32 on the dequantized weights, the reference) or int8 (Q4_0/Q4_1/Q8_0 "
                  "weights x int8 activations, and prefill attention scores in int8; AVX-512 VNNI, as llama.cpp; faster, "
                  "slightly different numbers)")
      ->check(CLI::IsMember({"f32", "int8"}))
      ->capture_default_str();
}

}  // namespace kvb::cli
