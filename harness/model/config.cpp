// ModelConfig validation: catches inconsistent hyper-parameters before any tensor is read.
#include "model/config.h"

#include "core/error.h"

namespace kvb {

void validate_config(const ModelConfig& c, const std::string& source) {
  auto positive = [&](int v, const char* key) {
    KVB_CHECK(v > 0, "{}: {} must be positive, got {}", source, key, v);
  };
  KVB_CHECK(c.arch == "llama" || c.arch == "mistral" || c.arch == "qwen2" || c.arch == "qwen3",
            "{}: unsupported architecture '{}' (supported: llama, mistral, qwen2, qwen3)", source, c.arch);
  positive(c.n_layers, "number of layers");
  positive(c.n_embd, "hidden size");
  positive(c.n_ff, "intermediate size");
  positive(c.n_heads, "number of attention heads");
  positive(c.n_kv_heads, "number of key/value heads");
  positive(c.head_dim, "head dimension");
  positive(c.vocab_size, "vocabulary size");
  KVB_CHECK(c.n_heads % c.n_kv_heads == 0, "{}: {} attention heads are not a multiple of {} key/value heads",
            source, c.n_heads, c.n_kv_heads);
  KVB_CHECK(c.head_dim % 2 == 0, "{}: head dimension {} must be even for RoPE", source, c.head_dim);
  KVB_CHECK(c.n_layers <= 1024 && c.n_embd <= (1 << 20) && c.head_dim <= 4096 && c.n_heads <= 4096,
            "{}: implausible model size (layers {}, hidden {}, heads {}, head_dim {})", source, c.n_layers,
            c.n_embd, c.n_heads, c.head_dim);
  KVB_CHECK(c.rms_eps > 0.0f && c.rms_eps < 1.0f, "{}: RMSNorm epsilon {} out of range", source, c.rms_eps);
  KVB_CHECK(c.rope_theta > 0.0f, "{}: rope theta must be positive, got {}", source, c.rope_theta);
  const auto& rs = c.rope_scaling;
  KVB_CHECK(rs.type == "none" || rs.type == "linear" || rs.type == "llama3",
            "{}: unsupported rope_scaling type '{}' (supported: linear, llama3)", source, rs.type);
  if (rs.type != "none") KVB_CHECK(rs.factor > 0.0f, "{}: rope_scaling factor must be positive", source);
}

}  // namespace kvb
