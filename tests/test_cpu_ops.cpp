// CPU reference ops against direct formulas: attention (prefill GEMM path and decode path),
// RoPE layouts and scaling, RMSNorm.
#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <random>

#include "backends/cpu/decode_attention.h"
#include "backends/cpu/attention.h"
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
        for (int64_t d = 0; d < D; ++d) dot += double(q[i * Hq * D + qh * D + d]) * h.fp_keys()[j * D + d];
        s[j] = dot / std::sqrt(double(D));
        mx = std::max(mx, s[j]);
      }
      for (auto& x : s) sum += (x = std::exp(x - mx));
      for (int64_t j = 0; j < valid; ++j)
        for (int64_t d = 0; d < D; ++d) out[i * Hq * D + qh * D + d] += float(s[j] / sum * h.fp_values()[j * D + d]);
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
  // Head dims on the portable path (8, 48) and the AVX-512 kernels (32, 64, 128); GQA groups of 1, 3, 4;
  // several key chunks with a ragged tail; per-head sizes that differ (a compressed cache).
  struct Case {
    int Hq, Hkv, D;
    int64_t T;
  };
  for (const Case& k : {Case{4, 4, 8, 50}, Case{9, 3, 64, 700}, Case{8, 2, 128, 300}, Case{4, 1, 32, 17},
                        Case{6, 2, 48, 530}, Case{3, 3, 64, 1}}) {
    SCOPED_TRACE(::testing::Message() << "Hq " << k.Hq << " Hkv " << k.Hkv << " D " << k.D << " T " << k.T);
    KVCache c = random_cache(k.T, k.Hkv, k.D, 11);
    if (k.Hkv > 1) {  // drop some entries of KV head 1: heads of different lengths
      std::vector<int32_t> keep;
      for (int32_t j = 0; j < int32_t(k.T); j += 3) keep.push_back(j);
      if (keep.back() != int32_t(k.T) - 1) keep.push_back(int32_t(k.T) - 1);
      c.keep(0, 1, keep);
    }
    auto q = randn(size_t(k.Hq * k.D), 5);
    std::vector<float> out(size_t(k.Hq * k.D));
    std::vector<std::vector<float>> mass;
    cpu::attention(q.data(), 1, c, 0, k.Hq, 1.0f / std::sqrt(float(k.D)), out.data(), &mass);
    auto ref = naive_attention(q, 1, c, 0, k.Hq);
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 2e-5) << i;
    for (int qh = 0; qh < k.Hq; ++qh) {
      double total = 0;
      for (float m : mass[size_t(qh)]) total += m;
      EXPECT_NEAR(total, 1.0, 1e-5) << "head " << qh;
      EXPECT_EQ(int64_t(mass[size_t(qh)].size()), c.head(0, qh / (k.Hq / k.Hkv)).size());
    }
    // The same bits on one thread as on several (fixed key chunks, partial sums added in order).
    std::vector<float> one(out.size());
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    cpu::attention(q.data(), 1, c, 0, k.Hq, 1.0f / std::sqrt(float(k.D)), one.data());
    omp_set_num_threads(threads);
    EXPECT_EQ(std::memcmp(one.data(), out.data(), out.size() * sizeof(float)), 0);
  }
}

TEST(CpuOps, DecodeAttentionAddsTheLogitBias) {
  // A bias of log(w) on an entry weighs it like w copies of itself (razor_attention's compensation).
  const int Hq = 3, Hkv = 1, D = 64;
  KVCache c = random_cache(39, Hkv, D, 21);
  auto q = randn(size_t(Hq * D), 9);
  const float scale = 1.0f / std::sqrt(float(D));
  const auto ck = randn(size_t(D), 31), cv = randn(size_t(D), 32);
  c.append_compensation(0, 0, ck.data(), cv.data(), 7, std::log(5.0f));  // entry 39, weighs like 5 copies
  ASSERT_EQ(c.head(0, 0).logit_bias().size(), 40u);
  std::vector<float> out(size_t(Hq * D));
  cpu::attention(q.data(), 1, c, 0, Hq, scale, out.data());
  const HeadCache& h = c.head(0, 0);
  for (int qh = 0; qh < Hq; ++qh) {
    std::vector<double> w(40);
    double sum = 0;
    for (int64_t j = 0; j < 40; ++j) {
      double s = 0;
      for (int d = 0; d < D; ++d) s += double(q[size_t(qh * D + d)]) * h.fp_keys()[size_t(j * D + d)];
      w[size_t(j)] = std::exp(s * scale) * (j == 39 ? 5.0 : 1.0);
      sum += w[size_t(j)];
    }
    for (int d = 0; d < D; ++d) {
      double o = 0;
      for (int64_t j = 0; j < 40; ++j) o += w[size_t(j)] / sum * h.fp_values()[size_t(j * D + d)];
      ASSERT_NEAR(out[size_t(qh * D + d)], o, 2e-5) << "head " << qh << " dim " << d;
    }
  }
}

TEST(CpuOps, DecodeAttentionKernelsMatchDoublePrecision) {
  // group_scores / group_weighted_values with every kernel this CPU runs (portable, AVX2, AVX-512;
  // simd.h), against double precision, 8- and 16-key tails included. P.V adds keys in the same order
  // in every kernel: given the same probabilities, the outputs are the same bits as the portable loop.
  int levels_run = 0;
  for (cpu::SimdLevel level : {cpu::SimdLevel::Portable, cpu::SimdLevel::Avx2, cpu::SimdLevel::Avx512}) {
    if (!cpu::simd_level_runs_here(level)) continue;
    ++levels_run;
    for (int64_t D : {32, 64, 128}) {
      ASSERT_EQ(cpu::decode_attention_level(D, level), level);
      for (int64_t n : {1, 7, 15, 16, 33, 257}) {
        const int G = 3;
        auto q = randn(size_t(G * D), 1), K = randn(size_t(n * D), 2), V = randn(size_t(n * D), 3), b = randn(size_t(n), 4);
        std::vector<float> s(size_t(G * n)), o(size_t(G * D), 0.5f), o_portable(size_t(G * D), 0.5f);
        std::vector<float*> rows;
        for (int i = 0; i < G; ++i) rows.push_back(s.data() + i * n);
        cpu::group_scores(q.data(), G, K.data(), n, D, 0.125f, b.data(), rows.data(), level);
        for (int i = 0; i < G; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double acc = 0, mag = 0;
            for (int64_t d = 0; d < D; ++d) {
              acc += double(q[size_t(i * D + d)]) * K[size_t(j * D + d)];
              mag += std::fabs(double(q[size_t(i * D + d)]) * K[size_t(j * D + d)]);
            }
            ASSERT_NEAR(s[size_t(i * n + j)], acc * 0.125 + b[size_t(j)], 1e-5 * (1 + mag))
                << cpu::simd_level_name(level) << " D " << D << " n " << n;
          }
        std::vector<const float*> p(rows.begin(), rows.end());
        cpu::group_weighted_values(p.data(), G, V.data(), n, D, o.data(), level);
        cpu::group_weighted_values(p.data(), G, V.data(), n, D, o_portable.data(), cpu::SimdLevel::Portable);
        for (int i = 0; i < G; ++i)
          for (int64_t d = 0; d < D; ++d) {
            double acc = 0.5;
            for (int64_t j = 0; j < n; ++j) acc += double(s[size_t(i * n + j)]) * V[size_t(j * D + d)];
            ASSERT_NEAR(o[size_t(i * D + d)], acc, 1e-4 * (1 + std::sqrt(double(n))))
                << cpu::simd_level_name(level) << " D " << D << " n " << n;
            ASSERT_EQ(o[size_t(i * D + d)], o_portable[size_t(i * D + d)])
                << cpu::simd_level_name(level) << " P.V differs from the portable loop, D " << D << " n " << n;
          }
      }
    }
  }
  std::printf("decode attention kernels checked: %d (this CPU runs up to %s)\n", levels_run,
              std::string(cpu::simd_level_name(cpu::cpu_simd_level())).c_str());
}

TEST(CpuOps, RopeAdjacentPairsEqualsHalvesUnderPermutation) {
  // GGUF llama stores q/k rows permuted so that adjacent-pair RoPE equals half-split RoPE.
  ModelConfig c;
  c.head_dim = 8;
  c.rope_theta = 10000;
  auto inv = rope_inv_freq(c);
  auto x = randn(8, 1);
  std::vector<float> interleaved(8);
  for (int i = 0; i < 4; ++i) {
    interleaved[2 * i] = x[i];
    interleaved[2 * i + 1] = x[i + 4];
  }
  int32_t pos = 13;
  rope(x.data(), 1, 1, 8, 8, &pos, inv, /*neox=*/true);
  rope(interleaved.data(), 1, 1, 8, 8, &pos, inv, /*neox=*/false);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(interleaved[2 * i], x[i], 1e-6);
    EXPECT_NEAR(interleaved[2 * i + 1], x[i + 4], 1e-6);
  }
}

TEST(CpuOps, RopePreservesNormAndRotatesByPosition) {
  ModelConfig c;
  c.head_dim = 16;
  auto inv = rope_inv_freq(c);
  auto x = randn(16, 2), y = x;
  int32_t pos = 1000;
  rope(y.data(), 1, 1, 16, 16, &pos, inv, true);
  double nx = 0, ny = 0;
  for (int i = 0; i < 16; ++i) nx += x[i] * x[i], ny += y[i] * y[i];
  EXPECT_NEAR(nx, ny, 1e-3);
  // Position 0 is the identity.
  auto z = x;
  pos = 0;
  rope(z.data(), 1, 1, 16, 16, &pos, inv, true);
  for (int i = 0; i < 16; ++i) EXPECT_FLOAT_EQ(z[i], x[i]);
}

TEST(CpuOps, RopeScalingLinearAndLlama3) {
  ModelConfig c;
  c.head_dim = 64;
  c.rope_theta = 500000;
  auto base = rope_inv_freq(c);
  c.rope_scaling.type = "linear";
  c.rope_scaling.factor = 4;
  auto lin = rope_inv_freq(c);
  for (size_t i = 0; i < base.size(); ++i) EXPECT_FLOAT_EQ(lin[i], base[i] / 4);
  c.rope_scaling = {"llama3", 8.0f, 1.0f, 4.0f, 8192};
  auto l3 = rope_inv_freq(c);
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
