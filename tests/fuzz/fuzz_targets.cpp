// The target table and the scratch folder the path-taking parsers read from (tests/fuzz/fuzz_targets.h).
#include "fuzz_targets.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace kvb::fuzz {

namespace fs = std::filesystem;

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"gguf", gguf, "a .gguf checkpoint: GgufFile, load_gguf_checkpoint, then its tokenizer encodes a sample"},
      {"safetensors", safetensors, "a .safetensors file: header length, JSON header, every tensor's bounds"},
      {"tokenizer_json", tokenizer_json, "a Hugging Face tokenizer.json: load_hf_tokenizer, make_tokenizer, encode"},
      {"chat_template", chat_template, "a checkpoint's chat template text (auto detection) and message contents"},
      {"sweep_yaml", sweep_yaml, "a sweep config in YAML: load_sweep_config, expand_grid"},
      {"sweep_json", sweep_json, "a sweep config in JSON: load_sweep_config, expand_grid"},
      {"dataset_rows", dataset_rows, "a jsonl file through read_jsonl and the ruler_jsonl, longbench, kvpress_jsonl loaders"},
      {"duo_pattern", duo_pattern, "DuoAttention's full_attention_heads.tsv (and config.json before a NUL byte)"},
      {"minference_pattern", minference_pattern, "MInference's best_pattern JSON (layer -> head -> [type, v, s, score])"},
      {"results_db", results_db, "a results database: opened read-only, counted, merged into a fresh one"},
  };
  return all;
}

const Target* find_target(std::string_view name) {
  for (const Target& t : targets())
    if (name == t.name) return &t;
  return nullptr;
}

const fs::path& scratch_dir() {
  static const fs::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    fs::path d = fs::path(tmp && *tmp ? tmp : "/tmp") / ("kvb_fuzz_" + std::to_string(getpid()));
    fs::create_directories(d);
    std::atexit([] { std::error_code ec; fs::remove_all(scratch_dir(), ec); });
    return d;
  }();
  return dir;
}

fs::path write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  const fs::path p = scratch_dir() / name;
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", p.c_str());
    std::abort();
  }
  return p;
}

}  // namespace kvb::fuzz
