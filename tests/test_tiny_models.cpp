// The run-time fixture generator (tests/counter_prng.h, tests/tiny_models.cpp) against its Python twin
// (scripts/parity/counter_prng.py, make_tiny_models.py): PRNG test vectors, the float16 rounding, the
// materialized checkpoints, and a clear error when a generated tensor does not match its digest.
// Run: ctest -R TinyModels
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "counter_prng.h"
#include "model/safetensors.h"
#include "test_util.h"
#include "tiny_models.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kModels[] = {"llama_gqa", "llama_linear", "qwen2_bias", "qwen3_qknorm", "mistral"};

json manifest(const std::string& name) {
  return json::parse(read_text_file(test::tiny_golden_dir(name) / "weights.json"));
}

uint64_t hex64(const json& j) { return std::stoull(j.get<std::string>(), nullptr, 16); }
double hexf(const json& j) { return std::strtod(j.get<std::string>().c_str(), nullptr); }

TEST(TinyModels, PrngMatchesPythonTestVectors) {
  for (const char* m : kModels) {
    const json v = manifest(m).at("prng_test_vectors");
    const uint64_t stream = test::prng::stream_of(v.at("stream_name").get<std::string>());
    EXPECT_EQ(stream, hex64(v.at("stream"))) << m;
    const uint64_t key = test::prng::key(v.at("seed").get<uint64_t>(), stream);
    for (uint64_t i = 0; i < 3; ++i) {
      EXPECT_EQ(test::prng::bits(key, i), hex64(v.at("bits")[i])) << m << " " << i;
      EXPECT_EQ(std::bit_cast<uint64_t>(test::prng::uniform(key, i)), std::bit_cast<uint64_t>(hexf(v.at("uniform")[i])));
      EXPECT_EQ(std::bit_cast<uint64_t>(test::prng::normal(key, i)), std::bit_cast<uint64_t>(hexf(v.at("normal")[i])));
    }
  }
}

#ifdef __FLT16_MAX__
// float32 -> float16 rounding (used for the f16 checkpoint) against the compiler's _Float16 conversion:
// every exponent with edge-case low bits (ties, just above / below), plus pseudo-random patterns.
TEST(TinyModels, F32ToF16MatchesCompiler) {
  auto check = [](uint32_t x) {
    const float f = std::bit_cast<float>(x);
    if (std::isnan(f)) return;
    ASSERT_EQ(test::prng::f32_to_f16(f), std::bit_cast<uint16_t>(static_cast<_Float16>(f))) << std::hex << x;
  };
  for (uint32_t e = 0; e < 256; ++e)
    for (uint32_t hi = 0; hi < 1024; ++hi)
      for (uint32_t lo : {0u, 1u, 0xFFFu, 0x1000u, 0x1001u, 0x1FFFu, 0x800u, 0x17FFu})
        for (uint32_t s : {0u, 0x80000000u}) check(s | (e << 23) | (hi << 13) | lo);
  const uint64_t key = test::prng::key(1, 2);
  for (uint64_t i = 0; i < 2000000; ++i) {
    const uint64_t b = test::prng::bits(key, i);
    check(uint32_t(b));
    check((uint32_t(b >> 32) & 0x87FFFFFFu) | 0x30000000u);  // exponents 96..127 (half subnormals and normals)
  }
}
#endif

// Every model materializes; the files hold exactly the tensors weights.json lists, with its shapes.
TEST(TinyModels, MaterializedCheckpointsMatchManifest) {
  for (const char* m : kModels) {
    const fs::path dir = test::tiny_model_dir(m);
    EXPECT_EQ(test::tiny_model_dir(m), dir) << "built once per process";
    EXPECT_TRUE(fs::exists(dir / "config.json")) << m;
    EXPECT_TRUE(fs::exists(dir / "golden.json")) << m;
    SafetensorsModel st(dir);
    const json man = manifest(m);  // named: a range-for over manifest(m).at(...) reads a destroyed temporary
    for (const json& t : man.at("tensors")) {
      const RawTensor* r = st.find(t.at("name").get<std::string>());
      ASSERT_NE(r, nullptr) << m << " " << t.at("name");
      EXPECT_EQ(r->shape, t.at("shape").get<std::vector<int64_t>>()) << m << " " << t.at("name");
      EXPECT_STREQ(dtype_name(r->dtype), t.at("dtype").get<std::string>().c_str()) << m << " " << t.at("name");
    }
  }
  EXPECT_TRUE(fs::exists(test::tiny_model_dir("llama_gqa") / "model-00001-of-00002.safetensors"));
  EXPECT_TRUE(fs::exists(test::tiny_model_dir("llama_gqa") / "model-00002-of-00002.safetensors"));
}

// A generated tensor that does not match its recorded digest stops the test with a message naming the
// model and the tensor.
TEST(TinyModels, DigestMismatchNamesModelAndTensor) {
  json man = manifest("qwen2_bias");
  json& t = man.at("tensors")[3];
  const std::string name = t.at("name").get<std::string>();
  t["fnv1a64"] = "0123456789abcdef";
  const fs::path dir = test::tmp_dir() / "tiny_models_bad_digest";
  fs::remove_all(dir);
  fs::create_directories(dir);
  try {
    test::write_tiny_weights(man, dir, "qwen2_bias");
    FAIL() << "no error for a wrong digest";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("tiny model 'qwen2_bias'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tensor '" + name + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("0123456789abcdef"), std::string::npos) << msg;
  }
  // A changed recipe (another seed) is caught the same way.
  json other = manifest("mistral");
  other["seed"] = other["seed"].get<uint64_t>() + 1;
  EXPECT_THROW(test::write_tiny_weights(other, dir, "mistral"), Error);
}

}  // namespace
}  // namespace kvb
