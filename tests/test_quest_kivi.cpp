// quest and kivi against their definitions: KIVI's quantization error stays within the analytic
// min/max bound for each bit width and its packed bytes match the analytic size; Quest's page upper
// bound is never below a true dot product and its selection holds the page of the best key.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>

#include "backends/cpu/attention.h"
#include "backends/cpu/ops.h"
#include "core/random.h"
#include "kv/kivi_codec.h"
#include "kv/kv_cache.h"
#include "methods/quest.h"

namespace kvb {
namespace {

std::vector<float> random_rows(uint64_t seed, int64_t n, float scale = 1.0f) {
  Rng rng(seed);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = float((rng.unit() * 2.0 - 1.0) * scale);
  return x;
}

TEST(Kivi, QuantizationErrorWithinAnalyticBound) {
  const int64_t T = 256, D = 64;
  std::vector<float> k = random_rows(1, T * D, 3.0f), v = random_rows(2, T * D, 0.5f);
  for (int bits : {2, 4, 8}) {
    KiviConfig cfg{bits, 32, 0};
    KiviBlock b;
    kivi_quantize_append(b, cfg, D, k.data(), v.data(), T);
    std::vector<float> kd(size_t(T * D)), vd(size_t(T * D));
    kivi_dequantize(b, cfg, D, kd.data(), vd.data());
    const float qmax = float((1 << bits) - 1);
    double worst_k = 0, worst_v = 0;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t d = 0; d < D; ++d) {
        // Key bound: half a step of its (token group, channel) range; value: of its (token, channel group).
        float kmn = INFINITY, kmx = -INFINITY, vmn = INFINITY, vmx = -INFINITY;
        for (int64_t u = (t / 32) * 32; u < (t / 32) * 32 + 32; ++u) {
          kmn = std::min(kmn, k[size_t(u * D + d)]);
          kmx = std::max(kmx, k[size_t(u * D + d)]);
        }
        for (int64_t c = (d / 32) * 32; c < (d / 32) * 32 + 32; ++c) {
          vmn = std::min(vmn, v[size_t(t * D + c)]);
          vmx = std::max(vmx, v[size_t(t * D + c)]);
        }
        const double ek = std::abs(k[size_t(t * D + d)] - kd[size_t(t * D + d)]);
        const double ev = std::abs(v[size_t(t * D + d)] - vd[size_t(t * D + d)]);
        EXPECT_LE(ek, (kmx - kmn) / (2 * qmax) * (1 + 1e-5) + 1e-6) << bits << " bits, key " << t << "," << d;
        EXPECT_LE(ev, (vmx - vmn) / (2 * qmax) * (1 + 1e-5) + 1e-6) << bits << " bits, value " << t << "," << d;
        worst_k = std::max(worst_k, ek);
        worst_v = std::max(worst_v, ev);
      }
    std::printf("[ kivi %d bits ] worst |error| keys %.4g (range 6), values %.4g (range 1)\n", bits, worst_k, worst_v);
  }
}

TEST(Kivi, CacheStoresPackedCodesAndFreesFp32) {
  const int64_t T = 300, D = 64;
  std::vector<float> k = random_rows(3, T * D), v = random_rows(4, T * D);
  std::vector<int32_t> pos(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) pos[size_t(i)] = int32_t(i);
  KVCache cache(1, 1, int(D));
  cache.append(0, 0, k.data(), v.data(), D, pos.data(), T);
  cache.advance(int32_t(T));
  std::vector<float> kb, vb;
  KVCache::DenseRows before = cache.dense_rows(0, 0, kb, vb);
  std::vector<float> kfull(before.keys, before.keys + T * D);
  cache.set_codec({2, 32, 128});
  const int64_t nq = ((T - 128) / 32) * 32;  // 160 quantized, 140 kept in fp32
  ASSERT_EQ(cache.head(0, 0).n_quantized(), nq);
  const size_t codes = size_t(nq * D * 2 / 8);                        // 2 bits per element
  const size_t k_scales = size_t(nq / 32 * D) * 2 * sizeof(float);   // scale + min per (group, channel)
  const size_t v_scales = size_t(nq * (D / 32)) * 2 * sizeof(float);  // scale + min per (token, channel group)
  const size_t fp32 = size_t((T - nq) * D) * 2 * sizeof(float);
  const size_t expected = 2 * codes + k_scales + v_scales + fp32 + size_t(T) * sizeof(int32_t);
  EXPECT_EQ(cache.resident_bytes(), expected);
  std::printf("[ kivi 2 bits ] %lld tokens: resident %zu B vs fp32 %zu B\n", (long long)T, cache.resident_bytes(),
              cache.nominal_bytes());
  // The fp32 residual is exact; the quantized part is close.
  KVCache::DenseRows after = cache.dense_rows(0, 0, kb, vb);
  for (int64_t i = nq * D; i < T * D; ++i) ASSERT_EQ(after.keys[i], kfull[size_t(i)]);
  // Appending keeps quantizing in whole groups once the residual exceeds residual + group.
  cache.append(0, 0, k.data(), v.data(), D, pos.data(), 32);
  EXPECT_EQ(cache.head(0, 0).n_quantized(), nq + 32);
  EXPECT_THROW(cache.keep(0, 0, std::vector<int32_t>{0, 1}), Error);
}

TEST(Kivi, AttentionOverEncodedCacheApproximatesFp32) {
  const int64_t T = 200, D = 32, Hq = 2;
  std::vector<float> k = random_rows(5, T * D), v = random_rows(6, T * D), q = random_rows(7, Hq * D);
  std::vector<int32_t> pos(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) pos[size_t(i)] = int32_t(i);
  auto attend = [&](std::optional<KiviConfig> cfg) {
    KVCache c(1, 1, int(D));
    c.append(0, 0, k.data(), v.data(), D, pos.data(), T - 1);
    if (cfg) c.set_codec(*cfg);
    c.append(0, 0, k.data() + (T - 1) * D, v.data() + (T - 1) * D, D, pos.data() + T - 1, 1);
    std::vector<float> out(size_t(Hq * D));
    cpu::attention(q.data(), 1, c, 0, int(Hq), 0.2f, out.data());
    return out;
  };
  std::vector<float> ref = attend(std::nullopt), q8 = attend(KiviConfig{8, 32, 16}),
                     q2 = attend(KiviConfig{2, 32, 16}), none = attend(KiviConfig{2, 32, 1000});
  double e8 = 0, e2 = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    e8 = std::max(e8, double(std::abs(ref[i] - q8[i])));
    e2 = std::max(e2, double(std::abs(ref[i] - q2[i])));
    EXPECT_EQ(none[i], ref[i]);  // residual covers everything: nothing quantized, bit-identical
  }
  EXPECT_LT(e8, 0.01);
  EXPECT_LT(e8, e2);
}

TEST(Quest, UpperBoundNeverBelowATrueDotProduct) {
  const int64_t T = 203, D = 16, page = 16;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<float> keys = random_rows(100 + seed, T * D, 2.0f), q = random_rows(200 + seed, D, 1.5f);
    quest::PageBounds b = quest::page_bounds(keys.data(), T, D, page);
    ASSERT_EQ(b.n_pages, 13);
    for (int64_t j = 0; j < T; ++j) {
      const float dot = cpu::dot(q.data(), keys.data() + j * D, D);
      EXPECT_GE(quest::upper_bound(b, j / page, q.data(), D), dot - 1e-4f) << "seed " << seed << " key " << j;
    }
  }
}

TEST(Quest, SelectionContainsThePageOfTheBestKey) {
  const int64_t T = 512, D = 32, page = 16;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    std::vector<float> keys = random_rows(300 + seed, T * D), q = random_rows(400 + seed, D);
    int64_t best = 0;
    for (int64_t j = 1; j < T; ++j)
      if (cpu::dot(q.data(), keys.data() + j * D, D) > cpu::dot(q.data(), keys.data() + best * D, D)) best = j;
    quest::PageBounds b = quest::page_bounds(keys.data(), T, D, page);
    const float best_dot = cpu::dot(q.data(), keys.data() + best * D, D);
    // Every page whose bound reaches the best true score is a candidate; selecting that many pages
    // must include the best key's page (its bound is >= the best score, so it outranks the rest).
    int64_t candidates = 0;
    for (int64_t p = 0; p < b.n_pages; ++p) candidates += quest::upper_bound(b, p, q.data(), D) >= best_dot;
    ASSERT_GE(candidates, 1);
    std::vector<int32_t> sel = quest::top_pages(b, q.data(), D, candidates);
    EXPECT_NE(std::find(sel.begin(), sel.end(), int32_t(best / page)), sel.end()) << "seed " << seed;
    // And one page is enough when the best key's page has the largest bound.
    std::vector<int32_t> one = quest::top_pages(b, q.data(), D, 1);
    if (candidates == 1) EXPECT_EQ(one[0], int32_t(best / page));
  }
}

}  // namespace
}  // namespace kvb
