// Kernels chosen at run time (core/simd.h): every SIMD level this CPU runs is checked against
// the portable loop — the same bits where the kernels add in the same order (softmax, SwiGLU, int8
// quantizers, P.V), within a stated bound where they sum in a different order (fused quantized dots,
// decode attention scores: tests/test_cpu_ops.cpp) — and KVB_SIMD forces each level in a whole run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/blas_kernels.h"
#include "backends/cpu/int8_gemm.h"
#include "backends/cpu/ops.h"
#include "backends/cpu/quant_dot.h"
#include "core/simd.h"
#include "model/raw_tensor.h"
#include "test_util.h"

namespace kvb {
namespace {

constexpr cpu::SimdLevel kLevels[] = {cpu::SimdLevel::Portable, cpu::SimdLevel::Avx2, cpu::SimdLevel::Avx512};

std::vector<float> randn(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = scale * d(rng);
  return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(SimdKernels, LevelsAreOrderedAndNamed) {
  EXPECT_TRUE(cpu::simd_level_runs_here(cpu::SimdLevel::Portable));
  EXPECT_LE(cpu::simd_level(), cpu::cpu_simd_level());
  EXPECT_EQ(cpu::simd_level_name(cpu::SimdLevel::Avx2), "avx2");
  EXPECT_EQ(cpu::simd_level_name(cpu::SimdLevel::Avx512), "avx512");
  EXPECT_EQ(cpu::simd_level_name(cpu::SimdLevel::Portable), "portable");
}

TEST(SimdKernels, SoftmaxAndSwigluGiveThePortableBitsAtEveryLevel) {
  // Lengths around the 16-lane blocks and the 1024-element SwiGLU blocks; scores spread wide enough
  // that exp underflows for some (the -87 clamp) and inputs of both signs for SiLU.
  for (int64_t n : {1, 15, 16, 17, 100, 1023, 1025, 5000}) {
    const auto scores = randn(size_t(n) + 3, uint32_t(n), 12.0f);
    std::vector<float> ref(scores);
    cpu::masked_softmax(ref.data(), n, n + 3, cpu::SimdLevel::Portable);
    double sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += ref[size_t(j)];
    EXPECT_NEAR(sum, 1.0, 1e-5) << n;
    const auto gate = randn(size_t(n), uint32_t(n) + 1, 4.0f), up = randn(size_t(n), uint32_t(n) + 2, 1.0f);
    std::vector<float> silu_ref(static_cast<size_t>(n));
    cpu::swiglu(gate.data(), up.data(), silu_ref.data(), n, cpu::SimdLevel::Portable);
    for (int64_t i = 0; i < n; ++i) {
      const double g = gate[size_t(i)], want = g / (1 + std::exp(-g)) * up[size_t(i)];
      ASSERT_NEAR(silu_ref[size_t(i)], want, 1e-5 * (1 + std::fabs(want))) << i;
    }
    for (cpu::SimdLevel level : kLevels) {
      if (!cpu::simd_level_runs_here(level)) continue;
      std::vector<float> got(scores), silu(static_cast<size_t>(n));
      cpu::masked_softmax(got.data(), n, n + 3, level);
      cpu::swiglu(gate.data(), up.data(), silu.data(), n, level);
      EXPECT_TRUE(same_bits(got, ref)) << "softmax, " << cpu::simd_level_name(level) << ", n " << n;
      EXPECT_TRUE(same_bits(silu, silu_ref)) << "swiglu, " << cpu::simd_level_name(level) << ", n " << n;
    }
  }
}

// dot and the selectors' gathered dot_rows: the portable bits at every level, for lengths around the
// 16-lane blocks; dot_rows row r is exactly dot() of its gathered row (times scale, plus bias).
TEST(SimdKernels, DotAndGatheredDotRowsGiveThePortableBitsAtEveryLevel) {
  for (int64_t D : {1, 7, 16, 31, 64, 100, 128}) {
    const int64_t T = 50;
    const auto q = randn(size_t(D), uint32_t(D), 1.0f), K = randn(size_t(T * D), uint32_t(D) + 1, 3.0f);
    const auto bias = randn(size_t(T), uint32_t(D) + 2, 1.0f);
    const std::vector<int32_t> idx = {0, 3, 4, 17, 30, 49};
    std::vector<float> ref(idx.size());
    for (size_t r = 0; r < idx.size(); ++r)
      ref[r] = cpu::dot(q.data(), K.data() + idx[r] * D, D, cpu::SimdLevel::Portable) * 0.125f + bias[size_t(idx[r])];
    double worst = 0;  // against a double-precision sum: the fixed order is a correct dot product
    for (size_t r = 0; r < idx.size(); ++r) {
      double want = 0, mag = 0;
      for (int64_t d = 0; d < D; ++d) {
        want += double(q[size_t(d)]) * K[size_t(idx[r] * D + d)];
        mag += std::fabs(double(q[size_t(d)]) * K[size_t(idx[r] * D + d)]);
      }
      worst = std::max(worst, std::fabs((ref[r] - bias[size_t(idx[r])]) / 0.125 - want) / (mag + 1e-30));
    }
    EXPECT_LT(worst, 1e-6) << "D " << D;
    for (cpu::SimdLevel level : kLevels) {
      if (!cpu::simd_level_runs_here(level)) continue;
      std::vector<float> got(idx.size()), dots(idx.size()), all(static_cast<size_t>(T));
      cpu::dot_rows(q.data(), K.data(), idx.data(), int64_t(idx.size()), D, 0.125f, bias.data(), got.data(), level);
      for (size_t r = 0; r < idx.size(); ++r)
        dots[r] = cpu::dot(q.data(), K.data() + idx[r] * D, D, level) * 0.125f + bias[size_t(idx[r])];
      cpu::dot_rows(q.data(), K.data(), nullptr, T, D, 1.0f, nullptr, all.data(), level);  // rows 0..T-1
      EXPECT_TRUE(same_bits(got, ref)) << "dot_rows, " << cpu::simd_level_name(level) << ", D " << D;
      EXPECT_TRUE(same_bits(dots, ref)) << "dot, " << cpu::simd_level_name(level) << ", D " << D;
      EXPECT_EQ(all[17], cpu::dot(q.data(), K.data() + 17 * D, D, cpu::SimdLevel::Portable)) << "D " << D;
    }
  }
}

TEST(SimdKernels, FusedQuantizedDotsAtEveryLevelMatchDequantizeThenDot) {
  // Each level against double precision over the dequantized row, within 1e-5 of the sum of |products|
  // (the kernels add the products in different orders); Q4_0/Q4_1/Q8_0/BF16, ragged row counts.
  std::mt19937 rng(9);
  const int64_t cols = 512, rows = 7;
  const auto x = randn(cols, 21, 1.0f);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::BF16}) {
    const size_t row_bytes = dtype_nbytes(t, cols, "test");
    std::vector<uint8_t> data(row_bytes * rows);
    for (auto& b : data) b = uint8_t(rng());
    const int64_t bb = dtype_block_bytes(t), scale_bytes = t == DType::Q4_1 ? 4 : (t == DType::BF16 ? bb : 2);
    for (size_t off = 0; off < data.size(); off += size_t(bb))
      for (int64_t k = 1; k < scale_bytes; k += 2) data[off + k] &= 0x3B;  // finite, modest scales
    std::vector<float> dense(cols);
    for (cpu::SimdLevel level : kLevels) {
      if (!cpu::simd_level_runs_here(level)) continue;
      std::vector<float> fused(rows);
      cpu::fused_dot_rows(t, data.data(), rows, row_bytes, cols, x.data(), fused.data(), level);
      for (int64_t r = 0; r < rows; ++r) {
        convert_to_f32(t, data.data() + r * row_bytes, dense.data(), cols);
        double ref = 0, mag = 0;
        for (int64_t j = 0; j < cols; ++j) ref += double(dense[j]) * x[j], mag += std::fabs(double(dense[j]) * x[j]);
        ASSERT_NEAR(fused[size_t(r)], ref, 1e-5 * mag + 1e-6)
            << dtype_name(t) << " row " << r << " level " << cpu::simd_level_name(level);
      }
    }
  }
}

TEST(SimdKernels, DequantizationGivesThePortableBitsAtEveryLevel) {
  // Enough blocks for several parallel chunks, random bytes with finite scales, every block format.
  std::mt19937 rng(5);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q6_K}) {
    const int64_t n = 256 * 70;
    std::vector<uint8_t> data(dtype_nbytes(t, n, "test"));
    for (auto& b : data) b = uint8_t(rng() & 0xBB);  // clears bits 2 and 6 of every byte: fp16 scales stay finite
    std::vector<float> ref(static_cast<size_t>(n));
    convert_to_f32(t, data.data(), ref.data(), n, cpu::SimdLevel::Portable);
    for (float v : ref) ASSERT_TRUE(std::isfinite(v)) << dtype_name(t);
    if (t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q4_1) {  // the definition, block by block
      const int64_t bb = dtype_block_bytes(t);
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = data.data() + b * bb;
        const float d = fp16_to_f32(uint16_t(blk[0] | blk[1] << 8));
        const float m = t == DType::Q4_1 ? fp16_to_f32(uint16_t(blk[2] | blk[3] << 8)) : 0.0f;
        for (int j = 0; j < 32; ++j) {
          float want;
          if (t == DType::Q8_0) want = float(int8_t(blk[2 + j])) * d;
          else {
            const uint8_t byte = blk[(t == DType::Q4_1 ? 4 : 2) + j % 16];
            const int q = j < 16 ? byte & 0x0F : byte >> 4;
            want = t == DType::Q4_1 ? float(q) * d + m : float(q - 8) * d;
          }
          ASSERT_EQ(ref[size_t(b * 32 + j)], want) << dtype_name(t) << " block " << b << " element " << j;
        }
      }
    }
    for (cpu::SimdLevel level : kLevels) {
      if (!cpu::simd_level_runs_here(level)) continue;
      std::vector<float> got(static_cast<size_t>(n));
      convert_to_f32(t, data.data(), got.data(), n, level);
      EXPECT_TRUE(same_bits(got, ref)) << dtype_name(t) << " at " << cpu::simd_level_name(level);
    }
  }
}

TEST(SimdKernels, Int8QuantizersGiveThePortableBits) {
  // Blocks with exact rounding ties (amax 127: x * 127 / amax = x, so 2.5 -> 2 and -3.5 -> -4 under
  // nearest-even), an all-zero block and random ones: every quantizer this CPU runs, the same bits.
  const int64_t n = 5, cols = 128;
  auto x = randn(size_t(n * cols), 4, 3.0f);
  for (int j = 0; j < 32; ++j) x[size_t(j)] = j == 0 ? 127.0f : float(j % 7) - 3.5f + (j % 2 ? 1.0f : 0.0f);
  for (int j = 0; j < 32; ++j) x[size_t(32 + j)] = 0.0f;
  cpu::Q8Activations ref;
  cpu::quantize_q8(x.data(), n, cols, ref, cpu::Int8Kernel::Portable);
  EXPECT_EQ(ref.q[2], int8_t(-2));  // x[2] = -1.5 with d = 1 rounds to even
  int kernels = 0;
  for (cpu::Int8Kernel k : {cpu::Int8Kernel::Avx2, cpu::Int8Kernel::AvxVnni, cpu::Int8Kernel::Avx512Vnni}) {
    if (!cpu::int8_kernel_runs_here(k)) continue;
    ++kernels;
    cpu::Q8Activations got;
    cpu::quantize_q8(x.data(), n, cols, got, k);
    EXPECT_EQ(got.q, ref.q) << cpu::int8_kernel_name(k);
    EXPECT_EQ(got.qsum, ref.qsum) << cpu::int8_kernel_name(k);
    EXPECT_TRUE(same_bits(got.d, ref.d)) << cpu::int8_kernel_name(k);
    EXPECT_TRUE(same_bits(got.s, ref.s)) << cpu::int8_kernel_name(k);
  }
  if (kernels == 0) GTEST_SKIP() << "no AVX2 on this CPU: only the portable quantizer runs";
}

TEST(SimdKernels, EnvironmentForcesEachLevelInAWholeRun) {
  // KVB_SIMD caps every dispatched kernel (and the int8 choice); `list backends` and stored runs say
  // which ran; an unknown level or one above the CPU's is one error, exit 2. On SmolLM2 (head dim 64,
  // Q4_1 weights) each level generates the same greedy text as the default run.
  for (cpu::SimdLevel level : kLevels) {
    const std::string name(cpu::simd_level_name(level));
    // As a user starts it (this test binary has set OPENBLAS_CORETYPE for itself).
    const auto listed = test::run_kvbench_env("-u OPENBLAS_CORETYPE -u KVB_RUNTIME_REEXEC KVB_SIMD=" + name, "list backends");
    if (!cpu::simd_level_runs_here(level)) {
      EXPECT_EQ(listed.exit_code, 2) << name << ": " << listed.output;
      EXPECT_NE(listed.output.find("KVB_SIMD=" + name + ": this CPU runs at most"), std::string::npos) << listed.output;
      continue;
    }
    ASSERT_EQ(listed.exit_code, 0) << listed.output;
    EXPECT_NE(listed.output.find("kernels: " + name + " (this CPU: "), std::string::npos) << listed.output;
    if (level < cpu::cpu_simd_level()) {  // (at the CPU's own level OpenBLAS may name its own model, e.g. Cooperlake)
      EXPECT_NE(listed.output.find("OpenBLAS kernels: " + cpu::blas_kernels_for_level(level) + ";"), std::string::npos)
          << listed.output;
    }
    if (level < cpu::SimdLevel::Avx512) {
      EXPECT_EQ(listed.output.find("--matmul int8 kernel: avx512_vnni"), std::string::npos) << listed.output;
    }
  }
  const auto bad = test::run_kvbench_env("KVB_SIMD=sse9", "list backends");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("KVB_SIMD=sse9: expected portable, avx2 or avx512"), std::string::npos) << bad.output;

  KVB_REQUIRE_SMOLLM2();
  const std::string args = "generate -q --model " + test::smollm2_gguf().string() +
                           " --prompt 'The capital of France is' --max-new-tokens 12";
  const auto reference = test::run_kvbench(args);
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  for (cpu::SimdLevel level : kLevels) {
    if (!cpu::simd_level_runs_here(level)) continue;
    const std::string name(cpu::simd_level_name(level));
    const auto r = test::run_kvbench_env("KVB_SIMD=" + name, args);
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.output;
    EXPECT_EQ(r.output, reference.output) << name;
  }
}

}  // namespace
}  // namespace kvb
