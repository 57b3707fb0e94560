// Hugging Face parity: tiny random-weight checkpoints written by scripts/parity/make_tiny_models.py
// (llama GQA + llama3 RoPE scaling, sharded; llama linear scaling; qwen2 bias; qwen3 q/k-norm;
// mistral) load through the HF directory path and reproduce transformers' logits.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/checkpoint.h"
#include "engine/transformer.h"
#include "test_util.h"
#include "tiny_models.h"

namespace kvb {
namespace {

class HfParity : public ::testing::TestWithParam<std::string> {};

TEST_P(HfParity, LogitsMatchTransformers) {
  const auto dir = test::tiny_model_dir(GetParam());
  nlohmann::json golden = nlohmann::json::parse(std::ifstream(dir / "golden.json"));
  Checkpoint ck = load_checkpoint(dir);
  EXPECT_EQ(ck.format, "hf");
  EXPECT_EQ(ck.config.arch, golden["model_type"].get<std::string>());
  Transformer model(ck.config, ck.weights, {16});  // several prefill chunks for the long prompt
  const int64_t V = ck.config.vocab_size;
  for (size_t p = 0; p < golden["prompts"].size(); ++p) {
    auto ids = golden["prompts"][p].get<std::vector<int32_t>>();
    const auto& ref = golden["logits"][p];
    KVCache cache = model.make_cache();
    Tensor logits = model.forward(ids, cache, LogitRows::All);
    double max_diff = 0, max_ref = 0;
    for (size_t t = 0; t < ids.size(); ++t) {
      for (int64_t v = 0; v < V; ++v) {
        const double r = ref[t][v].get<double>();
        max_diff = std::max(max_diff, std::fabs(logits.data[t * V + v] - r));
        max_ref = std::max(max_ref, std::fabs(r));
      }
    }
    const double rel = max_diff / max_ref;
    std::printf("%s prompt %zu (%zu tokens): max |diff| %.3g, max |logit| %.3g, relative %.3g\n", GetParam().c_str(), p,
                ids.size(), max_diff, max_ref, rel);
    EXPECT_LE(rel, 1e-4) << GetParam() << " prompt " << p;
  }
}

INSTANTIATE_TEST_SUITE_P(TinyModels, HfParity,
                         ::testing::Values("llama_gqa", "llama_linear", "qwen2_bias", "qwen3_qknorm", "mistral"));

}  // namespace
}  // namespace kvb

namespace kvb {
namespace {

// transformers >= 5 writes rope settings only as "rope_parameters": same model, same logits.
TEST(HfConfig, RopeParametersFormMatchesLegacyKeys) {
  namespace fs = std::filesystem;
  const fs::path src = test::tiny_model_dir("llama_gqa");
  const fs::path dir = test::tmp_dir() / "rope_parameters";
  fs::remove_all(dir);
  fs::copy(src, dir, fs::copy_options::recursive);
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(dir / "config.json"));
  nlohmann::json params = cfg["rope_scaling"];
  params["rope_theta"] = cfg["rope_theta"];
  cfg.erase("rope_scaling");
  cfg.erase("rope_theta");
  cfg["rope_parameters"] = params;
  std::ofstream(dir / "config.json") << cfg.dump(2);
  Checkpoint a = load_checkpoint(src), b = load_checkpoint(dir);
  EXPECT_EQ(b.config.rope_scaling.type, "llama3");
  EXPECT_EQ(b.config.rope_theta, a.config.rope_theta);
  EXPECT_EQ(b.config.rope_scaling.factor, a.config.rope_scaling.factor);
  EXPECT_EQ(b.config.rope_scaling.original_max_position, a.config.rope_scaling.original_max_position);
}

}  // namespace
}  // namespace kvb
