// Tiny random-weight Hugging Face checkpoints for the tests, rebuilt at run time: the repository keeps
// only their config, tokenizer, goldens and weights.json (tests/golden/tiny/<name>/, written by
// scripts/parity/make_tiny_models.py); the safetensors files are generated here from the counter PRNG
// (tests/counter_prng.h) and every tensor is checked against the digest weights.json records.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace kvb::test {

// The committed files of tiny model `name` (no weights): tests/golden/tiny/<name>.
std::filesystem::path tiny_golden_dir(const std::string& name);

// A loadable checkpoint directory for tiny model `name` ("llama_gqa", "llama_linear", "qwen2_bias",
// "qwen3_qknorm", "mistral"): the committed files plus the generated safetensors file(s), built once per
// process under tmp_dir()/tiny_models.<pid>/ (removed when the process exits). Throws kvb::Error naming
// the model and the tensor if a generated tensor's digest differs from weights.json.
std::filesystem::path tiny_model_dir(const std::string& name);

// Writes the safetensors file(s) that `manifest` (a parsed weights.json) describes into `dir`, checking
// each tensor's FNV-1a 64 digest; `model` only names the model in error messages.
void write_tiny_weights(const nlohmann::json& manifest, const std::filesystem::path& dir, const std::string& model);

}  // namespace kvb::test
