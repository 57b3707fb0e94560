// Fuzz targets for the text files a sweep reads: sweep configs (YAML, JSON), dataset rows (jsonl
// through every row loader), DuoAttention head patterns and MInference best_pattern files
// (tests/fuzz/fuzz_targets.h).
#include <string>

#include "core/error.h"
#include "core/params.h"
#include "datasets/file_rows.h"
#include "eval/sweep_config.h"
#include "eval/task.h"
#include "fuzz_targets.h"
#include "kv/method.h"
#include "model/config.h"

namespace kvb::fuzz {

namespace {

void sweep_file(const std::string& name, const uint8_t* data, size_t size) {
  const auto path = write_scratch(name, data, size);
  try {
    const SweepConfig c = load_sweep_config(path);
    (void)expand_grid(c);
  } catch (const Error&) {
  }
}

}  // namespace

void sweep_yaml(const uint8_t* data, size_t size) { sweep_file("sweep.yaml", data, size); }
void sweep_json(const uint8_t* data, size_t size) { sweep_file("sweep.json", data, size); }

void dataset_rows(const uint8_t* data, size_t size) {
  const auto path = write_scratch("rows.jsonl", data, size);
  try {
    (void)datasets::read_jsonl(path.string());
  } catch (const Error&) {
  }
  try {
    (void)datasets::read_json(path.string());
  } catch (const Error&) {
  }
  for (const char* task : {"ruler_jsonl", "longbench", "kvpress_jsonl"}) {
    try {
      (void)generate_cases(task, TaskParams{{"file", path.string()}}, 0, TaskEnv{});
    } catch (const Error&) {
    }
  }
}

// Input: the .tsv text; with a NUL byte, the part before it is config.json (the directory form).
// The model shape the pattern files below must match: 2 layers of 4 query heads and 2 KV heads.
ModelConfig pattern_file_shape() {
  ModelConfig config;
  config.n_layers = 2;
  config.n_embd = 64;
  config.n_ff = 128;
  config.n_heads = 4;
  config.n_kv_heads = 2;
  config.head_dim = 16;
  config.vocab_size = 256;
  config.max_position = 1024;
  return config;
}

void duo_pattern(const uint8_t* data, size_t size) {
  const std::string all(reinterpret_cast<const char*>(data), size);
  const size_t nul = all.find('\0');
  std::filesystem::path pattern;
  if (nul == std::string::npos) {
    pattern = write_scratch("duo/full_attention_heads.tsv", data, size);
  } else {
    write_scratch("duo_dir/config.json", data, nul);
    write_scratch("duo_dir/full_attention_heads.tsv", data + nul + 1, size - nul - 1);
    pattern = scratch_dir() / "duo_dir";
  }
  const ModelConfig config = pattern_file_shape();
  MethodSpec spec;
  spec.id = "duo_attention";
  spec.params = Params{{"pattern", pattern.string()}};
  spec.compression_ratio = 0.5;
  try {
    (void)make_method(spec, config);
  } catch (const Error&) {
  }
}

void minference_pattern(const uint8_t* data, size_t size) {
  const auto pattern = write_scratch("minference/best_pattern.json", data, size);
  const ModelConfig config = pattern_file_shape();
  MethodSpec spec;
  spec.id = "minference";
  spec.params = Params{{"pattern", pattern.string()}};
  spec.compression_ratio = 0.5;
  try {
    (void)make_method(spec, config);
  } catch (const Error&) {
  }
}

}  // namespace kvb::fuzz
