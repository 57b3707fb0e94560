// retrieval_attention's graph index (methods/roar_graph_index.h, index=graph): on keys and queries
// drawn from different distributions (the mismatch the paper's index is built for) its top-k recall
// against the exact flat index is high with a working beam and below 1 with a tiny one (the search is
// real); it computes far fewer inner products than there are keys at large T; a beam covering every
// key is the exact top-k; with a budget covering the context the method decodes bit for bit as full
// attention; the inner products are recorded per decode step.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/random.h"
#include "eval/runner.h"
#include "kv/method.h"
#include "methods/retrieval_attention.h"
#include "methods/roar_graph_index.h"
#include "model/checkpoint.h"
#include "test_util.h"
#include "tiny_models.h"

namespace kvb {
namespace {

std::vector<float> normal(Rng& rng, size_t n) {
  std::vector<float> x(n);
  for (auto& v : x) {  // Box-Muller
    const double u1 = 1.0 - rng.unit(), u2 = rng.unit();
    v = float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  return x;
}

// Attention-like vectors: rank-r structure, a shared offset, a little noise. Keys and queries use the
// same basis but different offsets and scales, so their distributions differ (the query/key mismatch).
struct Synthetic {
  int64_t D = 32, r = 8;
  std::vector<float> basis;                   // [r, D]
  std::vector<float> key_offset, query_offset;  // [D]
  explicit Synthetic(uint64_t seed) {
    Rng rng(seed);
    basis = normal(rng, size_t(r * D));
    key_offset = normal(rng, size_t(D));
    query_offset = normal(rng, size_t(D));
    for (auto& v : key_offset) v *= 2.0f;
    for (auto& v : query_offset) v *= -1.5f;
  }
  std::vector<float> draw(Rng& rng, int64_t n, bool query) const {
    std::vector<float> out(size_t(n * D));
    for (int64_t i = 0; i < n; ++i) {
      const auto z = normal(rng, size_t(r)), e = normal(rng, size_t(D));
      for (int64_t d = 0; d < D; ++d) {
        float x = (query ? query_offset : key_offset)[size_t(d)] + 0.1f * e[size_t(d)];
        for (int64_t a = 0; a < r; ++a) x += (query ? 1.5f : 0.7f) * z[size_t(a)] * basis[size_t(a * D + d)];
        out[size_t(i * D + d)] = x;
      }
    }
    return out;
  }
};

struct Recall {
  double recall = 0;      // mean |graph ∩ flat| / k over the test queries
  double distances = 0;   // mean inner products per search
};

Recall measure(const retrieval::RoarGraphIndex& g, const std::vector<float>& keys, const std::vector<float>& tests,
               int64_t T, int64_t D, int64_t k, int64_t ef) {
  std::vector<int32_t> all(static_cast<size_t>(T));
  std::iota(all.begin(), all.end(), 0);
  const int64_t n = int64_t(tests.size()) / D;
  Recall r;
  for (int64_t i = 0; i < n; ++i) {
    const float* q = tests.data() + i * D;
    const auto want = retrieval::flat_search(q, keys.data(), D, all, k);
    int64_t dist = 0;
    const auto got = g.search(q, keys.data(), nullptr, k, ef, &dist);
    std::vector<int32_t> both;
    std::set_intersection(want.begin(), want.end(), got.begin(), got.end(), std::back_inserter(both));
    r.recall += double(both.size()) / double(k);
    r.distances += double(dist);
  }
  r.recall /= double(n);
  r.distances /= double(n);
  return r;
}

TEST(RoarGraphIndex, RecallAgainstTheFlatIndexUnderAQueryKeyMismatch) {
  const Synthetic s(7);
  Rng rng(11);
  const int64_t T = 4000, D = s.D, k = 32;
  const auto keys = s.draw(rng, T, false), build_q = s.draw(rng, 1000, true), tests = s.draw(rng, 50, true);
  const auto g = retrieval::RoarGraphIndex::build(keys.data(), T, build_q.data(), 1000, D);
  for (int64_t j = 0; j < T; ++j) EXPECT_LE(int64_t(g.neighbors(int32_t(j)).size()), 32 + 2) << "degree bound, key " << j;
  const Recall wide = measure(g, keys, tests, T, D, k, 128);
  const Recall tiny = measure(g, keys, tests, T, D, k, k);
  const Recall one = measure(g, keys, tests, T, D, 8, 1);
  RecordProperty("recall_ef128", std::to_string(wide.recall));
  std::printf("recall ef=128 %.3f (%.0f inner products), ef=k=32 %.3f (%.0f), k=8 ef=1 %.3f (%.0f); T %lld\n",
              wide.recall, wide.distances, tiny.recall, tiny.distances, one.recall, one.distances, (long long)T);
  EXPECT_GE(wide.recall, 0.93);
  EXPECT_LT(wide.distances, 0.5 * double(T));
  EXPECT_LT(one.recall, 1.0) << "a tiny beam should miss some of the true top-k";
  EXPECT_LT(tiny.recall, 1.0) << "a beam of k should miss some of the true top-k";
  EXPECT_LE(tiny.recall, wide.recall);
}

TEST(RoarGraphIndex, SearchComputesFarFewerInnerProductsThanKeysAtLargeT) {
  const Synthetic s(21);
  Rng rng(22);
  const int64_t T = 40000, D = s.D, k = 64;
  const auto keys = s.draw(rng, T, false), build_q = s.draw(rng, 8000, true), tests = s.draw(rng, 20, true);
  const auto g = retrieval::RoarGraphIndex::build(keys.data(), T, build_q.data(), 8000, D);
  const Recall r = measure(g, keys, tests, T, D, k, 4 * k);
  std::printf("T %lld: recall %.3f with %.0f inner products per search (%.1f%% of T)\n", (long long)T, r.recall,
              r.distances, 100.0 * r.distances / double(T));
  EXPECT_LT(r.distances, 0.1 * double(T));
  EXPECT_GE(r.recall, 0.8);
}

TEST(RoarGraphIndex, ABeamCoveringEveryKeyIsTheExactTopK) {
  const Synthetic s(3);
  Rng rng(4);
  const int64_t T = 600, D = s.D;
  const auto keys = s.draw(rng, T, false), build_q = s.draw(rng, 100, true), tests = s.draw(rng, 10, true);
  const auto g = retrieval::RoarGraphIndex::build(keys.data(), T, build_q.data(), 100, D);
  std::vector<int32_t> all(static_cast<size_t>(T));
  std::iota(all.begin(), all.end(), 0);
  for (int64_t i = 0; i < 10; ++i) {
    int64_t dist = 0;
    EXPECT_EQ(g.search(tests.data() + i * D, keys.data(), nullptr, 40, T, &dist),
              retrieval::flat_search(tests.data() + i * D, keys.data(), D, all, 40));
    EXPECT_EQ(dist, T) << "every key reachable (position links), each computed once";
  }
  // row_map: the same search over rows scattered in a larger array.
  std::vector<float> spread(size_t(2 * T * D), 0.0f);
  std::vector<int32_t> map(static_cast<size_t>(T));
  for (int64_t j = 0; j < T; ++j) {
    map[size_t(j)] = int32_t(2 * j + 1);
    std::copy(keys.begin() + j * D, keys.begin() + (j + 1) * D, spread.begin() + (2 * j + 1) * D);
  }
  EXPECT_EQ(g.search(tests.data(), spread.data(), map.data(), 40, 80, nullptr),
            g.search(tests.data(), keys.data(), nullptr, 40, 80, nullptr));
  EXPECT_THROW(retrieval::RoarGraphIndex::build(keys.data(), T, build_q.data(), 0, D), Error);
}

// ---- the method on a tiny GQA model --------------------------------------------------------------

struct TinyModel {
  Checkpoint ck;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Transformer> model;
  TinyModel() : ck(load_checkpoint(test::tiny_model_dir("llama_gqa"))) {
    tok = make_tokenizer(ck.tokenizer);
    model = std::make_unique<Transformer>(ck.config, ck.weights, EngineOptions{32});
  }
};

std::vector<int32_t> token_ids(uint64_t seed, int n) {
  Rng rng(seed);
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (auto& t : out) t = int32_t(1 + rng.below(300));
  return out;
}

MethodSpec graph_spec(int64_t budget) {
  MethodSpec s;
  s.id = "retrieval_attention";
  s.params = Params{{"n_sink", "4"}, {"n_local", "16"}, {"index", "graph"}, {"build_queries", "64"}, {"knn", "8"}};
  s.token_budget = budget;
  return s;
}

TEST(RetrievalAttentionGraph, BudgetCoveringTheContextDecodesBitForBitAsFullAttention) {
  static TinyModel m;
  const ModelConfig& c = m.ck.config;
  auto step_logits = [&](const MethodSpec& s, DecodeReadStats* reads = nullptr) {
    CaseResult r;
    CompressedPrefill p = prefill_with_method(*m.model, s, token_ids(7, 160), token_ids(8, 8), 4, r);
    double secs = 0;
    size_t peak = 0;
    DecodeHooks hooks(*p.method, c, p.cache, secs, peak, reads);
    std::vector<std::vector<float>> out;
    for (int32_t t : token_ids(9, 4))
      out.push_back(m.model->forward(std::vector<int32_t>{t}, p.cache, LogitRows::Last, &hooks).data);
    return out;
  };
  const auto full = step_logits(MethodSpec{});
  EXPECT_EQ(step_logits(graph_spec(160)), full);
  DecodeReadStats graph_reads, flat_reads;
  EXPECT_NE(step_logits(graph_spec(40), &graph_reads), full) << "a budget of 40 should read a subset";
  MethodSpec flat = graph_spec(40);
  flat.params.set("index", "flat");
  step_logits(flat, &flat_reads);
  // Recorded: the flat scan computes one inner product per candidate and query head: per layer and KV
  // head the compressed part (160) less n_sink + n_local, times the group; the graph search fewer or equal.
  const int64_t per_step = int64_t(c.n_layers) * c.n_heads * (160 - 4 - 16);
  EXPECT_DOUBLE_EQ(flat_reads.mean_index_reads(), double(per_step));
  EXPECT_GT(graph_reads.mean_index_reads(), 0.0);
  EXPECT_LE(graph_reads.mean_index_reads(), double(per_step));
}

// Through the CLI: each row of `eval --json` (from the store's case_meta) carries the inner products the
// index computed per decode step; the graph's are fewer than the flat scan's.
TEST(RetrievalAttentionGraph, EvalRecordsTheIndexInnerProductsPerDecodeStep) {
  const std::string model = test::stories260k().string();
  std::map<std::string, double> reads;
  for (const char* index : {"flat", "graph"}) {
    const std::string out = (test::tmp_dir() / (std::string("roar_eval_") + index + ".json")).string();
    const auto e = test::run_kvbench("eval -q --model '" + model + "' --chat-template none --task niah_single "
                                     "--length 600 --n 1 -t 1 --param max_new_tokens=4 --method retrieval_attention "
                                     "--ratio 0.9 --param n_sink=4 --param n_local=16 --param build_queries=64 "
                                     "--param index=" + index + " --json '" + out + "'");
    ASSERT_EQ(e.exit_code, 0) << e.output;
    std::ifstream f(out);
    const nlohmann::json j = nlohmann::json::parse(f);
    ASSERT_TRUE(j["cases"][0].contains("decode_index_reads_mean")) << j.dump();
    reads[index] = j["cases"][0]["decode_index_reads_mean"].get<double>();
  }
  EXPECT_GT(reads["graph"], 0.0);
  EXPECT_LT(reads["graph"], reads["flat"]);
}

TEST(RetrievalAttentionGraph, BadIndexParametersAreClearErrors) {
  static TinyModel m;
  MethodSpec s = graph_spec(40);
  s.params.set("index", "hnsw");
  try {
    make_method(s, m.ck.config);
    FAIL() << "index=hnsw accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("index 'hnsw' is not one of flat, graph"), std::string::npos) << e.what();
  }
  s = graph_spec(40);
  s.params.set("knn", "1");
  EXPECT_THROW(make_method(s, m.ck.config), Error);
}

}  // namespace
}  // namespace kvb
