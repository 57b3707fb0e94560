// Shared helpers for the test suite: fixture paths, optional model files, running the CLI.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/random.h"

namespace kvb::test {

// n normal samples of standard deviation `scale` (Box-Muller over the project's Rng).
inline std::vector<float> gaussian(uint64_t seed, size_t n, float scale = 1.0f) {
  Rng rng(seed);
  std::vector<float> x(n);
  for (auto& v : x) {
    const double u1 = 1.0 - rng.unit(), u2 = rng.unit();
    v = float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2)) * scale;
  }
  return x;
}

// Build facts, defined in test_paths.cpp (the only object compiled with the checkout's paths).
const char* tests_dir_path();     // tests/ of the checkout
const char* kvbench_binary();     // the kvbench built beside the tests
const char* test_tmp_path();      // a scratch folder in the build tree
const char* cuda_setting();       // the KVB_CUDA configure setting: ON, OFF or AUTO
const char* fuzz_seeds_path();    // the fuzz seeds written at build time (scripts/fuzz/make_seeds.py --binary-only)

inline std::filesystem::path tests_dir() { return tests_dir_path(); }
inline std::filesystem::path golden_dir() { return tests_dir() / "golden"; }
inline std::filesystem::path source_dir() { return tests_dir().parent_path(); }
inline std::filesystem::path shared_dir() { return source_dir().parent_path() / "shared"; }
inline std::filesystem::path stories260k() { return shared_dir() / "models/stories260K/stories260K.gguf"; }
inline std::filesystem::path smollm2_gguf() { return source_dir() / "models/SmolLM2-135M-Instruct.Q4_1.gguf"; }
inline std::filesystem::path tmp_dir() {
  std::filesystem::path p = test_tmp_path();
  std::filesystem::create_directories(p);
  return p;
}

// A path in tmp_dir() with no database there (nor its -wal / -shm files).
inline std::filesystem::path fresh_db(const std::string& name) {
  std::filesystem::path p = tmp_dir() / name;
  for (const char* ext : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + ext);
  return p;
}

// Bytes from a hex string ("00ff..."), as the text goldens store binary test vectors.
inline std::vector<uint8_t> from_hex(const std::string& s) {
  std::vector<uint8_t> out(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = uint8_t(std::stoul(s.substr(2 * i, 2), nullptr, 16));
  return out;
}

// Skips the current test with a clear message when the default model was not downloaded.
#define KVB_REQUIRE_SMOLLM2()                                                              \
  do {                                                                                     \
    if (!std::filesystem::exists(::kvb::test::smollm2_gguf()))                             \
      GTEST_SKIP() << "SmolLM2-135M-Instruct not found at " << ::kvb::test::smollm2_gguf() \
                   << "; run scripts/setup.sh to download it";                             \
  } while (0)

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs the kvbench binary with `args` (already shell-quoted), capturing stdout+stderr; `env`: extra
// environment settings ("NAME=value ...") for that run.
inline CommandResult run_kvbench_env(const std::string& env, const std::string& args) {
  std::string cmd = "env " + env + " '" + std::string(kvbench_binary()) + "' " + args + " 2>&1";
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}
inline CommandResult run_kvbench(const std::string& args) { return run_kvbench_env("", args); }

}  // namespace kvb::test
