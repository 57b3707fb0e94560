// The parsers kvbench runs on files users bring, each wrapped as a fuzz target: bytes in, and the
// parser either succeeds or throws kvb::Error (the CLI's one "error:" line, exit 2). Anything else
// (another exception, a sanitizer report, a crash, a hang) is a finding. The same functions back the
// libFuzzer binaries (tests/fuzz/fuzz_main.cpp, -DKVB_FUZZ=ON, scripts/fuzz.sh) and the replay test
// tests/test_fuzz_regressions.cpp that runs every seed and every past crash in the normal build.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

namespace kvb::fuzz {

// Runs one input; returns normally unless the parser misbehaved.
using TargetFn = void (*)(const uint8_t* data, size_t size);

struct Target {
  const char* name;         // = the folder under tests/fuzz/corpus and tests/fuzz/regressions
  TargetFn run;
  const char* description;  // what the input is and which code reads it
};

// Every target, in a fixed order.
const std::vector<Target>& targets();
const Target* find_target(std::string_view name);

// A folder private to this process for the files a path-taking parser reads (under $TMPDIR).
const std::filesystem::path& scratch_dir();
// Writes the bytes to scratch_dir() / name and returns the path.
std::filesystem::path write_scratch(const std::string& name, const uint8_t* data, size_t size);

// The targets (tests/fuzz/targets_*.cpp).
void gguf(const uint8_t* data, size_t size);
void safetensors(const uint8_t* data, size_t size);
void tokenizer_json(const uint8_t* data, size_t size);
void chat_template(const uint8_t* data, size_t size);
void sweep_yaml(const uint8_t* data, size_t size);
void sweep_json(const uint8_t* data, size_t size);
void dataset_rows(const uint8_t* data, size_t size);
void duo_pattern(const uint8_t* data, size_t size);
void minference_pattern(const uint8_t* data, size_t size);
void results_db(const uint8_t* data, size_t size);

}  // namespace kvb::fuzz
