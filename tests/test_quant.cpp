// Dequantization tests: kvbench's convert_to_f32 against gguf-py's dequantize() (golden test vectors
// tests/golden/quant/blocks.json from scripts/parity/gguf_quant_golden.py), bit for bit, plus fp16/bf16.
// Run: ctest -R Quant
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "counter_prng.h"
#include "model/gguf.h"
#include "model/raw_tensor.h"
#include "test_util.h"

namespace kvb {
namespace {

std::filesystem::path golden_blocks() { return test::golden_dir() / "quant" / "blocks.json"; }

TEST(Quant, DTypeTable) {
  EXPECT_STREQ(dtype_name(DType::Q4_K), "Q4_K");
  EXPECT_EQ(dtype_block_elems(DType::F32), 1);
  EXPECT_EQ(dtype_block_bytes(DType::F32), 4);
  EXPECT_EQ(dtype_block_bytes(DType::BF16), 2);
  EXPECT_EQ(dtype_block_elems(DType::Q8_0), 32);
  EXPECT_EQ(dtype_block_bytes(DType::Q8_0), 34);
  EXPECT_EQ(dtype_block_bytes(DType::Q4_0), 18);
  EXPECT_EQ(dtype_block_bytes(DType::Q4_1), 20);
  EXPECT_EQ(dtype_block_elems(DType::Q4_K), 256);
  EXPECT_EQ(dtype_block_bytes(DType::Q4_K), 144);
  EXPECT_EQ(dtype_block_bytes(DType::Q6_K), 210);
  EXPECT_EQ(dtype_nbytes(DType::Q4_1, 576 * 2, "x"), size_t(36 * 20));
  // Every DType has a matching ggml type with the same layout.
  for (DType t :
       {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q6_K}) {
    const GgmlTypeInfo* g = ggml_type_info(ggml_type_of(t));
    ASSERT_NE(g, nullptr);
    EXPECT_STREQ(g->name, dtype_name(t));
    EXPECT_EQ(g->block_elems, dtype_block_elems(t));
    EXPECT_EQ(g->block_bytes, dtype_block_bytes(t));
    EXPECT_EQ(dtype_from_ggml(g->id), t);
  }
}

TEST(Quant, PartialBlockIsAnError) {
  try {
    dtype_nbytes(DType::Q4_K, 300, "tensor 'w'");
    FAIL() << "expected kvb::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'w'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Q4_K"), std::string::npos) << e.what();
  }
  std::vector<uint8_t> src(34);
  std::vector<float> dst(40);
  EXPECT_THROW(convert_to_f32(DType::Q8_0, src.data(), dst.data(), 40), Error);
  RawTensor t;
  t.name = "w";
  t.dtype = DType::Q8_0;
  t.shape = {1, 32};
  t.data = src.data();
  t.nbytes = 33;  // one byte short of a block
  EXPECT_THROW(to_f32(t), Error);
}

// Every half-precision bit pattern, against the compiler's own _Float16 conversion where available.
TEST(Quant, Fp16AllValues) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_f32(uint16_t(h));
    const uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    if (exp == 0x1F && mant != 0) {
      EXPECT_TRUE(std::isnan(f)) << h;
      continue;
    }
    // Reference from the definition: (-1)^s * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024.
    double ref = exp == 0      ? std::ldexp(double(mant), -24)
                 : exp == 0x1F ? INFINITY
                               : std::ldexp(1.0 + double(mant) / 1024.0, int(exp) - 15);
    if (h & 0x8000) ref = -ref;
    ASSERT_EQ(std::bit_cast<uint32_t>(f), std::bit_cast<uint32_t>(float(ref))) << "half 0x" << std::hex << h;
#ifdef __FLT16_MAX__
    ASSERT_EQ(std::bit_cast<uint32_t>(f), std::bit_cast<uint32_t>(float(std::bit_cast<_Float16>(uint16_t(h)))));
#endif
  }
}

TEST(Quant, Bf16RoundTrip) {
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xC000), -2.0f);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  // Round to nearest, ties to even: 1 + 2^-8 is exactly half-way between 1 and 1 + 2^-7.
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-7f + 0x1p-8f), 0x3F82);
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81);
  EXPECT_EQ(f32_to_bf16(INFINITY), 0x7F80);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7F80) == 0x7F80 && (h & 0x7F)) continue;  // NaN
    ASSERT_EQ(f32_to_bf16(bf16_to_f32(uint16_t(h))), h);
  }
}

// The golden file (tests/golden/quant/blocks.json, scripts/parity/gguf_quant_golden.py) holds, per case,
// gguf-py's dequantize() of some block bytes as exact float32 bit patterns. The bytes are either rebuilt
// here from the counter PRNG by the recipe the file states (checked against its FNV-1a 64 digest) or,
// for gguf-py's own quantize() output, stored as hex. Equality is exact: same operations, same rounding,
// no FMA.
const nlohmann::json& golden() {
  static const nlohmann::json j = nlohmann::json::parse(read_text_file(golden_blocks()));
  return j;
}

DType dtype_named(const std::string& name) {
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q6_K})
    if (name == dtype_name(t)) return t;
  KVB_FAIL("unknown type '{}'", name);
}

// The raw bytes of one golden case (see gguf_quant_golden.py's docstring for the PRNG recipes).
std::vector<uint8_t> case_bytes(const nlohmann::json& c, uint64_t seed) {
  namespace prng = test::prng;
  const std::string source = c.at("source"), name = c.at("name");
  if (source == "gguf_quantize") return test::from_hex(c.at("bytes_hex"));
  const uint64_t key = prng::key(seed, prng::stream_of(name));
  std::vector<uint8_t> b;
  if (source == "prng_blocks") {
    const size_t block = size_t(dtype_block_bytes(dtype_named(c.at("type"))));
    const size_t n_blocks = c.at("n_blocks");
    b.resize(n_blocks * block);
    for (size_t j = 0; j < b.size(); ++j) b[j] = uint8_t(prng::bits(key, j) & 0xFF);
    for (const auto& f : c.at("scale_fields")) {
      const size_t at = f.at("at");
      const uint64_t lo = f.at("exp_min"), hi = f.at("exp_max");
      const uint64_t fkey = prng::key(seed, prng::stream_of(name + "@" + std::to_string(at)));
      for (size_t blk = 0; blk < n_blocks; ++blk) {
        const uint64_t r = prng::bits(fkey, blk);
        const uint64_t h = blk == 0   ? 0x0000
                           : blk == 1 ? 0x0003
                           : blk == 2 ? 0x8000 | (hi << 10)
                                      : ((r & 1) << 15) | ((lo + (r >> 1) % (hi - lo + 1)) << 10) | ((r >> 8) & 0x3FF);
        b[blk * block + at] = uint8_t(h & 0xFF);
        b[blk * block + at + 1] = uint8_t(h >> 8);
      }
    }
  } else if (source == "prng_half_bits") {
    const size_t n = c.at("n");
    const auto& special = c.at("special");
    const uint16_t mask = uint16_t(std::stoul(c.at("inf_mask").get<std::string>(), nullptr, 16));
    for (size_t i = 0; i < n; ++i) {
      uint16_t r = uint16_t(prng::bits(key, i) & 0xFFFF);
      if ((r & mask) == mask) r ^= 0x4000;
      if (i < special.size()) r = uint16_t(std::stoul(special[i].get<std::string>(), nullptr, 16));
      b.push_back(uint8_t(r & 0xFF));
      b.push_back(uint8_t(r >> 8));
    }
  } else {
    ADD_FAILURE() << name << ": unknown source '" << source << "'";
  }
  return b;
}

TEST(Quant, GoldenDequantizationMatchesGgufPy) {
  ASSERT_TRUE(std::filesystem::exists(golden_blocks()))
      << golden_blocks() << " missing; run scripts/parity/gguf_quant_golden.py";
  const uint64_t seed = golden().at("seed");
  std::set<std::string> covered, sources;
  int cases = 0;
  for (const auto& c : golden().at("cases")) {
    const std::string name = c.at("name");
    const DType t = dtype_named(c.at("type"));
    const std::vector<uint8_t> bytes = case_bytes(c, seed);
    EXPECT_EQ(fmt::format("{:016x}", test::prng::fnv1a64(bytes.data(), bytes.size())),
              c.at("bytes_fnv1a64").get<std::string>())
        << name << ": block bytes differ from gguf_quant_golden.py's (tests/counter_prng.h or the recipe here out of "
        << "step with scripts/parity/counter_prng.py?)";
    const int64_t rows = c.at("rows"), row_elems = c.at("row_elems");
    const size_t row_bytes = dtype_nbytes(t, row_elems, name);
    ASSERT_EQ(bytes.size(), size_t(rows) * row_bytes) << name;
    size_t mismatches = 0;
    std::vector<float> got(static_cast<size_t>(row_elems));
    for (int64_t r = 0; r < rows; ++r) {
      convert_to_f32(t, bytes.data() + size_t(r) * row_bytes, got.data(), row_elems);
      const std::string want = c.at("expected_f32_bits")[size_t(r)];
      ASSERT_EQ(want.size(), size_t(row_elems) * 8) << name;
      for (int64_t i = 0; i < row_elems; ++i) {
        const uint32_t w = uint32_t(std::stoul(want.substr(size_t(i) * 8, 8), nullptr, 16));
        if (std::bit_cast<uint32_t>(got[size_t(i)]) != w && ++mismatches <= 5)
          ADD_FAILURE() << name << "[" << r << "][" << i << "]: kvbench " << got[size_t(i)] << " vs gguf-py "
                        << std::bit_cast<float>(w);
      }
    }
    EXPECT_EQ(mismatches, 0u) << name << " (" << dtype_name(t) << ", " << rows * row_elems << " values)";
    covered.insert(dtype_name(t));
    sources.insert(c.at("source").get<std::string>());
    ++cases;
  }
  EXPECT_EQ(covered, (std::set<std::string>{"Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q6_K", "F16", "BF16"}));
  EXPECT_EQ(sources, (std::set<std::string>{"prng_blocks", "prng_half_bits", "gguf_quantize"}));
  EXPECT_GE(cases, 10);
}

// Hand-built blocks with known values, independent of the golden file.
TEST(Quant, HandBuiltBlocks) {
  auto put_f16 = [](uint8_t* p, uint16_t h) { std::memcpy(p, &h, 2); };
  // Q8_0, d = 0.5: q = -128..127 pattern.
  {
    uint8_t b[34];
    put_f16(b, 0x3800);  // 0.5
    for (int j = 0; j < 32; ++j) b[2 + j] = uint8_t(int8_t(j * 8 - 128));
    float y[32];
    convert_to_f32(DType::Q8_0, b, y, 32);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.5f * float(j * 8 - 128));
  }
  // Q4_0, d = 2: byte j = (j low, 15 - j high) -> y[j] = 2 (j - 8), y[j+16] = 2 (7 - j).
  {
    uint8_t b[18];
    put_f16(b, 0x4000);
    for (int j = 0; j < 16; ++j) b[2 + j] = uint8_t(j | ((15 - j) << 4));
    float y[32];
    convert_to_f32(DType::Q4_0, b, y, 32);
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(y[j], 2.0f * float(j - 8));
      EXPECT_EQ(y[j + 16], 2.0f * float(7 - j));
    }
  }
  // Q4_1, d = 1, m = -4: y = q - 4.
  {
    uint8_t b[20];
    put_f16(b, 0x3C00);
    put_f16(b + 2, 0xC400);
    for (int j = 0; j < 16; ++j) b[4 + j] = uint8_t(j | (j << 4));
    float y[32];
    convert_to_f32(DType::Q4_1, b, y, 32);
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(y[j], float(j) - 4.0f);
      EXPECT_EQ(y[j + 16], float(j) - 4.0f);
    }
  }
  // Q4_K: d = 1, dmin = 1, sub-block s has scale s + 1 and min s (scales 4-7 use the split encoding).
  {
    uint8_t b[144] = {};
    put_f16(b, 0x3C00);
    put_f16(b + 2, 0x3C00);
    uint8_t* sc = b + 4;
    for (int s = 0; s < 4; ++s) {
      sc[s] = uint8_t(s + 1);  // scale s (6 bits), top 2 bits: high bits of scale s+4 (0)
      sc[s + 4] = uint8_t(s);  // min s
    }
    for (int s = 4; s < 8; ++s) sc[s + 4] = uint8_t(((s + 1) & 0xF) | ((s & 0xF) << 4));
    for (int l = 0; l < 128; ++l) b[16 + l] = uint8_t(0x3 | (0x5 << 4));  // low nibble 3, high nibble 5
    float y[256];
    convert_to_f32(DType::Q4_K, b, y, 256);
    for (int s = 0; s < 8; ++s)
      for (int l = 0; l < 32; ++l) EXPECT_EQ(y[s * 32 + l], float(s + 1) * float(s % 2 ? 5 : 3) - float(s)) << s;
  }
  // Q6_K: d = 1, all 16 scales = 1, every 6-bit q = 33 (y = 1).
  {
    uint8_t b[210] = {};
    for (int l = 0; l < 128; ++l) b[l] = 0x11;       // low nibbles 1
    for (int l = 0; l < 64; ++l) b[128 + l] = 0xAA;  // high bits 2 (binary 10) for every element
    for (int s = 0; s < 16; ++s) b[192 + s] = 1;
    put_f16(b + 208, 0x3C00);
    float y[256];
    convert_to_f32(DType::Q6_K, b, y, 256);
    for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], 1.0f) << i;  // (1 | 2 << 4) - 32 = 1
  }
}

}  // namespace
}  // namespace kvb
