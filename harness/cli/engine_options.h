// Engine flags shared by subcommands that run a model: --weights and --prefill-chunk.
#pragma once
#include <CLI/CLI.hpp>

#include <string>


namespace kvb::cli {

inline void add_engine_options(CLI::App* cmd, std::string& weights, int& prefill_chunk) {
  cmd->add_option("--prefill-chunk", prefill_chunk, "Tokens per prefill chunk")->capture_default_str();
  cmd->add_option("--weights", weights,
                  "native: keep weights in their stored type (dequantized on use); f32: dequantize all at load")
      ->check(CLI::IsMember({"native", "f32"}))
      ->capture_default_str();
}

// --backend and --device-dtype (the compute backend; RunnerOptions).
struct BackendFlags {
  std::string backend = "cpu";
  std::string device_dtype = "bf16";
};

inline void add_backend_options(CLI::App* cmd, BackendFlags& b) {
  cmd->add_option("--backend", b.backend, "Compute backend: cpu (the reference) or cuda (kvbench list backends)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--device-dtype", b.device_dtype, "cuda: GEMM input type of the weights (fp32 accumulation)")
      ->check(CLI::IsMember({"bf16", "f16", "f32"}))
      ->capture_default_str();
}

}  // namespace kvb::cli
