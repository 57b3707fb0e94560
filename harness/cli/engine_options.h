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

inline void add_matmul_option(CLI::App* cmd, std::string& matmul) {
  cmd->add_option("--matmul", matmul,
                  "cpu: projections in f32 (float32 on the dequantized weights, the reference) or int8 (Q4_0/Q4_1/Q8_0 "
                  "weights x int8 activations, and prefill attention scores in int8; AVX-512 VNNI, as llama.cpp; faster, "
                  "slightly different numbers)")
      ->check(CLI::IsMember({"f32", "int8"}))
      ->capture_default_str();
}

// --backend, --device-dtype and --matmul (the compute backend; RunnerOptions).
struct BackendFlags {
  std::string backend = "cpu";
  std::string device_dtype = "bf16";
  std::string matmul = "f32";
};

inline void add_backend_options(CLI::App* cmd, BackendFlags& b) {
  cmd->add_option("--backend", b.backend, "Compute backend: cpu (the reference) or cuda (kvbench list backends)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--device-dtype", b.device_dtype, "cuda: GEMM input type of the weights (fp32 accumulation)")
      ->check(CLI::IsMember({"bf16", "f16", "f32"}))
      ->capture_default_str();
  add_matmul_option(cmd, b.matmul);
}

}  // namespace kvb::cli
