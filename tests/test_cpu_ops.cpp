// CPU reference ops against direct formulas: attention (prefill GEMM path and decode path),
// RoPE layouts and scaling, RMSNorm.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backends/cpu/ops.h"
#include "backends/cpu/quant_dot.h"

namespace kvb {
namespace {

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Naive causal attention of q [n, Hq*D] over cache rows; the last n rows of each head are the queries' own.
std::vector<float> naive_attention(const std::vector<float>& q, int64_t n, const KVCache& c, int layer, int Hq) {
  const int64_t D = c.head_dim(), group = Hq / c.n_kv_heads();
  std::vector<float> out(n * Hq * D, 0.0f);
  for (int qh = 0; qh < Hq; ++qh) {
    const HeadCache& h = c.head(layer, qh / group);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t valid = h.size() - n + i + 1;
      std::vector<double> s(valid);
      double mx = -1e30, sum = 0;
      for (int64_t j = 0; j < valid; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < D; ++d) dot += double(q[i * Hq * D + qh * D + d]) * h.keys[j * D + d];
        s[j] = dot / std::sqrt(double(D));
        mx = std::max(mx, s[j]);
      }
      for (auto& x : s) sum += (x = std::exp(x - mx));
      for (int64_t j = 0; j < valid; ++j)
        for (int64_t d = 0; d < D; ++d) out[i * Hq * D + qh * D + d] += float(s[j] / sum * h.values[j * D + d]);
    }
  }
  return out;
}

KVCache random_cache(int64_t T, int Hkv, int D, uint32_t seed) {
  KVCache c(1, Hkv, D);
  auto k = randn(T * Hkv * D, seed), v = randn(T * Hkv * D, seed + 1);
  std::vector<int32_t> pos(T);
  for (int64_t i = 0; i < T; ++i) pos[i] = int32_t(i);
  for (int h = 0; h < Hkv; ++h) c.append(0, h, k.data() + h * D, v.data() + h * D, Hkv * D, pos.data(), T);
  return c;
}

TEST(CpuOps, PrefillAttentionMatchesNaive) {
  const int Hq = 6, Hkv = 2, D = 16;
  const int64_t T = 37, n = 11;
  KVCache c = random_cache(T, Hkv, D, 7);
  auto q = randn(n * Hq * D, 3);
  std::vector<float> out(n * Hq * D);
  std::vector<std::vector<float>> mass;
  cpu::attention(q.data(), n, c, 0, Hq, 1.0f / std::sqrt(float(D)), out.data(), &mass);
  auto ref = naive_attention(q, n, c, 0, Hq);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 1e-5) << i;
  // Each query distributes weight 1 in total.
  for (int qh = 0; qh < Hq; ++qh) {
    double total = 0;
    for (float m : mass[qh]) total += m;
    EXPECT_NEAR(total, double(n), 1e-4);
    for (int64_t j = 0; j < T - n; ++j) EXPECT_GT(mass[qh][j], 0.0f);
  }
}

TEST(CpuOps, DecodeAttentionMatchesNaive) {
  const int Hq = 4, Hkv = 4, D = 8;
  KVCache c = random_cache(50, Hkv, D, 11);
  auto q = randn(Hq * D, 5);
  std::vector<float> out(Hq * D);
  cpu::attention(q.data(), 1, c, 0, Hq, 1.0f / std::sqrt(float(D)), out.data());
  auto ref = naive_attention(q, 1, c, 0, Hq);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 1e-5);
}

TEST(CpuOps, RopeAdjacentPairsEqualsHalvesUnderPermutation) {
  // GGUF llama stores q/k rows permuted so that adjacent-pair RoPE equals half-split RoPE.
  ModelConfig c;
  c.head_dim = 8;
  c.rope_theta = 10000;
  auto inv = cpu::rope_inv_freq(c);
  auto x = randn(8, 1);
  std::vector<float> interleaved(8);
  for (int i = 0; i < 4; ++i) {
    interleaved[2 * i] = x[i];
    interleaved[2 * i + 1] = x[i + 4];
  }
  int32_t pos = 13;
  cpu::rope(x.data(), 1, 1, 8, 8, &pos, inv, /*neox=*/true);
  cpu::rope(interleaved.data(), 1, 1, 8, 8, &pos, inv, /*neox=*/false);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(interleaved[2 * i], x[i], 1e-6);
    EXPECT_NEAR(interleaved[2 * i + 1], x[i + 4], 1e-6);
  }
}

TEST(CpuOps, RopePreservesNormAndRotatesByPosition) {
  ModelConfig c;
  c.head_dim = 16;
  auto inv = cpu::rope_inv_freq(c);
  auto x = randn(16, 2), y = x;
  int32_t pos = 1000;
  cpu::rope(y.data(), 1, 1, 16, 16, &pos, inv, true);
  double nx = 0, ny = 0;
  for (int i = 0; i < 16; ++i) nx += x[i] * x[i], ny += y[i] * y[i];
  EXPECT_NEAR(nx, ny, 1e-3);
  // Position 0 is the identity.
  auto z = x;
  pos = 0;
  cpu::rope(z.data(), 1, 1, 16, 16, &pos, inv, true);
  for (int i = 0; i < 16; ++i) EXPECT_FLOAT_EQ(z[i], x[i]);
}

TEST(CpuOps, RopeScalingLinearAndLlama3) {
  ModelConfig c;
  c.head_dim = 64;
  c.rope_theta = 500000;
  auto base = cpu::rope_inv_freq(c);
  c.rope_scaling.type = "linear";
  c.rope_scaling.factor = 4;
  auto lin = cpu::rope_inv_freq(c);
  for (size_t i = 0; i < base.size(); ++i) EXPECT_FLOAT_EQ(lin[i], base[i] / 4);
  c.rope_scaling = {"llama3", 8.0f, 1.0f, 4.0f, 8192};
  auto l3 = cpu::rope_inv_freq(c);
  EXPECT_FLOAT_EQ(l3.front(), base.front());                // high frequency: unchanged
  EXPECT_FLOAT_EQ(l3.back(), base.back() / 8);              // low frequency: divided by factor
  for (size_t i = 0; i < base.size(); ++i) {                // the band in between is blended
    EXPECT_LE(l3[i], base[i] * (1 + 1e-6));
    EXPECT_GE(l3[i], base[i] / 8 * (1 - 1e-6));
  }
}

TEST(CpuOps, RmsNorm) {
  std::vector<float> x = {1, 2, 3, 4}, w = {1, 1, 2, 2}, y(4);
  cpu::rmsnorm(x.data(), w.data(), y.data(), 1, 4, 4, 0.0f);
  const float r = std::sqrt((1 + 4 + 9 + 16) / 4.0f);
  EXPECT_NEAR(y[0], 1 / r, 1e-6);
  EXPECT_NEAR(y[3], 8 / r, 1e-6);
}

TEST(CpuOps, FusedQuantizedDotMatchesDequantizeThenDot) {
  std::mt19937 rng(9);
  const int64_t cols = 256, rows = 5;
  auto x = randn(cols, 21);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::BF16}) {
    ASSERT_TRUE(cpu::has_fused_dot(t));
    const size_t row_bytes = dtype_nbytes(t, cols, "test");
    std::vector<uint8_t> data(row_bytes * rows);
    for (auto& b : data) b = uint8_t(rng());
    // Make every fp16 scale / bf16 value finite and modest: clear the top exponent bits.
    const int64_t bb = dtype_block_bytes(t), scale_bytes = t == DType::Q4_1 ? 4 : (t == DType::BF16 ? bb : 2);
    for (size_t off = 0; off < data.size(); off += size_t(bb))
      for (int64_t k = 1; k < scale_bytes; k += 2) data[off + k] &= 0x3B;
    std::vector<float> fused(rows), dense(cols);
    cpu::fused_dot_rows(t, data.data(), rows, row_bytes, cols, x.data(), fused.data());
    for (int64_t r = 0; r < rows; ++r) {
      convert_to_f32(t, data.data() + r * row_bytes, dense.data(), cols);
      double ref = 0, mag = 0;
      for (int64_t j = 0; j < cols; ++j) ref += double(dense[j]) * x[j], mag += std::fabs(double(dense[j]) * x[j]);
      EXPECT_NEAR(fused[r], ref, 1e-5 * mag + 1e-6) << dtype_name(t) << " row " << r;
    }
  }
}

TEST(CpuOps, LinearSameForStoredAndFloatWeights) {
  // A Q4_1 matrix through the fused decode path, the dequantize+GEMM prefill path, and as float32.
  std::mt19937 rng(4);
  const int64_t rows = 40, cols = 64;
  std::vector<uint8_t> bytes(dtype_nbytes(DType::Q4_1, rows * cols, "test"));
  for (auto& b : bytes) b = uint8_t(rng());
  for (size_t off = 0; off < bytes.size(); off += 20) bytes[off + 1] &= 0x3B, bytes[off + 3] &= 0x3B;
  RawTensor raw{"w", DType::Q4_1, {rows, cols}, bytes.data(), bytes.size()};
  WeightMatrix q = WeightMatrix::from_raw(raw, rows, cols), f = q;
  f.to_f32();
  ASSERT_EQ(f.dtype(), DType::F32);
  for (int64_t n : {1, 3, 9}) {
    auto x = randn(n * cols, 100 + uint32_t(n));
    std::vector<float> yq(n * rows), yf(n * rows);
    cpu::linear(x.data(), n, q, yq.data());
    cpu::linear(x.data(), n, f, yf.data());
    for (size_t i = 0; i < yq.size(); ++i) ASSERT_NEAR(yq[i], yf[i], 1e-3 + 1e-5 * std::fabs(yf[i])) << n << " " << i;
  }
}

TEST(CpuOps, SoftmaxExpIsAccurateAcrossItsRange) {
  double worst = 0;
  for (int i = 0; i <= 2000000; ++i) {
    const float x = -87.0f * float(i) / 2000000.0f;
    const double want = std::exp(double(x));
    worst = std::max(worst, std::fabs(double(cpu::exp_nonpositive(x)) - want) / want);
  }
  std::printf("exp_nonpositive: worst relative error %.3g on [-87, 0]\n", worst);
  EXPECT_LT(worst, 2e-7);
  EXPECT_EQ(cpu::exp_nonpositive(0.0f), 1.0f);
  EXPECT_EQ(cpu::exp_nonpositive(-INFINITY), 0.0f);
  EXPECT_EQ(cpu::exp_nonpositive(-200.0f), 0.0f);
}

}  // namespace
}  // namespace kvb
