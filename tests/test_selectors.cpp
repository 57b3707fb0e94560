// Decode-time selectors and their seams (kv/read_selection.h, backends/cpu/partial_attention.h,
// kv/pca_basis.h; methods tokenselect, retrieval_attention, tidaldecode, loki, hip,
// recycled_attention): the log-sum-exp merge of two partial attentions equals attention over their
// union; the flat index returns the true top-k; a selection recorded at one layer is what later
// layers read; Loki at full rank selects the exact top-k; HiP's hierarchical top-k is exact on a
// single-peak case and its mask is reused between refreshes; Recycled Attention runs a full step
// every `stride` steps and its partial cache is the top-K of the pooled attention; the read entries
// and bytes a case records equal the analytic figure.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "backends/cpu/attention.h"
#include "backends/cpu/ops.h"
#include "backends/cpu/partial_attention.h"
#include "core/error.h"
#include "core/random.h"
#include "eval/runner.h"
#include "kv/kv_cache.h"
#include "kv/method.h"
#include "kv/pca_basis.h"
#include "kv/read_selection.h"
#include "methods/hip.h"
#include "methods/retrieval_attention.h"
#include "model/checkpoint.h"
#include "model/rope.h"
#include "test_util.h"
#include "tiny_models.h"

namespace kvb {
namespace {

using test::gaussian;

// A cache of L layers x Hkv heads with T random entries each (positions 0..T-1).
KVCache random_cache(int L, int Hkv, int D, int64_t T, uint64_t seed) {
  KVCache c(L, Hkv, D);
  std::vector<int32_t> pos(static_cast<size_t>(T));
  std::iota(pos.begin(), pos.end(), 0);
  for (int l = 0; l < L; ++l)
    for (int g = 0; g < Hkv; ++g) {
      const auto k = gaussian(seed + uint64_t(l * 100 + g), size_t(T * D));
      const auto v = gaussian(seed + uint64_t(l * 100 + g) + 50, size_t(T * D));
      c.append(l, g, k.data(), v.data(), D, pos.data(), T);
    }
  c.advance(int32_t(T));
  return c;
}

ModelConfig shape(int L, int Hq, int Hkv, int D) {
  ModelConfig c;
  c.n_layers = L;
  c.n_heads = Hq;
  c.n_kv_heads = Hkv;
  c.head_dim = D;
  return c;
}

// ---- seam (d): log-sum-exp merge ----------------------------------------------------------------

TEST(PartialAttention, LseMergeEqualsAttentionOverTheUnion) {
  const int64_t T = 300, D = 64;
  const auto K = gaussian(1, size_t(T * D), 2.0f), V = gaussian(2, size_t(T * D)), q = gaussian(3, size_t(D), 2.0f);
  Rng rng(4);
  std::vector<int32_t> a, b, both;
  for (int32_t j = 0; j < T; ++j) {
    const uint64_t r = rng.below(3);  // a, b, or neither
    if (r == 0) a.push_back(j);
    if (r == 1) b.push_back(j);
    if (r != 2) both.push_back(j);
  }
  const float scale = 1.0f / std::sqrt(float(D));
  std::vector<float> oa(D), ob(D), om(D), ou(D), probs(T);
  const float la = cpu::attend_partial(q.data(), K.data(), V.data(), nullptr, a, D, scale, oa.data(), probs.data());
  const float lb = cpu::attend_partial(q.data(), K.data(), V.data(), nullptr, b, D, scale, ob.data(), probs.data());
  const float lm = cpu::lse_merge(oa.data(), la, ob.data(), lb, D, om.data());
  const float lu = cpu::attend_partial(q.data(), K.data(), V.data(), nullptr, both, D, scale, ou.data(), probs.data());
  // Reference in double: softmax over the union.
  std::vector<double> logit(both.size()), ref(size_t(D), 0.0);
  double mx = -1e300, sum = 0;
  for (size_t r = 0; r < both.size(); ++r) {
    double s = 0;
    for (int64_t d = 0; d < D; ++d) s += double(q[size_t(d)]) * K[size_t(both[r] * D + d)];
    logit[r] = s * scale;
    mx = std::max(mx, logit[r]);
  }
  for (double& l : logit) sum += (l = std::exp(l - mx));
  for (size_t r = 0; r < both.size(); ++r)
    for (int64_t d = 0; d < D; ++d) ref[size_t(d)] += logit[r] / sum * V[size_t(both[r] * D + d)];
  for (int64_t d = 0; d < D; ++d) {
    EXPECT_NEAR(om[size_t(d)], ref[size_t(d)], 1e-5) << d;
    EXPECT_NEAR(om[size_t(d)], ou[size_t(d)], 1e-5) << d;
  }
  EXPECT_NEAR(lm, mx + std::log(sum), 1e-4);
  EXPECT_NEAR(lm, lu, 1e-4);
  // An empty side weighs nothing.
  std::vector<float> oe(D);
  const float le = cpu::attend_partial(q.data(), K.data(), V.data(), nullptr, {}, D, scale, oe.data(), probs.data());
  EXPECT_TRUE(std::isinf(le) && le < 0);
  cpu::lse_merge(oa.data(), la, oe.data(), le, D, om.data());
  for (int64_t d = 0; d < D; ++d) EXPECT_EQ(om[size_t(d)], oa[size_t(d)]);
}

// The backend's per-query-head path: each query head over its own two parts, merged, equals dense
// attention over that head's union (to 1e-5), and the attention mass sums to 1 over the union.
TEST(PartialAttention, PerQueryHeadTwoPartReadsMatchAttentionOverEachHeadsUnion) {
  const int Hq = 6, Hkv = 2, D = 32;
  const int64_t T = 200;
  KVCache c = random_cache(1, Hkv, D, T, 10);
  const auto q = gaussian(11, size_t(Hq * D), 1.5f);
  ReadSelection sel;
  sel.per_query_head = true;
  Rng rng(12);
  for (int qh = 0; qh < Hq; ++qh) {
    std::vector<int32_t> a, b;
    for (int32_t j = 0; j < T; ++j) {
      const uint64_t r = rng.below(4);
      if (r == 0) a.push_back(j);
      if (r == 1) b.push_back(j);
    }
    sel.sets.push_back(a);
    sel.second.push_back(b);
  }
  check_selection(sel, c, 0, Hq);
  const float scale = 1.0f / std::sqrt(float(D));
  std::vector<float> out(size_t(Hq * D));
  std::vector<std::vector<float>> mass;
  cpu::attention(q.data(), 1, c, 0, Hq, scale, out.data(), &mass, sel);
  for (int qh = 0; qh < Hq; ++qh) {
    const HeadRows rows = c.rows(0, qh / (Hq / Hkv));
    std::vector<int32_t> u;
    std::set_union(sel.sets[size_t(qh)].begin(), sel.sets[size_t(qh)].end(), sel.second[size_t(qh)].begin(),
                   sel.second[size_t(qh)].end(), std::back_inserter(u));
    std::vector<float> ref(D), probs(T);
    cpu::attend_partial(q.data() + qh * D, rows.keys(), rows.values(), nullptr, u, D, scale, ref.data(), probs.data());
    for (int d = 0; d < D; ++d) EXPECT_NEAR(out[size_t(qh * D + d)], ref[size_t(d)], 1e-5) << qh << "," << d;
    double m = 0;
    for (int32_t j : u) m += mass[size_t(qh)][size_t(j)];
    EXPECT_NEAR(m, 1.0, 1e-5);
  }
  // A second part overlapping the first is refused, naming the entry.
  sel.second[0].push_back(sel.sets[0].back());
  std::sort(sel.second[0].begin(), sel.second[0].end());
  sel.second[0].erase(std::unique(sel.second[0].begin(), sel.second[0].end()), sel.second[0].end());
  EXPECT_THROW(check_selection(sel, c, 0, Hq), Error);
}

// ---- seam (c): compact positions -----------------------------------------------------------------

// Keys cached post-RoPE at positions 0..T-1: a compact read of R entries attends exactly as if the
// pre-RoPE keys sat at positions 0..R-1 and the query at R-1; a read of every entry is unchanged.
TEST(CompactPositions, ReadEntriesAttendAtPositionsZeroToRMinusOne) {
  const int Hq = 2, Hkv = 1, D = 16;
  const int64_t T = 40;
  ModelConfig cfg = shape(1, Hq, Hkv, D);
  cfg.rope_theta = 10000.0f;
  const std::vector<float> inv_freq = rope_inv_freq(cfg);
  for (bool neox : {false, true}) {
    const auto k_pre = gaussian(200, size_t(T * D)), v = gaussian(201, size_t(T * D)), q_pre = gaussian(202, size_t(Hq * D));
    std::vector<float> k = k_pre, q = q_pre;
    std::vector<int32_t> pos(static_cast<size_t>(T));
    std::iota(pos.begin(), pos.end(), 0);
    rope(k.data(), T, 1, D, D, pos.data(), inv_freq, neox);
    const int32_t P = int32_t(T - 1);
    rope(q.data(), 1, Hq, D, Hq * D, &P, inv_freq, neox);
    KVCache c(1, Hkv, D);
    c.append(0, 0, k.data(), v.data(), D, pos.data(), T);
    ReadSelection sel;
    sel.sets = {{0, 5, 9, 20, 39}};
    sel.compact_positions = true;
    const float scale = 1.0f / std::sqrt(float(D));
    std::vector<float> out(size_t(Hq * D));
    cpu::attention(q.data(), 1, c, 0, Hq, scale, out.data(), nullptr, sel, cpu::MatmulMode::F32, &inv_freq, neox);
    // Reference: pre-RoPE keys at 0..4, the query at 4.
    const int64_t R = 5;
    std::vector<float> kc(size_t(R * D)), vc(size_t(R * D)), qc = q_pre;
    std::vector<int32_t> cpos(static_cast<size_t>(R));
    std::iota(cpos.begin(), cpos.end(), 0);
    for (int64_t r = 0; r < R; ++r) {
      std::copy(k_pre.begin() + sel.sets[0][size_t(r)] * D, k_pre.begin() + (sel.sets[0][size_t(r)] + 1) * D,
                kc.begin() + r * D);
      std::copy(v.begin() + sel.sets[0][size_t(r)] * D, v.begin() + (sel.sets[0][size_t(r)] + 1) * D, vc.begin() + r * D);
    }
    rope(kc.data(), R, 1, D, D, cpos.data(), inv_freq, neox);
    const int32_t qpos = int32_t(R - 1);
    rope(qc.data(), 1, Hq, D, Hq * D, &qpos, inv_freq, neox);
    std::vector<int32_t> all(static_cast<size_t>(R));
    std::iota(all.begin(), all.end(), 0);
    for (int qh = 0; qh < Hq; ++qh) {
      std::vector<float> ref(D), probs(R);
      cpu::attend_partial(qc.data() + qh * D, kc.data(), vc.data(), nullptr, all, D, scale, ref.data(), probs.data());
      for (int d = 0; d < D; ++d) EXPECT_NEAR(out[size_t(qh * D + d)], ref[size_t(d)], 1e-5) << neox << " " << qh;
    }
    // Every entry read: positions are already 0..T-1, the compact read equals the original one.
    ReadSelection every;
    every.per_query_head = true;
    every.sets.assign(Hq, std::vector<int32_t>(static_cast<size_t>(T)));
    for (auto& set : every.sets) std::iota(set.begin(), set.end(), 0);
    std::vector<float> a(out.size()), b(out.size());
    cpu::attention(q.data(), 1, c, 0, Hq, scale, a.data(), nullptr, every);
    every.compact_positions = true;
    cpu::attention(q.data(), 1, c, 0, Hq, scale, b.data(), nullptr, every, cpu::MatmulMode::F32, &inv_freq, neox);
    EXPECT_EQ(a, b);
  }
}

// ---- retrieval_attention's flat index -------------------------------------------------------------

TEST(FlatIndex, ReturnsTheTrueTopK) {
  const int64_t T = 500, D = 64;
  for (uint64_t seed : {1, 2, 3}) {
    auto K = gaussian(20 + seed, size_t(T * D));
    const auto q = gaussian(30 + seed, size_t(D));
    // Duplicated keys make exact ties: the lower index must win.
    std::copy(K.begin() + 7 * D, K.begin() + 8 * D, K.begin() + 300 * D);
    std::vector<int32_t> cand;
    for (int32_t j = 0; j < T; ++j)
      if (j % 5 != 0) cand.push_back(j);
    for (int64_t k : {1, 10, 64, 399, 400, 1000}) {
      const std::vector<int32_t> got = retrieval::flat_search(q.data(), K.data(), D, cand, k);
      // Brute force in double: candidates by (inner product desc, index asc).
      std::vector<std::pair<double, int32_t>> all;
      for (int32_t j : cand) {
        double s = 0;
        for (int64_t d = 0; d < D; ++d) s += double(q[size_t(d)]) * K[size_t(j * D + d)];
        all.push_back({-s, j});
      }
      std::sort(all.begin(), all.end());
      std::vector<int32_t> want;
      for (size_t i = 0; i < std::min<size_t>(size_t(k), all.size()); ++i) want.push_back(all[i].second);
      std::sort(want.begin(), want.end());
      EXPECT_EQ(got, want) << "seed " << seed << " k " << k;
    }
  }
  // The tie: with k at the duplicated key's rank, index 7 is in and 300 is out.
  auto K = gaussian(40, size_t(T * D));
  std::vector<float> q(size_t(D), 0.0f);
  std::copy(K.begin() + 7 * D, K.begin() + 8 * D, q.begin());  // q = key 7: key 7 (and its copy) rank first
  std::copy(K.begin() + 7 * D, K.begin() + 8 * D, K.begin() + 300 * D);
  std::vector<int32_t> cand(static_cast<size_t>(T));
  std::iota(cand.begin(), cand.end(), 0);
  const auto top1 = retrieval::flat_search(q.data(), K.data(), D, cand, 1);
  ASSERT_EQ(top1.size(), 1u);
  EXPECT_EQ(top1[0], 7);
}

// ---- seam (b): a selection shared across layers ---------------------------------------------------

// Runs a selector method over every layer of one decode step of `c` after telling it the budget.
std::vector<ReadSelection> select_all_layers(Method& m, const KVCache& c, const std::vector<float>& q, int64_t n_kept,
                                             int64_t n_context, const ModelConfig& cfg) {
  for (int l = 0; l < c.n_layers(); ++l) {
    LayerView v;
    v.layer = l;
    v.config = &cfg;
    v.cache = &c;
    v.n_context = n_context;
    v.n_kept = n_kept;
    m.compress_prefill(v);
  }
  std::vector<ReadSelection> out;
  for (int l = 0; l < c.n_layers(); ++l) out.push_back(m.select(l, q.data() + size_t(l) * size_t(cfg.n_heads * cfg.head_dim), c));
  return out;
}

// Per query head: the k entries of `layer` with the largest q . k (exact), positions.
std::vector<std::vector<int32_t>> exact_top_positions(const KVCache& c, int layer, const float* q, int Hq, int64_t k) {
  const int Hkv = c.n_kv_heads(), D = c.head_dim(), group = Hq / Hkv;
  std::vector<std::vector<int32_t>> out;
  for (int qh = 0; qh < Hq; ++qh) {
    const HeadRows rows = c.rows(layer, qh / group);
    std::vector<float> s(size_t(rows.size()));
    for (int64_t j = 0; j < rows.size(); ++j) s[size_t(j)] = cpu::dot(q + qh * D, rows.key(j), D);
    std::vector<int32_t> pos;
    for (int32_t j : top_k_stable(s, k)) pos.push_back(c.head(layer, qh / group).positions()[size_t(j)]);
    out.push_back(pos);
  }
  return out;
}

std::vector<std::vector<int32_t>> positions_of(const ReadSelection& s, const KVCache& c, int layer, int Hq) {
  const int group = Hq / c.n_kv_heads();
  std::vector<std::vector<int32_t>> out;
  for (size_t h = 0; h < s.sets.size(); ++h) {
    std::vector<int32_t> pos;
    for (int32_t j : s.sets[h]) pos.push_back(c.head(layer, int(h) / group).positions()[size_t(j)]);
    out.push_back(pos);
  }
  return out;
}

TEST(TidalDecode, LaterLayersReuseTheSelectionRecordedAtTheSparseStartAndCorrectionLayers) {
  const int L = 6, Hq = 4, Hkv = 2, D = 32;
  const int64_t T = 120, k = 16;
  const ModelConfig cfg = shape(L, Hq, Hkv, D);
  KVCache c = random_cache(L, Hkv, D, T, 50);
  const auto q = gaussian(51, size_t(L * Hq * D));
  MethodSpec spec;
  spec.id = "tidaldecode";
  spec.params = Params{{"sparse_layer_start", "1"}, {"correction_layer", "4"}};
  auto m = make_method(spec, cfg);
  const std::vector<ReadSelection> sel = select_all_layers(*m, c, q, k, T, cfg);
  // Layers 0, 1 (records) and 4 (corrects) attend densely.
  for (int l : {0, 1, 4}) EXPECT_TRUE(sel[size_t(l)].reads_everything()) << l;
  // Layers 2, 3 read layer 1's per-query-head top-k (by layer 1's keys and queries), 5 reads layer 4's.
  const auto from1 = exact_top_positions(c, 1, q.data() + 1 * Hq * D, Hq, k);
  const auto from4 = exact_top_positions(c, 4, q.data() + 4 * Hq * D, Hq, k);
  for (int l : {2, 3}) {
    ASSERT_TRUE(sel[size_t(l)].per_query_head);
    EXPECT_EQ(positions_of(sel[size_t(l)], c, l, Hq), from1) << l;
    // Not the layer's own top-k (the keys differ per layer): the selection really is reused.
    EXPECT_NE(positions_of(sel[size_t(l)], c, l, Hq), exact_top_positions(c, l, q.data() + l * Hq * D, Hq, k)) << l;
  }
  EXPECT_EQ(positions_of(sel[5], c, 5, Hq), from4);
}

TEST(SharedSelection, MapsRecordedPositionsOntoALayerThatHoldsOtherEntries) {
  const int Hkv = 2, D = 16, Hq = 4;
  KVCache c = random_cache(2, Hkv, D, 50, 60);
  ReadSelection s;
  s.per_query_head = true;
  s.sets = {{0, 5, 9, 40}, {1, 2}, {3, 49}, {10, 20, 30}};
  SharedSelection shared;
  shared.record(s, c, 0);
  // Layer 1 drops entries 0..9 of KV head 0 (an evicting part): position p now sits at index p - 10.
  std::vector<int32_t> keep;
  for (int32_t j = 10; j < 50; ++j) keep.push_back(j);
  c.keep(1, 0, keep);
  const ReadSelection r = shared.reuse(c, 1, Hq);
  EXPECT_EQ(r.sets[0], (std::vector<int32_t>{30}));    // position 40; 0, 5, 9 were dropped
  EXPECT_EQ(r.sets[1], (std::vector<int32_t>{}));      // 1, 2 dropped
  EXPECT_EQ(r.sets[2], (std::vector<int32_t>{3, 49}));  // KV head 1 untouched
  EXPECT_EQ(r.sets[3], (std::vector<int32_t>{10, 20, 30}));
}

// ---- loki ---------------------------------------------------------------------------------------

TEST(PcaBasis, JacobiEigenvectorsDiagonalizeTheMatrix) {
  const int n = 24;
  const auto x = gaussian(70, size_t(n * n));
  std::vector<double> a(size_t(n * n), 0.0);  // a = x x^T (symmetric positive semi-definite)
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      for (int k = 0; k < n; ++k) a[size_t(i * n + j)] += double(x[size_t(i * n + k)]) * x[size_t(j * n + k)];
  std::vector<double> values, vectors;
  symmetric_eigen(a, n, values, vectors);
  for (int i = 0; i < n; ++i) {
    if (i > 0) EXPECT_GE(values[size_t(i - 1)], values[size_t(i)]);
    for (int r = 0; r < n; ++r) {  // (A v)_r = lambda v_r
      double av = 0;
      for (int k = 0; k < n; ++k) av += a[size_t(r * n + k)] * vectors[size_t(i * n + k)];
      EXPECT_NEAR(av, values[size_t(i)] * vectors[size_t(i * n + r)], 1e-8 * values[0]) << i << "," << r;
    }
    for (int j = 0; j < n; ++j) {
      double dot = 0;
      for (int k = 0; k < n; ++k) dot += vectors[size_t(i * n + k)] * vectors[size_t(j * n + k)];
      EXPECT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-10);
    }
  }
}

TEST(PcaBasis, FileRoundTripsAndBadFilesAreClearErrors) {
  KVCache c = random_cache(2, 2, 8, 40, 80);
  std::vector<KeyMoments> m;
  add_cache_keys(c, m);
  const PcaBasis b = pca_basis_from(m, 2, 2, 8, "random");
  const std::string path = (test::tmp_dir() / "selectors_roundtrip.pca").string();
  write_pca_basis(path, b);
  const PcaBasis r = read_pca_basis(path);
  EXPECT_EQ(r.model, "random");
  EXPECT_EQ(r.components, b.components);
  EXPECT_EQ(r.eigenvalues, b.eigenvalues);
  EXPECT_EQ(r.mean, b.mean);
  // Truncated, trailing bytes, bad magic, missing: one error naming the file.
  const auto size = std::filesystem::file_size(path);
  auto expect_error = [&](const std::string& p, const char* what) {
    try {
      read_pca_basis(p);
      ADD_FAILURE() << what << ": no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  std::filesystem::resize_file(path, size - 3);
  expect_error(path, "truncated");
  std::filesystem::resize_file(path, size + 4);
  expect_error(path, "trailing");
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.write("XXXX", 4);
  }
  expect_error(path, "magic");
  expect_error(path + ".missing", "cannot open");
}

// Loki with every component (r = D) scores exactly (P orthonormal: (qP)(kP)^T = q k^T), so its
// per-query-head selection is the exact top-k; at r = 1 it differs.
// A PCA basis of the cache's keys, written to tmp/NAME; its path.
std::string loki_basis_of(const KVCache& c, const std::string& name) {
  std::vector<KeyMoments> m;
  add_cache_keys(c, m);
  const std::string path = (test::tmp_dir() / name).string();
  write_pca_basis(path, pca_basis_from(m, c.n_layers(), c.n_kv_heads(), c.head_dim(), "random"));
  return path;
}

TEST(Loki, FullRankSelectsTheExactTopK) {
  const int L = 2, Hq = 4, Hkv = 2, D = 16;
  const int64_t T = 150, k = 20;
  const ModelConfig cfg = shape(L, Hq, Hkv, D);
  KVCache c = random_cache(L, Hkv, D, T, 90);
  const std::string path = loki_basis_of(c, "selectors_loki.pca");
  const auto q = gaussian(91, size_t(L * Hq * D));
  MethodSpec spec;
  spec.id = "loki";
  spec.params = Params{{"basis", path}, {"rank", std::to_string(D)}};
  auto full_rank = make_method(spec, cfg);
  const auto sel = select_all_layers(*full_rank, c, q, k, T, cfg);
  spec.params.set("rank", "1");
  auto rank1 = make_method(spec, cfg);
  const auto sel1 = select_all_layers(*rank1, c, q, k, T, cfg);
  for (int l = 0; l < L; ++l) {
    ASSERT_TRUE(sel[size_t(l)].per_query_head);
    EXPECT_EQ(positions_of(sel[size_t(l)], c, l, Hq), exact_top_positions(c, l, q.data() + l * Hq * D, Hq, k)) << l;
    EXPECT_NE(positions_of(sel1[size_t(l)], c, l, Hq), exact_top_positions(c, l, q.data() + l * Hq * D, Hq, k)) << l;
  }
  // A basis for another shape is refused, naming the file and both shapes.
  try {
    make_method(spec, shape(3, Hq, Hkv, D));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

// ---- tokenselect ----------------------------------------------------------------------------------

// One token set for every head of the layer (the soft vote over all query heads), sinks and local
// always read, n_sink + n_local + top_k entries per KV head; a key that matches one KV head's query
// heads strongly is chosen for every KV head.
TEST(TokenSelect, OneSetSharedByAllHeadsWithSinksAndLocal) {
  const int L = 1, Hq = 4, Hkv = 2, D = 16;
  const int64_t T = 200, budget = 60, sink = 8, local = 24;
  const ModelConfig cfg = shape(L, Hq, Hkv, D);
  KVCache c(L, Hkv, D);
  std::vector<int32_t> pos(static_cast<size_t>(T));
  std::iota(pos.begin(), pos.end(), 0);
  auto k0 = gaussian(100, size_t(T * D), 0.1f), k1 = gaussian(101, size_t(T * D), 0.1f);
  const auto v = gaussian(102, size_t(T * D));
  auto q = gaussian(103, size_t(Hq * D), 0.1f);
  for (int d = 0; d < D; ++d) {  // query heads 0, 1 (KV head 0) point at key 77 of KV head 0
    k0[size_t(77 * D + d)] = 3.0f;
    q[size_t(0 * D + d)] = q[size_t(1 * D + d)] = 3.0f;
  }
  c.append(0, 0, k0.data(), v.data(), D, pos.data(), T);
  c.append(0, 1, k1.data(), v.data(), D, pos.data(), T);
  c.advance(int32_t(T));
  MethodSpec spec;
  spec.id = "tokenselect";
  spec.params = Params{{"n_sink", std::to_string(sink)}, {"n_local", std::to_string(local)}};
  auto m = make_method(spec, cfg);
  const auto sel = select_all_layers(*m, c, q, budget, T, cfg);
  ASSERT_FALSE(sel[0].per_query_head);
  ASSERT_EQ(sel[0].sets.size(), size_t(Hkv));
  EXPECT_EQ(sel[0].sets[0], sel[0].sets[1]);
  EXPECT_EQ(int64_t(sel[0].sets[0].size()), budget);
  const std::set<int32_t> s(sel[0].sets[1].begin(), sel[0].sets[1].end());
  for (int32_t j = 0; j < sink; ++j) EXPECT_TRUE(s.count(j)) << j;
  for (int32_t j = int32_t(T - local); j < T; ++j) EXPECT_TRUE(s.count(j)) << j;
  EXPECT_TRUE(s.count(77));
  // A budget below n_sink + n_local + 1 is one clear error.
  auto small = make_method(spec, cfg);
  EXPECT_THROW(select_all_layers(*small, c, q, sink + local, T, cfg), Error);
}

// Quest keeps its page bounds between steps and extends them by the appended entries; any other change
// to a head (KIVI encoding, which keeps the entry count; a restored snapshot; a keep) recomputes them.
// Over decode steps that append, encode, restore and evict, each step's selection equals a fresh
// quest's (bounds computed from scratch).
TEST(Quest, BoundsKeptBetweenStepsSelectWhatFreshBoundsSelect) {
  const int L = 2, Hq = 4, Hkv = 2, D = 16;
  const int64_t T = 203, budget = 48;
  const ModelConfig cfg = shape(L, Hq, Hkv, D);
  KVCache c = random_cache(L, Hkv, D, T, 7);
  MethodSpec spec;
  spec.id = "quest";
  // Pages of 4 within KIVI's key groups of 8: quantization moves a page's min / max (with pages equal
  // to the groups it would keep them: KIVI maps each channel's group min and max onto itself).
  spec.params = Params{{"dense_layers", "0"}, {"page_size", "4"}};
  auto kept = make_method(spec, cfg);
  (void)select_all_layers(*kept, c, gaussian(1, size_t(L * Hq * D)), budget, T, cfg);
  const KVCache snapshot = c;
  int compared = 0, differs_from_first = 0;
  std::vector<std::vector<int32_t>> first;
  for (int step = 0; step < 24; ++step) {
    if (step == 4) c.set_codec(KiviConfig{2, 8, 8});  // quest+kivi: entries read back dequantized, same count
    if (step == 10) c = snapshot;  // a shared-prefill restore
    if (step == 17)
      for (int g = 0; g < Hkv; ++g) {  // an eviction between steps
        std::vector<int32_t> keep;
        for (int32_t j = 0; j < int32_t(c.head(1, g).size()); j += 2) keep.push_back(j);
        c.keep(1, g, keep);
      }
    const std::vector<float> q = gaussian(uint64_t(100 + step), size_t(L * Hq * D));
    auto fresh = make_method(spec, cfg);
    const auto want = select_all_layers(*fresh, c, q, budget, T, cfg);
    for (int l = 0; l < L; ++l) {
      const ReadSelection got = kept->select(l, q.data() + size_t(l * Hq * D), c);
      ASSERT_EQ(got.sets, want[size_t(l)].sets) << "step " << step << " layer " << l;
      ++compared;
    }
    if (first.empty()) first = want[0].sets;
    differs_from_first += want[0].sets != first;
    for (int l = 0; l < L; ++l)  // the step's new token: bigger keys every step move the top pages
      for (int g = 0; g < Hkv; ++g) {
        std::vector<float> k = gaussian(uint64_t(1000 + step * 10 + l * 3 + g), size_t(D), 1.0f + float(step));
        const int32_t p = c.next_position();
        c.append(l, g, k.data(), k.data(), D, &p, 1);
      }
    c.advance(1);
  }
  EXPECT_EQ(compared, 48);
  EXPECT_GT(differs_from_first, 10) << "the steps must select different pages for the comparison to mean anything";
}

// Loki keeps its rank-r projections of the compressed part between steps; KIVI encoding those entries
// (same positions, other values) must recompute them: each step's selection equals a fresh loki's.
TEST(Loki, ProjectionsKeptBetweenStepsSelectWhatFreshProjectionsSelect) {
  const int L = 2, Hq = 4, Hkv = 2, D = 16;
  const int64_t T = 150, k = 20;
  const ModelConfig cfg = shape(L, Hq, Hkv, D);
  KVCache c = random_cache(L, Hkv, D, T, 95);
  const std::string path = loki_basis_of(c, "selectors_loki_kept.pca");
  MethodSpec spec;
  spec.id = "loki";
  spec.params = Params{{"basis", path}, {"rank", "4"}};
  auto kept = make_method(spec, cfg);
  (void)select_all_layers(*kept, c, gaussian(1, size_t(L * Hq * D)), k, T, cfg);
  int changed_by_encoding = 0;
  for (int step = 0; step < 6; ++step) {
    std::vector<ReadSelection> before;
    if (step == 3) {
      before = select_all_layers(*make_method(spec, cfg), c, gaussian(200 + uint64_t(step), size_t(L * Hq * D)), k, T, cfg);
      c.set_codec(KiviConfig{2, 16, 8});  // every entry but the newest 8-23 read back 2-bit
    }
    const std::vector<float> q = gaussian(200 + uint64_t(step), size_t(L * Hq * D));
    const auto want = select_all_layers(*make_method(spec, cfg), c, q, k, T, cfg);
    for (int l = 0; l < L; ++l) {
      ASSERT_EQ(kept->select(l, q.data() + size_t(l * Hq * D), c).sets, want[size_t(l)].sets) << "step " << step << " layer " << l;
      if (!before.empty()) changed_by_encoding += before[size_t(l)].sets != want[size_t(l)].sets;
    }
    for (int l = 0; l < L; ++l)
      for (int g = 0; g < Hkv; ++g) {
        const std::vector<float> kv = gaussian(uint64_t(500 + step * 10 + l * 3 + g), size_t(D));
        const int32_t p = c.next_position();
        c.append(l, g, kv.data(), kv.data(), D, &p, 1);
      }
    c.advance(1);
  }
  EXPECT_GT(changed_by_encoding, 0) << "the encoding must change what loki selects for the test to mean anything";
}

// ---- hip ------------------------------------------------------------------------------------------

// Keys [T, D] whose q . k for q = e_a (a = 0, 1) is a tent peaking at peak[a] (strictly decreasing away
// from it, right side slightly lower: no ties). On such a case the hierarchical top-k is exact: at
// every level the kept halves are those whose representative (center) lies nearest the peak.
std::vector<float> tent_keys(int64_t T, int D, int32_t peak0, int32_t peak1) {
  std::vector<float> k(size_t(T * D), 0.0f);
  for (int64_t j = 0; j < T; ++j) {
    k[size_t(j * D + 0)] = -float(std::abs(j - peak0)) - (j > peak0 ? 0.25f : 0.0f);
    k[size_t(j * D + 1)] = -float(std::abs(j - peak1)) - (j > peak1 ? 0.25f : 0.0f);
  }
  return k;
}

TEST(Hip, HierarchicalTopKWithSingleTokenBlocksIsExactOnATentAndReturnsAllWhenKCoversThem) {
  const int D = 4;
  const int64_t T = 300, k = 16;
  std::vector<int32_t> cand;  // entries 10..265: candidates need not start at 0
  for (int32_t j = 10; j < 266; ++j) cand.push_back(j);
  const std::vector<float> q = {1, 0, 0, 0};
  for (int32_t peak : {10, 13, 100, 141, 200, 263, 265}) {
    const auto keys = tent_keys(T, D, peak, 0);
    std::vector<float> s(cand.size());
    for (size_t r = 0; r < cand.size(); ++r) s[r] = keys[size_t(cand[r]) * D];
    std::vector<int32_t> exact;
    for (int32_t r : top_k_stable(s, k)) exact.push_back(cand[size_t(r)]);
    EXPECT_EQ(hip::hierarchical_top_k(q.data(), keys.data(), D, cand, k, 1, hip::Representative::Center), exact)
        << "peak " << peak;
    // Blocks of 2 keep k / 2 blocks = k entries around the peak.
    const auto blocks = hip::hierarchical_top_k(q.data(), keys.data(), D, cand, k, 2, hip::Representative::Center);
    EXPECT_EQ(int64_t(blocks.size()), k) << peak;
    EXPECT_TRUE(std::is_sorted(blocks.begin(), blocks.end()));
    for (int32_t j : blocks) EXPECT_LE(std::abs(j - peak), k) << peak;
  }
  const auto keys = tent_keys(T, D, 50, 0);
  EXPECT_EQ(hip::hierarchical_top_k(q.data(), keys.data(), D, cand, int64_t(cand.size()), 2, hip::Representative::Center),
            cand);
}

// Each half is scored by its representative token only (a hand-worked case, M = 8, k = 2, b_k = 1).
// Center: groups [0,4) [4,8) -> halves [0,2) [2,4) [4,6) [6,8) scored by tokens 1, 3, 5, 7 = 0, 5, 0, 6
// -> keep [2,4) [6,8) -> tokens 2, 3, 6, 7 = 0, 5, 0, 6 -> {3, 7}: token 0 (the maximum) is missed.
// First: halves scored by tokens 0, 2, 4, 6 = 10, 0, 0, 0 -> keep [0,2) [2,4) (tie: lower) -> {0, 3}.
TEST(Hip, HierarchicalTopKScoresEachHalfByItsRepresentativeToken) {
  const int D = 1;
  const std::vector<float> keys = {10, 0, 0, 5, 0, 0, 0, 6}, q = {1};
  const std::vector<int32_t> cand = {0, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ(hip::hierarchical_top_k(q.data(), keys.data(), D, cand, 2, 1, hip::Representative::Center),
            (std::vector<int32_t>{3, 7}));
  EXPECT_EQ(hip::hierarchical_top_k(q.data(), keys.data(), D, cand, 2, 1, hip::Representative::First),
            (std::vector<int32_t>{0, 3}));
}

// Per query head: sinks + sliding window + the hierarchical top-k of the rest; dense layers read all.
TEST(Hip, PerQueryHeadSinksWindowAndTopKAfterTheDenseLayers) {
  const int L = 2, Hq = 4, Hkv = 2, D = 4;
  const int64_t T = 300, sink = 4, window = 32, budget = 52;  // top-k 16
  const ModelConfig cfg = shape(L, Hq, Hkv, D);
  KVCache c(L, Hkv, D);
  std::vector<int32_t> pos(static_cast<size_t>(T));
  std::iota(pos.begin(), pos.end(), 0);
  const int32_t peaks[Hkv][2] = {{40, 150}, {3, 200}};  // 3 is a sink: its neighbours are picked
  const auto v = gaussian(120, size_t(T * D));
  for (int l = 0; l < L; ++l)
    for (int g = 0; g < Hkv; ++g) c.append(l, g, tent_keys(T, D, peaks[g][0], peaks[g][1]).data(), v.data(), D, pos.data(), T);
  c.advance(int32_t(T));
  std::vector<float> q(size_t(L * Hq * D), 0.0f);  // query head 2g + a = e_a
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < Hq; ++h) q[size_t((l * Hq + h) * D + h % 2)] = 1.0f;
  MethodSpec spec;
  spec.id = "hip";
  spec.params = Params{{"n_sink", std::to_string(sink)}, {"n_window", std::to_string(window)}, {"dense_layers", "1"},
                       {"block_size", "1"}};
  auto m = make_method(spec, cfg);
  const auto sel = select_all_layers(*m, c, q, budget, T, cfg);
  EXPECT_TRUE(sel[0].reads_everything());
  ASSERT_TRUE(sel[1].per_query_head);
  ASSERT_EQ(sel[1].sets.size(), size_t(Hq));
  for (int h = 0; h < Hq; ++h) {
    const int32_t peak = peaks[h / 2][h % 2];
    std::vector<float> s;
    for (int64_t j = sink; j < T - window; ++j) s.push_back(-float(std::abs(j - peak)) - (j > peak ? 0.25f : 0.0f));
    std::set<int32_t> want;
    for (int32_t j = 0; j < sink; ++j) want.insert(j);
    for (int32_t j = int32_t(T - window); j < T; ++j) want.insert(j);
    for (int32_t r : top_k_stable(s, budget - sink - window)) want.insert(int32_t(r + sink));
    EXPECT_EQ(sel[1].sets[size_t(h)], std::vector<int32_t>(want.begin(), want.end())) << h;
  }
  // A budget leaving less than one block for the top-k is one clear error.
  auto small = make_method(spec, cfg);
  EXPECT_THROW(select_all_layers(*small, c, q, sink + window, T, cfg), Error);
}

// The mask is computed at steps 0, R, 2R, ... and reused (as positions) in between, whatever the
// query; entries appended since are read too.
TEST(Hip, MaskIsReusedBetweenRefreshes) {
  const int L = 2, Hq = 4, Hkv = 2, D = 16;
  const int64_t T = 200, budget = 40;
  const ModelConfig cfg = shape(L, Hq, Hkv, D);
  KVCache c = random_cache(L, Hkv, D, T, 130);
  MethodSpec spec;
  spec.id = "hip";
  spec.params = Params{{"n_sink", "4"}, {"n_window", "8"}, {"dense_layers", "0"}, {"refresh_interval", "3"}};
  auto m = make_method(spec, cfg);
  auto fresh = make_method(spec, cfg);  // what a mask computed at that step would be
  const auto q0 = gaussian(131, size_t(L * Hq * D)), q1 = gaussian(132, size_t(L * Hq * D));
  const auto step = [&](Method& method, const std::vector<float>& q) {
    std::vector<ReadSelection> out;
    for (int l = 0; l < L; ++l) out.push_back(method.select(l, q.data() + size_t(l * Hq * D), c));
    return out;
  };
  const auto s0 = select_all_layers(*m, c, q0, budget, T, cfg);  // step 0: refresh
  // A generated token (position T) arrives before step 1.
  const auto nk = gaussian(133, size_t(D)), nv = gaussian(134, size_t(D));
  const int32_t p = int32_t(T);
  for (int l = 0; l < L; ++l)
    for (int g = 0; g < Hkv; ++g) c.append(l, g, nk.data(), nv.data(), D, &p, 1);
  c.advance(1);
  std::vector<ReadSelection> reused;
  for (int s = 1; s <= 2; ++s) {  // steps 1, 2: step 0's mask plus the new entry, although the query changed
    const auto r = step(*m, q1);
    reused = r;
    for (int l = 0; l < L; ++l)
      for (int h = 0; h < Hq; ++h) {
        std::vector<int32_t> want = s0[size_t(l)].sets[size_t(h)];
        want.push_back(int32_t(T));
        EXPECT_EQ(r[size_t(l)].sets[size_t(h)], want) << "step " << s << " layer " << l << " head " << h;
      }
  }
  const auto s3 = step(*m, q1);  // step 3: refreshed from q1
  const auto want3 = select_all_layers(*fresh, c, q1, budget, T, cfg);
  for (int l = 0; l < L; ++l) {
    EXPECT_EQ(s3[size_t(l)].sets, want3[size_t(l)].sets) << l;
    EXPECT_NE(s3[size_t(l)].sets, reused[size_t(l)].sets) << l;  // q1's own mask differs from the reused one
  }
}

// ---- recycled_attention ---------------------------------------------------------------------------

// C_p by definition: per KV head, the top-K entries of max over the group's query heads of the
// max-pooled (kernel 7) attention softmax(q . k / sqrt(D)).
// Entries of the compressed part (indices < n_context here) only.
std::vector<std::vector<int32_t>> recycled_partial_cache(const KVCache& c, int layer, const float* q, int Hq, int64_t K,
                                                         int64_t n_context) {
  const int Hkv = c.n_kv_heads(), D = c.head_dim(), group = Hq / Hkv;
  std::vector<std::vector<int32_t>> out;
  for (int g = 0; g < Hkv; ++g) {
    const HeadRows rows = c.rows(layer, g);
    const int64_t T = rows.size();
    std::vector<float> score(static_cast<size_t>(T), 0.0f);
    for (int qh = g * group; qh < (g + 1) * group; ++qh) {
      std::vector<double> a(static_cast<size_t>(T));
      double mx = -1e30, sum = 0;
      for (int64_t j = 0; j < T; ++j) mx = std::max(mx, a[size_t(j)] = cpu::dot(q + qh * D, rows.key(j), D) / std::sqrt(double(D)));
      for (auto& x : a) sum += (x = std::exp(x - mx));
      for (int64_t j = 0; j < T; ++j) {
        double pooled = 0;
        for (int64_t i = j - 3; i <= j + 3; ++i)
          if (i >= 0 && i < T) pooled = std::max(pooled, a[size_t(i)] / sum);
        score[size_t(j)] = std::max(score[size_t(j)], float(pooled));
      }
    }
    score.resize(size_t(n_context));
    out.push_back(top_k_stable(score, K));
  }
  return out;
}

TEST(RecycledAttention, FullStepEveryStrideStepsAndPartialStepsReadTheLastFullStepsTopK) {
  const int L = 2, Hq = 4, Hkv = 2, D = 16;
  const int64_t T = 160, K = 24, stride = 3;
  const ModelConfig cfg = shape(L, Hq, Hkv, D);
  KVCache c = random_cache(L, Hkv, D, T, 140);
  MethodSpec spec;
  spec.id = "recycled_attention";
  spec.params = Params{{"stride", std::to_string(stride)}};
  auto m = make_method(spec, cfg);
  std::vector<std::vector<std::vector<int32_t>>> cp(static_cast<size_t>(L));  // [L] C_p of the last full step
  std::vector<int32_t> added;                                     // entries appended since the prefill
  for (int step = 0; step < 10; ++step) {
    const auto q = gaussian(141 + uint64_t(step), size_t(L * Hq * D));
    std::vector<ReadSelection> sel;
    if (step == 0) {
      sel = select_all_layers(*m, c, q, K, T, cfg);
    } else {
      for (int l = 0; l < L; ++l) sel.push_back(m->select(l, q.data() + size_t(l * Hq * D), c));
    }
    const bool full = step % stride == 0;
    for (int l = 0; l < L; ++l) {
      EXPECT_EQ(sel[size_t(l)].reads_everything(), full) << "step " << step << " layer " << l;
      if (full) {
        cp[size_t(l)] = recycled_partial_cache(c, l, q.data() + size_t(l * Hq * D), Hq, K, T);
        continue;
      }
      ASSERT_FALSE(sel[size_t(l)].per_query_head);
      ASSERT_EQ(sel[size_t(l)].sets.size(), size_t(Hkv));
      for (int g = 0; g < Hkv; ++g) {
        std::vector<int32_t> want = cp[size_t(l)][size_t(g)];
        want.insert(want.end(), added.begin(), added.end());  // the entries added since are read too
        EXPECT_EQ(sel[size_t(l)].sets[size_t(g)], want) << "step " << step << " layer " << l << " head " << g;
      }
    }
    // A generated token arrives after each step.
    const auto nk = gaussian(160 + uint64_t(step), size_t(D)), nv = gaussian(170 + uint64_t(step), size_t(D));
    const int32_t p = int32_t(T + step);
    for (int l = 0; l < L; ++l)
      for (int g = 0; g < Hkv; ++g) c.append(l, g, nk.data(), nv.data(), D, &p, 1);
    c.advance(1);
    added.push_back(p);
  }
}

// query_similarity: every qc steps after the last full step, a full step when the mean query drifted
// (cosine below the threshold); steps between checks never are.
TEST(RecycledAttention, QuerySimilarityScheduleRunsAFullStepWhenTheQueryDrifts) {
  const int L = 1, Hq = 2, Hkv = 1, D = 8;
  const int64_t T = 100, K = 10;
  const ModelConfig cfg = shape(L, Hq, Hkv, D);
  KVCache c = random_cache(L, Hkv, D, T, 150);
  MethodSpec spec;
  spec.id = "recycled_attention";
  spec.params = Params{{"schedule", "query_similarity"}, {"qc", "2"}, {"similarity", "0.9"}};
  auto m = make_method(spec, cfg);
  std::vector<float> same(size_t(Hq * D), 0.0f), other(size_t(Hq * D), 0.0f);  // cosine 0.8 < 0.9
  for (int h = 0; h < Hq; ++h) {
    same[size_t(h * D)] = 1.0f;
    other[size_t(h * D)] = 0.8f;
    other[size_t(h * D + 1)] = 0.6f;
  }
  EXPECT_TRUE(select_all_layers(*m, c, same, K, T, cfg)[0].reads_everything());  // step 0
  EXPECT_FALSE(m->select(0, same.data(), c).reads_everything());                  // 1
  EXPECT_FALSE(m->select(0, same.data(), c).reads_everything());                  // 2: checked, similar
  EXPECT_FALSE(m->select(0, other.data(), c).reads_everything());                 // 3: not a check step
  EXPECT_TRUE(m->select(0, other.data(), c).reads_everything());                  // 4: checked, drifted
  EXPECT_FALSE(m->select(0, other.data(), c).reads_everything());                 // 5
  EXPECT_FALSE(m->select(0, other.data(), c).reads_everything());                 // 6: similar to step 4's
}

// ---- read statistics ------------------------------------------------------------------------------

TEST(DecodeReads, LayerReadCountsTheUnionPerKvHeadAndItsBytes) {
  const int Hq = 4, Hkv = 2, D = 16;
  KVCache c = random_cache(1, Hkv, D, 30, 110);
  ReadSelection s;
  s.per_query_head = true;
  s.sets = {{0, 1, 2}, {2, 3}, {5}, {}};
  s.second = {{10}, {10, 11}, {}, {5 + 1}};
  // KV head 0: {0, 1, 2, 3, 10, 11} = 6; KV head 1: {5, 6} = 2.
  const LayerRead r = layer_read(&s, c, 0, Hq);
  EXPECT_EQ(r.entries, 8);
  EXPECT_EQ(r.bytes, 8.0 * 2 * D * 4);
  const LayerRead all = layer_read(nullptr, c, 0, Hq);
  EXPECT_EQ(all.entries, 60);
  EXPECT_EQ(all.bytes, 60.0 * 2 * D * 4);
  // KIVI-packed entries count the packed block's bytes per entry.
  c.set_codec(KiviConfig{2, 8, 6});
  const HeadCache& h = c.head(0, 0);
  ASSERT_GT(h.n_quantized(), 0);
  ReadSelection one;
  one.sets = {{0, 29}, {}};
  const LayerRead p = layer_read(&one, c, 0, Hq);
  EXPECT_EQ(p.entries, 2);
  EXPECT_DOUBLE_EQ(p.bytes, double(h.quantized().bytes()) / double(h.n_quantized()) + 2.0 * D * 4);
}

struct Tiny {
  Checkpoint ck;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Transformer> model;
  Tiny() : ck(load_checkpoint(test::tiny_model_dir("llama_gqa"))) {
    tok = make_tokenizer(ck.tokenizer);
    model = std::make_unique<Transformer>(ck.config, ck.weights, EngineOptions{32});
  }
};

std::vector<int32_t> ids(uint64_t seed, int n) {
  Rng rng(seed);
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (auto& t : out) t = int32_t(1 + rng.below(300));
  return out;
}

// A case's decode read statistics equal the analytic figure: full attention reads every entry of
// every (layer, KV head) at each step (T grows by one per step); tokenselect reads exactly
// n_sink + n_local + top_k entries per (layer, KV head) while the newer entries fit in n_local.
TEST(DecodeReads, CaseStatisticsEqualTheAnalyticFigure) {
  static Tiny m;
  const ModelConfig& c = m.ck.config;
  const int n_ctx = 160, n_q = 8, n_new = 6;
  auto run = [&](const MethodSpec& s) {
    CaseResult r;
    CompressedPrefill p = prefill_with_method(*m.model, s, ids(7, n_ctx), ids(8, n_q), n_new, r);
    GenerationOptions opt;
    opt.max_new_tokens = n_new;
    opt.stop_at_end_of_generation = false;
    generate_with_method(*m.model, p, *m.tok, opt, r);
    return r.decode_reads;
  };
  const DecodeReadStats full = run(MethodSpec{});
  ASSERT_GT(full.steps, 0);
  const int64_t LH = int64_t(c.n_layers) * c.n_kv_heads, bytes_per = 2 * int64_t(c.head_dim) * 4;
  // Step s (0-based) attends over the prompt, the s tokens generated before it and itself.
  double sum = 0;
  for (int64_t s = 0; s < full.steps; ++s) sum += double(LH * (n_ctx + n_q + s + 1));
  EXPECT_DOUBLE_EQ(full.mean_entries(), sum / double(full.steps));
  EXPECT_EQ(full.entries_max, LH * (n_ctx + n_q + full.steps));
  EXPECT_DOUBLE_EQ(full.mean_bytes(), full.mean_entries() * double(bytes_per));

  MethodSpec ts;
  ts.id = "tokenselect";
  ts.params = Params{{"n_sink", "4"}, {"n_local", "16"}};
  ts.token_budget = 60;  // top_k = 40
  const DecodeReadStats sel = run(ts);
  EXPECT_EQ(sel.steps, full.steps);
  EXPECT_DOUBLE_EQ(sel.mean_entries(), double(LH * 60));  // newer entries (<= 8 + 6) fit in n_local = 16
  EXPECT_EQ(sel.entries_max, LH * 60);
  EXPECT_DOUBLE_EQ(sel.mean_bytes(), double(LH * 60 * bytes_per));
  // Per-query-head selectors read between k + newer and g k + newer entries per (layer, KV head).
  for (const char* id : {"tidaldecode", "retrieval_attention"}) {
    MethodSpec s;
    s.id = id;
    s.token_budget = 60;
    if (std::string(id) == "tidaldecode") s.params = Params{{"sparse_layer_start", "0"}, {"correction_layer", "2"}};
    if (std::string(id) == "retrieval_attention") s.params = Params{{"n_sink", "4"}, {"n_local", "16"}};
    const DecodeReadStats r = run(s);
    EXPECT_LT(r.mean_entries(), full.mean_entries()) << id;
    EXPECT_GT(r.mean_entries(), 0.0) << id;
  }
}

// With a budget covering the compressed part, every selector's decode steps are full attention bit
// for bit (the logits of each step, not only the greedy tokens); with a small budget they differ
// (the selection is engaged). The decode tokens are fed one by one through DecodeHooks.
TEST(Selectors, BudgetCoveringTheContextDecodesBitForBitAsFullAttention) {
  static Tiny m;
  const ModelConfig& c = m.ck.config;
  const std::string basis = (test::tmp_dir() / "selectors_tiny.pca").string();
  {
    KVCache cache = m.model->make_cache();
    m.model->forward(ids(99, 200), cache, LogitRows::None);
    std::vector<KeyMoments> mom;
    add_cache_keys(cache, mom);
    write_pca_basis(basis, pca_basis_from(mom, c.n_layers, c.n_kv_heads, c.head_dim, "llama_gqa"));
  }
  // Logits of 4 decode steps (fixed input tokens) after the method's prefill.
  auto step_logits = [&](const MethodSpec& s) {
    CaseResult r;
    CompressedPrefill p = prefill_with_method(*m.model, s, ids(7, 160), ids(8, 8), 4, r);
    double secs = 0;
    size_t peak = 0;
    DecodeHooks hooks(*p.method, c, p.cache, secs, peak);
    std::vector<std::vector<float>> out;
    for (int32_t t : ids(9, 4)) out.push_back(m.model->forward(std::vector<int32_t>{t}, p.cache, LogitRows::Last, &hooks).data);
    return out;
  };
  const auto full = step_logits(MethodSpec{});
  for (const char* id : {"quest", "tokenselect", "retrieval_attention", "tidaldecode", "loki", "hip",
                         "recycled_attention"}) {
    MethodSpec s;
    s.id = id;
    const std::string name = id;
    if (name == "quest") s.params = Params{{"dense_layers", "0"}, {"page_size", "4"}};
    if (name == "tokenselect" || name == "retrieval_attention") s.params = Params{{"n_sink", "4"}, {"n_local", "16"}};
    if (name == "tidaldecode") s.params = Params{{"sparse_layer_start", "0"}, {"correction_layer", "2"}};
    if (name == "loki") s.params = Params{{"basis", basis}};
    if (name == "hip")
      s.params = Params{{"n_sink", "4"}, {"n_window", "16"}, {"dense_layers", "0"}, {"refresh_interval", "2"}};
    if (name == "recycled_attention") s.params = Params{{"stride", "2"}};
    s.token_budget = name == "quest" ? 176 : 160;  // the compressed part (quest counts every entry, T <= 172)
    EXPECT_EQ(step_logits(s), full) << id;
    s.token_budget = 40;
    EXPECT_NE(step_logits(s), full) << id << ": a budget of 40 should read a subset";
  }
}

// End to end through the CLI on stories260K: `calibrate loki` writes a basis `eval --method loki`
// loads; every selector's stored rows read fewer K/V bytes per decode step than full attention's,
// and full attention's read is its whole cache.
TEST(DecodeReads, EvalStoresWhatEachSelectorRead) {
  const std::string model = test::stories260k().string();
  const std::string basis = (test::tmp_dir() / "selectors_stories.pca").string();
  const auto cal = test::run_kvbench("calibrate loki --model '" + model + "' --out '" + basis + "' --length 64 --n 2 -t 1");
  ASSERT_EQ(cal.exit_code, 0) << cal.output;
  EXPECT_NE(cal.output.find("components explain"), std::string::npos) << cal.output;
  const std::string out = (test::tmp_dir() / "selectors_eval.json").string();
  const auto e = test::run_kvbench(
      "eval -q --model '" + model + "' --chat-template none --task niah_single --length 300 --n 1 -t 1 "
      "--param max_new_tokens=4 --method full,quest,tokenselect,retrieval_attention,tidaldecode,loki,hip,"
      "recycled_attention --ratio 0.75 --param n_sink=4 --param n_local=16 --param sparse_layer_start=1 "
      "--param page_size=4 --param n_window=16 --param refresh_interval=2 --param stride=2 "
      "--param basis='" + basis +
      "' --json '" + out + "'");
  ASSERT_EQ(e.exit_code, 0) << e.output;
  std::ifstream f(out);
  const nlohmann::json j = nlohmann::json::parse(f);
  std::map<std::string, double> read;
  for (const auto& c : j["configs"]) {
    ASSERT_EQ(c["cases"].size(), 1u) << c.dump();
    read[c["method"].get<std::string>()] = c["cases"][0]["decode_read_bytes_mean"].get<double>();
  }
  ASSERT_EQ(read.size(), 8u);
  ASSERT_GT(read["full"], 0.0);
  for (const char* id : {"quest", "tokenselect", "retrieval_attention", "tidaldecode", "loki", "hip",
                         "recycled_attention"}) {
    EXPECT_GT(read[id], 0.0) << id;
    EXPECT_LT(read[id], read["full"]) << id;
  }
  // Without a basis loki says how to make one; a missing file is named.
  const auto bad = test::run_kvbench("eval -q --model '" + model + "' --chat-template none --task niah_single "
                                     "--length 300 --n 1 --param max_new_tokens=4 --method loki --ratio 0.5");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("kvbench calibrate loki"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace kvb
