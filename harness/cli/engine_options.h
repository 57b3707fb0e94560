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


}  // namespace kvb::cli
