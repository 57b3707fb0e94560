// MInference's sparse prefill (seam (f), kv/prefill_pattern.h, methods/minference.{h,cpp},
// `kvbench calibrate minference`): a pattern allowing everything is dense attention bit for bit; the
// CPU prefill attention under a random pattern equals a direct computation over the same mask (GQA,
// chunks with a past); the vertical-slash estimation picks planted top lines and matches a direct
// computation of its scores; block-sparse keeps the true top pooled blocks; calibrate writes a pattern
// file that loads and round-trips; bad pattern files are one clear error; a case records the
// fraction of causal pairs its prefill attended.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "backends/cpu/attention.h"
#include "core/error.h"
#include "core/file.h"
#include "core/random.h"
#include "eval/runner.h"
#include "eval/sweep_rows.h"
#include "kv/kv_cache.h"
#include "kv/method.h"
#include "kv/prefill_pattern.h"
#include "methods/minference.h"
#include "model/checkpoint.h"
#include "store/results_store.h"
#include "test_util.h"
#include "tiny_models.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;
using namespace minference;

using test::gaussian;

// One layer, Hkv heads of T random entries (positions 0..T-1); the last n are the chunk's.
KVCache random_cache(int Hkv, int D, int64_t T, uint64_t seed) {
  KVCache c(1, Hkv, D);
  std::vector<int32_t> pos(static_cast<size_t>(T));
  std::iota(pos.begin(), pos.end(), 0);
  for (int g = 0; g < Hkv; ++g) {
    const auto k = gaussian(seed + uint64_t(g), size_t(T * D)), v = gaussian(seed + 50 + uint64_t(g), size_t(T * D));
    c.append(0, g, k.data(), v.data(), D, pos.data(), T);
  }
  return c;
}

// Direct reading of a head pattern's definition (kv/prefill_pattern.h), independent of allowed_entries.
bool allowed_by_definition(const HeadPrefillPattern& p, int64_t e, int64_t j) {
  if (j > e) return false;
  if (p.dense || j == e) return true;
  if (std::find(p.columns.begin(), p.columns.end(), int32_t(j)) != p.columns.end()) return true;
  if (p.slash_tile == 0 && std::find(p.diagonals.begin(), p.diagonals.end(), int32_t(e - j)) != p.diagonals.end())
    return true;
  if (p.slash_tile > 0) {  // the kernel's ranges for e's row block, merged from the farthest diagonal
    const int64_t B = p.slash_tile, m1 = (e / B + 1) * B;
    int64_t s = 0, t = -1;
    bool in = false;
    for (size_t r = p.diagonals.size(); r-- > 0;) {
      if (p.diagonals[r] >= m1) continue;
      const int64_t end = std::max<int64_t>(m1 - p.diagonals[r], B);
      if (t < 0) {
        s = end - B, t = end;
      } else if (end > t + B) {
        in |= j >= s && j < t;
        s = end - B, t = end;
      } else if (end > t) {
        t += B;
      }
    }
    if (in || (t >= 0 && j >= s && j < t)) return true;
  }
  if (p.block_size > 0) {
    const auto& kbs = p.key_blocks[size_t(e / p.block_size - p.first_block)];
    if (std::find(kbs.begin(), kbs.end(), int32_t(j / p.block_size)) != kbs.end()) return true;
  }
  return false;
}

// Random subset of [0, hi) in ascending order, each kept with probability keep.
std::vector<int32_t> random_subset(Rng& rng, int64_t hi, double keep) {
  std::vector<int32_t> out;
  for (int64_t i = 0; i < hi; ++i)
    if (double(rng.below(1000)) < keep * 1000) out.push_back(int32_t(i));
  return out;
}

TEST(MInferenceAttention, PatternAllowingEverythingIsDenseBitForBit) {
  const int Hq = 6, Hkv = 3, D = 16;
  const int64_t T = 150, n = 70;  // a chunk of 70 queries after 80 earlier entries
  KVCache cache = random_cache(Hkv, D, T, 11);
  const auto q = gaussian(3, size_t(n * Hq * D));
  PrefillPattern all;
  all.heads.resize(Hq);
  all.heads[0].dense = true;
  for (int32_t j = 0; j < T; ++j) all.heads[1].columns.push_back(j);      // every column
  for (int32_t o = 0; o < T; ++o) all.heads[2].diagonals.push_back(o);    // every diagonal
  for (int h : {3, 4}) {                                                  // every causal block
    all.heads[size_t(h)].block_size = h == 3 ? 16 : 7;
    const int64_t b = all.heads[size_t(h)].block_size;
    all.heads[size_t(h)].first_block = (T - n) / b;
    for (int64_t qb = (T - n) / b; qb <= (T - 1) / b; ++qb) {
      std::vector<int32_t> kbs(size_t(qb + 1));
      std::iota(kbs.begin(), kbs.end(), 0);
      all.heads[size_t(h)].key_blocks.push_back(kbs);
    }
  }
  all.heads[5].columns = {0, 1, 2};  // columns + diagonals that together cover everything
  for (int32_t o = 0; o < T; ++o) all.heads[5].diagonals.push_back(o);
  const float scale = 1.0f / std::sqrt(float(D));
  std::vector<float> ref(size_t(n * Hq * D)), out(ref.size());
  std::vector<std::vector<float>> ref_mass, mass;
  cpu::attention(q.data(), n, cache, 0, Hq, scale, ref.data(), &ref_mass);
  cpu::attention(q.data(), n, cache, 0, Hq, scale, out.data(), &mass, nullptr, cpu::MatmulMode::F32, &all);
  EXPECT_EQ(out, ref);
  EXPECT_EQ(mass, ref_mass);
  // A one-query chunk under a pattern takes the same path and still matches decode attention.
  std::vector<float> ref1(size_t(Hq * D)), out1(ref1.size());
  PrefillPattern one;
  one.heads.assign(Hq, HeadPrefillPattern{});
  for (auto& h : one.heads) h.dense = true;
  cpu::attention(q.data(), 1, cache, 0, Hq, scale, ref1.data());
  cpu::attention(q.data(), 1, cache, 0, Hq, scale, out1.data(), nullptr, nullptr, cpu::MatmulMode::F32, &one);
  EXPECT_EQ(out1, ref1);
}

TEST(MInferenceAttention, SparseEqualsDirectReferenceOverTheSameMask) {
  Rng rng(2024);
  for (int trial = 0; trial < 24; ++trial) {
    const int Hkv = 1 + int(rng.below(3)), group = 1 + int(rng.below(3)), Hq = Hkv * group;
    const int D = trial % 2 ? 8 : 16;
    const int64_t T = 20 + int64_t(rng.below(180)), n = 2 + int64_t(rng.below(uint64_t(T - 1)));
    KVCache cache = random_cache(Hkv, D, T, 100 + uint64_t(trial));
    const auto q = gaussian(500 + uint64_t(trial), size_t(n * Hq * D), 1.5f);
    PrefillPattern p;
    p.heads.resize(size_t(Hq));
    for (auto& h : p.heads) {
      const uint64_t kind = rng.below(4);
      if (kind == 0) h.dense = true;
      if (kind == 1 || kind == 3) {
        h.columns = random_subset(rng, T, 0.1);
        h.diagonals = random_subset(rng, T, 0.1);
        if (rng.below(2)) h.slash_tile = 2 + int32_t(rng.below(8));  // MInference's tiled slashes
      }
      if (kind >= 2) {
        h.block_size = 4 + int32_t(rng.below(13));
        h.first_block = (T - n) / h.block_size;
        for (int64_t qb = h.first_block; qb <= (T - 1) / h.block_size; ++qb) h.key_blocks.push_back(random_subset(rng, qb + 1, 0.3));
      }
    }
    const float scale = 1.0f / std::sqrt(float(D));
    std::vector<float> out(size_t(n * Hq * D));
    std::vector<std::vector<float>> mass;
    cpu::attention(q.data(), n, cache, 0, Hq, scale, out.data(), &mass, nullptr, cpu::MatmulMode::F32, &p);
    int64_t allowed_total = 0;
    for (int h = 0; h < Hq; ++h) {
      const HeadRows rows = cache.rows(0, h / group);
      std::vector<double> mass_ref(size_t(T), 0.0);
      int64_t head_allowed = 0;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t e = T - n + i;
        std::vector<double> s(size_t(e + 1), -INFINITY);
        double mx = -INFINITY;
        for (int64_t j = 0; j <= e; ++j) {
          if (!allowed_by_definition(p.heads[size_t(h)], e, j)) continue;
          ++head_allowed;
          double d = 0;
          for (int k = 0; k < D; ++k) d += double(q[size_t((i * Hq + h) * D + k)]) * rows.key(j)[k];
          s[size_t(j)] = d * scale;
          mx = std::max(mx, s[size_t(j)]);
        }
        double sum = 0;
        for (auto& x : s) sum += (x = std::isinf(x) ? 0.0 : std::exp(x - mx));
        for (int k = 0; k < D; ++k) {
          double o = 0;
          for (int64_t j = 0; j <= e; ++j) o += s[size_t(j)] / sum * rows.value(j)[k];
          ASSERT_NEAR(out[size_t((i * Hq + h) * D + k)], o, 2e-5) << "trial " << trial << " head " << h << " row " << e;
        }
        for (int64_t j = 0; j <= e; ++j) mass_ref[size_t(j)] += s[size_t(j)] / sum;
      }
      for (int64_t j = 0; j < T; ++j) ASSERT_NEAR(mass[size_t(h)][size_t(j)], mass_ref[size_t(j)], 1e-4) << trial;
      EXPECT_EQ(allowed_pairs(p.heads[size_t(h)], T, n), head_allowed) << "trial " << trial << " head " << h;
      allowed_total += head_allowed;
    }
    EXPECT_LE(allowed_total, int64_t(Hq) * causal_pairs(T, n));
  }
}

// Keys and queries on which the last 64 queries attend one planted column and one planted diagonal:
// dims [0, 2F) hold F rotary-like frequencies (q_e . k_j = A sum_f cos((e - j - o) w_f), sharply
// peaked at e - j = o), dim 2F is shared by every query and large only in the planted column's key.
struct Planted {
  int64_t T = 400, D = 0, column = 200, offset = 150;
  std::vector<float> q, k;  // [T, D] each
};
Planted planted() {
  Planted p;
  const int F = 24;
  p.D = 2 * F + 1;
  p.q.assign(size_t(p.T * p.D), 0.0f);
  p.k.assign(size_t(p.T * p.D), 0.0f);
  const float A = 1.2f;
  for (int64_t t = 0; t < p.T; ++t)
    for (int f = 0; f < F; ++f) {
      const double w = 0.05 + 2.9 * f / F;
      p.q[size_t(t * p.D + 2 * f)] = A * float(std::cos(w * double(t)));
      p.q[size_t(t * p.D + 2 * f + 1)] = A * float(std::sin(w * double(t)));
      p.k[size_t(t * p.D + 2 * f)] = A * float(std::cos(w * double(t + p.offset)));
      p.k[size_t(t * p.D + 2 * f + 1)] = A * float(std::sin(w * double(t + p.offset)));
    }
  for (int64_t t = 0; t < p.T; ++t) p.q[size_t(t * p.D + 2 * F)] = 3.0f;
  p.k[size_t(p.column * p.D + 2 * F)] = 12.0f;
  return p;
}

TEST(MInferenceEstimate, VerticalSlashPicksThePlantedLinesAndMatchesADirectComputation) {
  const Planted p = planted();
  const int64_t m = 64, T = p.T, D = p.D;
  const float scale = 1.0f / std::sqrt(float(D));
  const VsEstimate est = vertical_slash(p.q.data() + (T - m) * D, m, D, p.k.data(), T, D, scale);
  // Scores against a direct double computation (causal inside the last 64; forced lines +inf).
  std::vector<double> vert(size_t(T), 0.0), slash(size_t(T), 0.0);
  for (int64_t e = T - m; e < T; ++e) {
    std::vector<double> s(size_t(e + 1));
    double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j <= e; ++j) {
      double d = 0;
      for (int64_t c = 0; c < D; ++c) d += double(p.q[size_t(e * D + c)]) * p.k[size_t(j * D + c)];
      mx = std::max(mx, s[size_t(j)] = d * scale);
    }
    for (auto& x : s) sum += (x = std::exp(x - mx));
    for (int64_t j = 0; j <= e; ++j) {
      vert[size_t(j)] += s[size_t(j)] / sum;
      slash[size_t(e - j)] += s[size_t(j)] / sum;
    }
  }
  for (int64_t j = 0; j < T; ++j) {
    if (j < 30)
      EXPECT_TRUE(std::isinf(est.vertical[size_t(j)]));
    else
      EXPECT_NEAR(est.vertical[size_t(j)], vert[size_t(j)], 1e-4) << j;
    if (j < 100)
      EXPECT_TRUE(std::isinf(est.slash[size_t(j)]));
    else
      EXPECT_NEAR(est.slash[size_t(j)], slash[size_t(j)], 1e-4) << j;
  }
  // v = 31, s = 101: the forced lines plus the single best of the rest, which is the planted one.
  const HeadPrefillPattern lines = est.lines(31, 101);
  std::vector<int32_t> want_cols(30), want_diags(100);
  std::iota(want_cols.begin(), want_cols.end(), 0);
  std::iota(want_diags.begin(), want_diags.end(), 0);
  want_cols.push_back(int32_t(p.column));
  want_diags.push_back(int32_t(p.offset));
  EXPECT_EQ(lines.columns, want_cols);
  EXPECT_EQ(lines.diagonals, want_diags);
  // Clamps: v >= 30, s >= 50 (the forced lines nearest the start / the diagonal first).
  const HeadPrefillPattern small = est.lines(1, 1);
  EXPECT_EQ(small.columns.size(), 30u);
  EXPECT_EQ(small.diagonals.size(), 50u);
  EXPECT_EQ(small.diagonals.back(), 49);
}

// Tiled slashes (slash=tiles) on hand-worked blocks of 4 rows: in rows 8..11 diagonals {0, 1, 6, 9} pass
// through columns [0, 4) (9, its end raised to 4), then 6, 1 and 0 extend the range by 4 each time
// they end past it: [0, 12); in rows 28..31 diagonals {0, 20} are 20 columns apart: [8, 12) and [28, 32).
TEST(MInferenceEstimate, TiledSlashesCoverTheKernelsColumnRanges) {
  using R = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(slash_tile_ranges({0, 1, 6, 9}, 12, 4), (R{{0, 12}}));
  EXPECT_EQ(slash_tile_ranges({0, 20}, 32, 4), (R{{8, 12}, {28, 32}}));
  EXPECT_EQ(slash_tile_ranges({0, 40}, 32, 4), (R{{28, 32}}));  // 40 does not reach rows 28..31
  HeadPrefillPattern p;
  p.diagonals = {0, 20};
  p.slash_tile = 4;
  std::vector<uint8_t> allowed;
  allowed_entries(p, 30, allowed);
  std::vector<int32_t> got;
  for (int32_t j = 0; j < int32_t(allowed.size()); ++j)
    if (allowed[size_t(j)]) got.push_back(j);
  EXPECT_EQ(got, (std::vector<int32_t>{8, 9, 10, 11, 28, 29, 30}));  // causal: up to the row's own entry
  p.slash_tile = 0;  // the lines alone: 30 - 20 and 30
  allowed_entries(p, 30, allowed);
  got.clear();
  for (int32_t j = 0; j < int32_t(allowed.size()); ++j)
    if (allowed[size_t(j)]) got.push_back(j);
  EXPECT_EQ(got, (std::vector<int32_t>{10, 30}));
}

TEST(MInferenceEstimate, BlockSparseKeepsTheTrueTopPooledBlocks) {
  const int64_t D = 8, B = 16;
  for (uint64_t seed : {1u, 2u, 3u}) {
    const int64_t T = 100 + int64_t(seed) * 37, n = 40 + int64_t(seed) * 11, top = 2 + int64_t(seed % 2);
    const auto q = gaussian(seed, size_t(n * D)), k = gaussian(seed + 9, size_t(T * D));
    const HeadPrefillPattern p = block_sparse(q.data(), n, D, k.data(), T, D, B, top);
    ASSERT_EQ(p.first_block, (T - n) / B);
    ASSERT_EQ(int64_t(p.key_blocks.size()), (T - 1) / B - p.first_block + 1);
    for (int64_t qb = p.first_block; qb <= (T - 1) / B; ++qb) {
      std::vector<double> qp(size_t(D), 0.0);
      const int64_t e0 = std::max(T - n, qb * B), e1 = std::min(T, (qb + 1) * B);
      for (int64_t e = e0; e < e1; ++e)
        for (int64_t d = 0; d < D; ++d) qp[size_t(d)] += q[size_t((e - (T - n)) * D + d)] / double(e1 - e0);
      std::vector<std::pair<double, int32_t>> scored;  // (-score, block): ascending = best first, lower block on ties
      for (int64_t kb = 0; kb <= qb; ++kb) {
        const int64_t j0 = kb * B, j1 = std::min(T, j0 + B);
        double s = 0;
        for (int64_t d = 0; d < D; ++d) {
          double kp = 0;
          for (int64_t j = j0; j < j1; ++j) kp += k[size_t(j * D + d)];
          s += qp[size_t(d)] * kp / double(j1 - j0);
        }
        scored.emplace_back(-s, int32_t(kb));
      }
      std::sort(scored.begin(), scored.end());
      std::vector<int32_t> want;
      for (int64_t r = 0; r < std::min<int64_t>(top, int64_t(scored.size())); ++r) want.push_back(scored[size_t(r)].second);
      std::sort(want.begin(), want.end());
      EXPECT_EQ(p.key_blocks[size_t(qb - p.first_block)], want) << "seed " << seed << " query block " << qb;
    }
  }
}

TEST(MInferenceBudget, RowBudgetComputesAboutOneMinusRatioOfTheCausalPairs) {
  for (int64_t T : {64, 512, 2048})
    for (int64_t n : {int64_t(1), T / 4, T})
      for (double r : {0.1, 0.5, 0.9}) {
        const int64_t k = row_budget_for_ratio(r, T, n);
        auto pairs = [&](int64_t kk) {
          int64_t s = 0;
          for (int64_t e = T - n; e < T; ++e) s += std::min(e + 1, kk);
          return double(s);
        };
        const double target = (1 - r) * double(causal_pairs(T, n));
        EXPECT_GE(pairs(k), target) << T << " " << n << " " << r;
        if (k > 1) {
          EXPECT_LT(pairs(k - 1), target) << T << " " << n << " " << r;  // the smallest such k
        }
      }
  EXPECT_EQ(row_budget_for_ratio(0.0, 300, 100), 300);
}

// The sparse prefill through the engine: the pattern is used (the prefill differs from full at ratio
// 0.5), the case records the attended pairs, and the row's case_meta carries the fraction.
TEST(MInferenceMethod, RecordsTheFractionOfCausalPairsAttended) {
  Checkpoint ck = load_checkpoint(test::tiny_model_dir("llama_gqa"));
  Transformer model(ck.config, ck.weights, EngineOptions{32});
  std::vector<int32_t> ctx(160), question(8);
  for (size_t i = 0; i < ctx.size(); ++i) ctx[i] = int32_t(1 + (i * 37) % 300);
  for (size_t i = 0; i < question.size(); ++i) question[i] = int32_t(1 + (i * 11) % 300);
  MethodSpec full, sparse;
  sparse.id = "minference";
  sparse.compression_ratio = 0.5;
  CaseResult rf, rs;
  CompressedPrefill pf = prefill_with_method(model, full, ctx, question, 1, rf);
  CompressedPrefill ps = prefill_with_method(model, sparse, ctx, question, 1, rs);
  EXPECT_NE(pf.logits.data, ps.logits.data);
  EXPECT_EQ(rf.prefill_pairs_causal, 0);  // dense methods record nothing
  const ModelConfig& c = ck.config;
  int64_t causal = 0;
  for (int64_t T = 32; T <= 160; T += 32) causal += causal_pairs(T, 32);
  EXPECT_EQ(rs.prefill_pairs_causal, causal * c.n_layers * c.n_heads);
  const double fraction = double(rs.prefill_pairs_attended) / double(rs.prefill_pairs_causal);
  EXPECT_GT(fraction, 0.3);
  EXPECT_LT(fraction, 0.95);
  EXPECT_EQ(rs.kept_tokens, rf.kept_tokens);  // the cache keeps every entry
  // slash=tiles reads the bands around the same lines: more pairs (block_size 8 on 32-token chunks).
  MethodSpec tiles = sparse;
  tiles.params.set("slash", "tiles");
  tiles.params.set("block_size", "8");
  MethodSpec lines = tiles;
  lines.params.set("slash", "lines");
  CaseResult rt, rl;
  (void)prefill_with_method(model, tiles, ctx, question, 1, rt);
  (void)prefill_with_method(model, lines, ctx, question, 1, rl);
  EXPECT_GT(rt.prefill_pairs_attended, rl.prefill_pairs_attended);
  EXPECT_EQ(rt.prefill_pairs_causal, rl.prefill_pairs_causal);
  SampleRecord row;
  fill_result(row, rs);
  const auto meta = nlohmann::json::parse(row.case_meta);
  EXPECT_EQ(meta["prefill_attended"]["pairs"].get<int64_t>(), rs.prefill_pairs_attended);
  EXPECT_NEAR(meta["prefill_attended"]["fraction"].get<double>(), fraction, 1e-12);
}

TEST(MInferencePatternFile, BadFilesAreOneClearError) {
  const fs::path dir = test::tmp_dir() / "minference_bad";
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  auto expect_error = [](const std::string& path, const std::string& what) {
    try {
      read_pattern_file(path, 2, 2);
      ADD_FAILURE() << path << ": no error";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(path), std::string::npos) << m;
      EXPECT_NE(m.find(what), std::string::npos) << m;
    }
  };
  expect_error((dir / "missing.json").string(), "cannot be read");
  expect_error(write("text.json", "not json"), "not JSON");
  expect_error(write("object.json", "{}"), "expected a JSON array");
  expect_error(write("layers.json", "[{}]"), "1 layers, the model has 2");
  expect_error(write("type.json", R"([{"0": ["diagonal", 1, 2, 0.5]}, {}])"), "unknown pattern type 'diagonal'");
  expect_error(write("head.json", R"([{"7": ["block_sparse", 1, 0, 0.5]}, {}])"), "head '7'");
  expect_error(write("entry.json", R"([{}, {"1": ["vertical_and_slash", "x", 2]}])"), "expected [type, v, s, score]");
  expect_error(write("sizes.json", R"([{}, {"1": ["stream_llm", 0, 0, 1]}])"), "out of range");
  // Missing heads take the paper's default VS(1000, 6096).
  const PatternConfig ok =
      read_pattern_file(write("ok.json", R"([{"1": ["block_sparse", 100, 0, 0.9]}, {"0": ["a_shape", 128, 3968]}])"), 2, 2);
  EXPECT_EQ(ok[0][0].type, PatternType::VerticalSlash);
  EXPECT_EQ(ok[0][0].v, 1000);
  EXPECT_EQ(ok[0][1].type, PatternType::BlockSparse);
  EXPECT_EQ(ok[1][0].type, PatternType::AShape);
  // Through the CLI: exit 2 with the file named.
  auto r = test::run_kvbench("eval -q --model '" + test::stories260k().string() +
                             "' --task niah_single --length 400 --n 1 --method minference --ratio 0.5 --param pattern='" +
                             (dir / "type.json").string() + "'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("type.json"), std::string::npos) << r.output;
}

TEST(MInferenceCalibrate, WritesAPatternFileThatLoadsRoundTripsAndRuns) {
  const fs::path out = test::tmp_dir() / "minference_stories.json";
  fs::remove(out);
  auto r = test::run_kvbench("calibrate minference --model '" + test::stories260k().string() + "' --out '" +
                             out.string() + "' --length 400 --n 1 --ratio 0.5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("mean recall of dense attention mass"), std::string::npos) << r.output;
  Checkpoint ck = load_checkpoint(test::stories260k());
  const PatternConfig cfg = read_pattern_file(out.string(), ck.config.n_layers, ck.config.n_heads);
  // Every head is present in the file (none left to the default) with its recall as the score.
  const auto j = nlohmann::json::parse(read_text_file(out));
  ASSERT_EQ(int(j.size()), ck.config.n_layers);
  for (const auto& layer : j) EXPECT_EQ(int(layer.size()), ck.config.n_heads);
  for (const auto& layer : cfg)
    for (const HeadChoice& h : layer) {
      EXPECT_GT(h.score, 0.0);
      EXPECT_LE(h.score, 1.0 + 1e-9);
    }
  const fs::path again = test::tmp_dir() / "minference_stories_again.json";
  write_pattern_file(again.string(), cfg);
  EXPECT_EQ(read_text_file(again), read_text_file(out));
  auto e = test::run_kvbench("eval --model '" + test::stories260k().string() +
                             "' --task niah_single --length 400 --n 1 --method minference --ratio 0.5 --param pattern='" +
                             out.string() + "'");
  EXPECT_EQ(e.exit_code, 0) << e.output;
  EXPECT_NE(e.output.find("prefill attended"), std::string::npos) << e.output;
}

}  // namespace
}  // namespace kvb
