// Model hyper-parameters shared by every checkpoint format (GGUF, Hugging Face directory).
// Architectures: llama (Llama 2/3/3.1, SmolLM2), mistral, qwen2 (q/k/v bias), qwen3 (q/k RMSNorm).
#pragma once
#include <string>
#include <vector>

namespace kvb {

struct RopeScaling {
  std::string type = "none";  // "none" | "linear" | "llama3"
  float factor = 1.0f;
  float low_freq_factor = 1.0f;          // llama3
  float high_freq_factor = 4.0f;         // llama3
  int original_max_position = 8192;      // llama3
};

struct ModelConfig {
  std::string arch = "llama";  // "llama" | "mistral" | "qwen2" | "qwen3"
  int n_layers = 0;
  int n_embd = 0;      // E
  int n_ff = 0;        // F
  int n_heads = 0;     // Hq
  int n_kv_heads = 0;  // Hkv
  int head_dim = 0;    // D
  int vocab_size = 0;  // V
  int max_position = 0;
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  RopeScaling rope_scaling;
  // true: RoPE rotates the two halves of each head (Hugging Face layout, GGUF qwen2/qwen3);
  // false: RoPE rotates adjacent pairs (GGUF llama layout, whose q/k weights were permuted).
  bool rope_neox = true;
  bool qkv_bias = false;        // qwen2
  bool qk_norm = false;         // qwen3
  bool tied_embeddings = false;
  int sliding_window = 0;       // mistral; 0 = none (recorded, not applied)
  std::vector<float> rope_freq_factors;  // GGUF rope_freqs.weight [D/2]: inv_freq[i] /= factor[i]; empty = none
  int n_rot() const { return head_dim; }
  int group_size() const { return n_heads / n_kv_heads; }
};

// Throws kvb::Error naming `source` when the values are inconsistent.
void validate_config(const ModelConfig& c, const std::string& source);

}  // namespace kvb
