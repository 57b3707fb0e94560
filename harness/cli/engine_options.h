// Engine flags shared by subcommands that run a model: --numerics and --weights.
#pragma once
#include <CLI/CLI.hpp>

#include <string>

#include "model/transformer.h"

namespace kvb::cli {

inline void add_engine_options(CLI::App* cmd, std::string& numerics, std::string& weights) {
  cmd->add_option("--numerics", numerics,
                  "float32: plain float32 arithmetic; llamacpp: llama.cpp's CPU rounding (8-bit activations for "
                  "quantized weights, fp16 attention), to compare continuations with llama.cpp")
      ->check(CLI::IsMember({"float32", "llamacpp"}))
      ->capture_default_str();
  cmd->add_option("--weights", weights,
                  "native: keep weights in their stored type (dequantized on use); f32: dequantize all at load")
      ->check(CLI::IsMember({"native", "f32"}))
      ->capture_default_str();
}

inline RunnerOptions runner_options(int prefill_chunk, const std::string& numerics) {
  RunnerOptions o;
  o.prefill_chunk = prefill_chunk;
  o.llamacpp_numerics = numerics == "llamacpp";
  return o;
}

}  // namespace kvb::cli
