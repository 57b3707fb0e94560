// longheads (methods/longheads.cpp): chunk features equal a direct computation from pre-RoPE keys and
// queries rotated to chunk-local positions; each query head reads the first chunk, the last whole
// chunk, the partial newest chunk and its own top-scored chunks (whole chunks, within the budget),
// at compact positions; a budget covering the context decodes bit for bit as full attention.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <set>

#include "backends/cpu/ops.h"
#include "core/error.h"
#include "core/random.h"
#include "eval/runner.h"
#include "kv/method.h"
#include "kv/read_selection.h"
#include "methods/longheads.h"
#include "model/checkpoint.h"
#include "model/rope.h"
#include "test_util.h"
#include "tiny_models.h"

namespace kvb {
namespace {

using test::gaussian;

// One layer whose pre-RoPE keys / queries are known: the cache holds them rotated to positions
// 0..T-1 (as the forward pass stores them), `queries` the rotated queries of every token.
struct Layer {
  static constexpr int Hq = 4, Hkv = 2, D = 16;
  int64_t T;
  ModelConfig cfg;
  std::vector<float> k_pre[Hkv], v[Hkv], q_pre, queries;  // k/v [T, D] per KV head; q [T, Hq*D]
  std::vector<int32_t> pos;
  KVCache cache{1, Hkv, D};
  Layer(int64_t n, uint64_t seed, bool neox) : T(n), pos(static_cast<size_t>(n)) {
    cfg.n_layers = 1;
    cfg.n_heads = Hq;
    cfg.n_kv_heads = Hkv;
    cfg.head_dim = D;
    cfg.rope_neox = neox;
    const std::vector<float> inv_freq = rope_inv_freq(cfg);
    std::iota(pos.begin(), pos.end(), 0);
    for (int g = 0; g < Hkv; ++g) {
      k_pre[g] = gaussian(seed + 10 * g, size_t(T * D), 0.5f);
      v[g] = gaussian(seed + 10 * g + 1, size_t(T * D));
      std::vector<float> k = k_pre[g];
      rope(k.data(), T, 1, D, D, pos.data(), inv_freq, neox);
      cache.append(0, g, k.data(), v[g].data(), D, pos.data(), T);
    }
    cache.advance(int32_t(T));
    q_pre = gaussian(seed + 99, size_t(T * Hq * D), 0.5f);
    queries = q_pre;
    rope(queries.data(), T, Hq, D, Hq * D, pos.data(), inv_freq, neox);
  }
  LayerView view(int64_t n_kept) const {
    LayerView lv;
    lv.layer = 0;
    lv.config = &cfg;
    lv.cache = &cache;
    lv.window_queries = queries.data();
    lv.window_positions = pos.data();
    lv.window = int(T);
    lv.n_context = T;
    lv.n_kept = n_kept;
    return lv;
  }
};

// c_k of chunk `ch` for query head qh, straight from the definition in double precision: the
// pre-RoPE keys and queries rotated to 0..w-1 (not un-rotated from the cache as the method does).
std::vector<double> direct_chunk_key(const Layer& L, int qh, int64_t ch, int64_t w, bool causal) {
  const int D = Layer::D, g = qh / (Layer::Hq / Layer::Hkv);
  const std::vector<float> inv_freq = rope_inv_freq(L.cfg);
  std::vector<int32_t> local(static_cast<size_t>(w));
  std::iota(local.begin(), local.end(), 0);
  std::vector<float> k(L.k_pre[g].begin() + ch * w * D, L.k_pre[g].begin() + (ch + 1) * w * D), q(size_t(w * D));
  for (int64_t i = 0; i < w; ++i)
    std::copy(L.q_pre.begin() + ((ch * w + i) * Layer::Hq + qh) * D,
              L.q_pre.begin() + ((ch * w + i) * Layer::Hq + qh + 1) * D, q.begin() + i * D);
  rope(k.data(), w, 1, D, D, local.data(), inv_freq, L.cfg.rope_neox);
  rope(q.data(), w, 1, D, D, local.data(), inv_freq, L.cfg.rope_neox);
  const double scale = 1.0 / std::sqrt(double(D));
  auto attend = [&](const double* query, int64_t n, const float* vals, std::vector<double>& out) {
    std::vector<double> p(static_cast<size_t>(n));
    double mx = -1e300, sum = 0;
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int d = 0; d < D; ++d) s += query[d] * double(k[size_t(j * D + d)]);
      mx = std::max(mx, p[size_t(j)] = s * scale);
    }
    for (auto& x : p) sum += (x = std::exp(x - mx));
    out.assign(size_t(D), 0.0);
    for (int64_t j = 0; j < n; ++j)
      for (int d = 0; d < D; ++d) out[size_t(d)] += p[size_t(j)] / sum * double(vals[j * D + d]);
  };
  std::vector<double> cv(static_cast<size_t>(D), 0.0), o, qi(static_cast<size_t>(D));
  for (int64_t i = 0; i < w; ++i) {
    for (int d = 0; d < D; ++d) qi[size_t(d)] = q[size_t(i * D + d)];
    attend(qi.data(), causal ? i + 1 : w, L.v[g].data() + ch * w * D, o);
    for (int d = 0; d < D; ++d) cv[size_t(d)] += o[size_t(d)] / double(w);
  }
  std::vector<double> ck;
  attend(cv.data(), w, k.data(), ck);
  return ck;
}

TEST(LongHeads, ChunkFeaturesEqualADirectComputation) {
  const int64_t w = 8;
  for (bool neox : {true, false})
    for (bool causal : {false, true}) {
      const Layer L(5 * w + 3, 7, neox);  // 5 whole chunks and a partial one (no feature)
      const auto ck = longheads_chunk_keys(L.view(0), w, causal);
      ASSERT_EQ(ck.size(), size_t(Layer::Hq));
      for (int qh = 0; qh < Layer::Hq; ++qh) {
        ASSERT_EQ(ck[size_t(qh)].size(), size_t(5 * Layer::D));
        for (int64_t ch = 0; ch < 5; ++ch) {
          const std::vector<double> ref = direct_chunk_key(L, qh, ch, w, causal);
          for (int d = 0; d < Layer::D; ++d)
            EXPECT_NEAR(ck[size_t(qh)][size_t(ch * Layer::D + d)], ref[size_t(d)], 2e-5)
                << "neox " << neox << " causal " << causal << " head " << qh << " chunk " << ch << " dim " << d;
        }
      }
    }
}

// The chunks each query head reads, from its read set (entries of chunk c: c w .. c w + w - 1).
std::set<int64_t> chunks_read(const std::vector<int32_t>& set, int64_t w) {
  std::set<int64_t> out;
  for (int32_t j : set) out.insert(j / w);
  return out;
}

TEST(LongHeads, ReadsFirstLocalAndEachQueryHeadsTopChunksAtCompactPositions) {
  const int64_t w = 8, g = 10, tail = 3;
  const Layer L(g * w + tail, 11, true);
  const auto ck = longheads_chunk_keys(L.view(0), w, false);
  // Pre-RoPE step queries: head h points at chunk 2 + 2h's key feature, so the heads disagree.
  std::vector<float> q_pre = gaussian(5, size_t(Layer::Hq * Layer::D), 0.01f);
  for (int qh = 0; qh < Layer::Hq; ++qh)
    for (int d = 0; d < Layer::D; ++d)
      q_pre[size_t(qh * Layer::D + d)] += 50.0f * ck[size_t(qh)][size_t((2 + 2 * qh) * Layer::D + d)];
  std::vector<float> q = q_pre;
  const int32_t P = int32_t(L.T - 1);  // the step's query sits at the newest entry's position
  rope(q.data(), 1, Layer::Hq, Layer::D, Layer::Hq * Layer::D, &P, rope_inv_freq(L.cfg), true);
  MethodSpec spec;
  spec.id = "longheads";
  spec.params = Params{{"chunk_size", std::to_string(w)}};
  // Budget 5 chunks + 7 entries: rounded down to 5 chunk slots, the partial chunk takes one: 4 whole
  // chunks = first + last whole + the top 2 of chunks 1..8.
  for (int64_t budget : {5 * w + 7, 5 * w}) {
    auto m = make_method(spec, L.cfg);
    m->compress_prefill(L.view(budget));
    const ReadSelection sel = m->select(0, q.data(), L.cache);
    ASSERT_TRUE(sel.per_query_head);
    EXPECT_TRUE(sel.compact_positions);
    ASSERT_EQ(sel.sets.size(), size_t(Layer::Hq));
    for (int qh = 0; qh < Layer::Hq; ++qh) {
      std::vector<float> s;
      for (int64_t ch = 1; ch + 1 < g; ++ch)
        s.push_back(float(cpu::dot(q_pre.data() + qh * Layer::D, ck[size_t(qh)].data() + ch * Layer::D, Layer::D)));
      std::set<int64_t> want = {0, g - 1, g};  // first, last whole, the partial newest chunk
      for (int32_t i : top_k_stable(s, 2)) want.insert(i + 1);
      EXPECT_TRUE(want.count(2 + 2 * qh)) << "head " << qh << " should pick the chunk it points at";
      EXPECT_EQ(chunks_read(sel.sets[size_t(qh)], w), want) << "head " << qh;
      EXPECT_EQ(sel.sets[size_t(qh)].size(), size_t(4 * w + tail)) << "whole chunks, within the budget";
    }
    EXPECT_NE(sel.sets[0], sel.sets[1]) << "each query head picks its own chunks";
  }
  // A budget covering the context reads everything; one below first + local + partial is an error.
  auto all = make_method(spec, L.cfg);
  all->compress_prefill(L.view(L.T));
  EXPECT_TRUE(all->select(0, q.data(), L.cache).reads_everything());
  auto small = make_method(spec, L.cfg);
  small->compress_prefill(L.view(3 * w - 1));
  EXPECT_THROW(small->select(0, q.data(), L.cache), Error);
}

TEST(LongHeads, BadParametersAreClearErrors) {
  const Layer L(40, 3, true);
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"chunk_size", "0"},
                                   {"chunk_attention", "sliding"},
                                   {"position_mode", "shifted"}}) {
    MethodSpec spec;
    spec.id = "longheads";
    spec.params = Params{{key, value}};
    try {
      make_method(spec, L.cfg);
      ADD_FAILURE() << key << "=" << value << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

std::vector<int32_t> ids(uint64_t seed, int n) {
  Rng rng(seed);
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (auto& t : out) t = int32_t(1 + rng.below(300));
  return out;
}

// On the tiny GQA model: a budget covering the compressed part decodes bit for bit as full attention
// (query-agnostic and query-aware); a smaller one reads a subset and changes the logits.
TEST(LongHeads, BudgetCoveringTheContextDecodesBitForBitAsFullAttention) {
  const Checkpoint ck = load_checkpoint(test::tiny_model_dir("llama_gqa"));
  Transformer model(ck.config, ck.weights, EngineOptions{32});
  auto step_logits = [&](const MethodSpec& s) {
    CaseResult r;
    CompressedPrefill p = prefill_with_method(model, s, ids(7, 160), ids(8, 8), 4, r);
    double secs = 0;
    size_t peak = 0;
    DecodeHooks hooks(*p.method, ck.config, p.cache, secs, peak);
    std::vector<std::vector<float>> out{p.logits.data};
    for (int32_t t : ids(9, 4)) out.push_back(model.forward(std::vector<int32_t>{t}, p.cache, LogitRows::Last, &hooks).data);
    return out;
  };
  for (bool aware : {false, true}) {
    MethodSpec full;
    full.query_aware = aware;
    const auto ref = step_logits(full);
    MethodSpec s;
    s.id = "longheads";
    s.query_aware = aware;
    s.params = Params{{"chunk_size", "16"}};
    s.token_budget = 168;
    EXPECT_EQ(step_logits(s), ref) << "query_aware " << aware;
    s.token_budget = 64;
    EXPECT_NE(step_logits(s), ref) << "query_aware " << aware << ": a budget of 64 should read a subset";
  }
}

}  // namespace
}  // namespace kvb
