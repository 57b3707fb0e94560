// The recall oracle: a two-layer Llama checkpoint built by construction (previous-token head whose
// RoPE kernel a linear program chooses, induction/retrieval head with a BOS sink, local heads with a
// recency kernel, GQA), following ../shared/docs/oracle-model.md; details in docs/oracle.md.
// Exercise: `kvbench make-model oracle --out DIR`, `--model builtin:oracle`; tests/test_oracle*.cpp.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace kvb {

// Vocabulary layout shared with the symbolic task forms (tasks/niah_symbolic.cpp, mqar): id 0 is BOS
// (the attention sink, content zero), 1 EOS, 2 SEP; ids >= 3 are words. The model itself treats
// every id except BOS alike; tasks keep keys, values and filler in disjoint ranges.
namespace oracle_vocab {
inline constexpr int32_t kBos = 0, kEos = 1, kSep = 2, kFirstWord = 3;
}
// The word written for a token id ("<s>", "</s>", "<sep>", then three-syllable words).
std::string oracle_word(int32_t id);

struct OracleOptions {
  uint64_t seed = 0;     // content vectors e_t
  int vocab = 8192;      // V
  int max_len = 32768;   // positions the RoPE kernels are designed (and checked) for
  // Query-head roles per layer, layers separated by '/', heads by ',': layer 0 takes prev | local[:W],
  // layer 1 retrieval | local[:W]. Heads h*G .. h*G+G-1 share KV head h (G = heads / kv_heads).
  std::string heads = "prev,local:16,local:64,local:256/retrieval,local:32,retrieval,local:128";
  int kv_heads = 2;
};

// "v<construction version> seed=.. vocab=.. max_len=.. heads=.. kv_heads=..": what the checkpoint is a
// pure function of (the cache key of builtin:oracle).
std::string oracle_options_key(const OracleOptions& o);

// One designed RoPE kernel: logit(d) = scale * sum_j (u_j cos(d theta_j) + v_j sin(d theta_j)) / sqrt(D).
struct OracleKernel {
  std::string role;            // "prev" | "local"
  int layer = 0, window = 0;   // window: local heads
  int first_pair = 0;          // pairs first_pair .. first_pair + u.size() - 1
  std::vector<double> u, v;    // [P] in [-1, 1]
  double margin = 0.0;         // min over the LP's constraints of the designed gap (checked at every d)
  double scale = 0.0;          // s
  int lp_rounds = 0, pivots = 0;
};

struct OracleReport {
  std::vector<OracleKernel> kernels;
  size_t safetensors_bytes = 0;
};

// Writes config.json, model.safetensors (F32), tokenizer.json and tokenizer_config.json into `dir`
// (created if needed). Byte-identical for identical options. Throws kvb::Error on bad options.
OracleReport write_oracle_checkpoint(const OracleOptions& o, const std::filesystem::path& dir);

// Designs the kernels only (what write_oracle_checkpoint puts in the weights).
std::vector<OracleKernel> design_oracle_kernels(const OracleOptions& o);

// "builtin:oracle" or "builtin:oracle?seed=1&vocab=512&max_len=1024&heads=...&kv_heads=2".
bool is_builtin_oracle(std::string_view name);
OracleOptions parse_builtin_oracle(std::string_view name);
// $KVB_CACHE_DIR, else $XDG_CACHE_HOME/kvbench, else ~/.cache/kvbench.
std::filesystem::path kvbench_cache_dir();
// The cached checkpoint directory for `name` (builtin:oracle...), written on first use.
std::filesystem::path builtin_oracle_path(std::string_view name);

}  // namespace kvb
