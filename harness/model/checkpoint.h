// A loaded model checkpoint: config, float32 weights, tokenizer spec and chat template.
// load_checkpoint() accepts a .gguf file or a Hugging Face directory (config.json,
// tokenizer.json, model.safetensors or model.safetensors.index.json).
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"
#include "model/raw_tensor.h"
#include "model/tokenizer.h"
#include "model/weight_matrix.h"

namespace kvb {

// Linear weights are [out, in] WeightMatrix objects in their stored type; norms and biases float32.
struct LayerWeights {
  Tensor attn_norm;               // [E]
  WeightMatrix wq, wk, wv, wo;    // [Hq*D, E], [Hkv*D, E], [Hkv*D, E], [E, Hq*D]
  Tensor bq, bk, bv;              // [Hq*D], [Hkv*D], [Hkv*D] (qwen2), else empty
  Tensor q_norm, k_norm;          // [D] (qwen3), else empty
  Tensor ffn_norm;                // [E]
  WeightMatrix w_gate, w_up;      // [F, E]
  WeightMatrix w_down;            // [E, F]
};

struct ModelWeights {
  WeightMatrix tok_embd;  // [V, E]
  Tensor output_norm;     // [E]
  WeightMatrix output;    // [V, E]; empty when tied to tok_embd
  std::vector<LayerWeights> layers;
  const WeightMatrix& lm_head() const { return output.empty() ? tok_embd : output; }
  size_t bytes() const;
  // Converts every weight matrix to float32 (reference mode, `--weights f32`).
  void dequantize_all();
};

struct Checkpoint {
  std::filesystem::path path;
  std::string format;  // "gguf" | "hf"
  ModelConfig config;
  ModelWeights weights;
  TokenizerSpec tokenizer;
  std::string chat_template;  // the checkpoint's template string, empty when absent
  std::string name() const;
};

// Looks up a tensor by its GGUF-style name ("blk.3.attn_q.weight"); returns nullptr if absent.
using TensorLookup = std::function<const RawTensor*(const std::string& gguf_name)>;

// Builds float32 weights, checking every shape against the config; errors name `source`.
ModelWeights assemble_weights(const ModelConfig& c, const TensorLookup& lookup, const std::string& source);

Checkpoint load_checkpoint(const std::filesystem::path& path);
Checkpoint load_gguf_checkpoint(const std::filesystem::path& path);
Checkpoint load_hf_checkpoint(const std::filesystem::path& dir);

}  // namespace kvb
