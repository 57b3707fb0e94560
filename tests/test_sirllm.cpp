// sirllm (methods/sirllm.cpp) and seam (g), the token surprisal a prefill records
// (PrefillNeeds::token_surprisal): on stories260K the recorded surprisal equals -log p computed from
// the full [T, V] logits, across prefill chunks and logit blocks, and recording it leaves the
// prefill's own logits unchanged; every layer and head keeps the same set, the sinks + the top
// surprisal + the newest; the keep rule and the decay across turns on constructed scores.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "core/error.h"
#include "core/random.h"
#include "eval/runner.h"
#include "kv/method.h"
#include "methods/sirllm.h"
#include "model/checkpoint.h"
#include "test_util.h"

namespace kvb {
namespace {

std::vector<int32_t> ids(uint64_t seed, int n, int vocab) {
  Rng rng(seed);
  std::vector<int32_t> out(static_cast<size_t>(n));
  out[0] = 1;  // BOS
  for (size_t i = 1; i < out.size(); ++i) out[i] = int32_t(3 + rng.below(uint64_t(vocab - 3)));
  return out;
}

// -log p(x_t | x_<t) from the full logits [T, V] of one forward pass (double precision); NaN at t = 0.
std::vector<double> surprisal_from_full_logits(Transformer& model, const std::vector<int32_t>& tokens) {
  KVCache cache = model.make_cache();
  const Tensor logits = model.forward(tokens, cache, LogitRows::All);
  const int64_t V = model.config().vocab_size;
  std::vector<double> out(tokens.size(), std::nan(""));
  for (size_t t = 1; t < tokens.size(); ++t) {
    const float* row = logits.ptr() + int64_t(t - 1) * V;
    double mx = row[0], sum = 0;
    for (int64_t v = 1; v < V; ++v) mx = std::max(mx, double(row[v]));
    for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - mx);
    out[t] = mx + std::log(sum) - double(row[tokens[t]]);
  }
  return out;
}

TEST(SirLLM, RecordedSurprisalEqualsMinusLogPFromTheFullLogits) {
  const Checkpoint ck = load_checkpoint(test::stories260k());
  // Chunks of 100 rows: prefill chunk boundaries and 64-row logit blocks inside a chunk.
  Transformer model(ck.config, ck.weights, EngineOptions{100});
  const std::vector<int32_t> tokens = ids(3, 257, int(ck.config.vocab_size));
  const std::vector<double> ref = surprisal_from_full_logits(model, tokens);
  PrefillNeeds needs;
  needs.token_surprisal = true;
  for (bool want_logits : {false, true}) {
    const RecordedPrefill rp = record_prefill(model, tokens, std::span<const PrefillNeeds>(&needs, 1), want_logits);
    const LayerView v = rp.recorder->view(0, rp.cache, needs);
    ASSERT_NE(v.token_surprisal, nullptr);
    ASSERT_EQ(v.token_surprisal->size(), tokens.size());
    EXPECT_TRUE(std::isnan((*v.token_surprisal)[0]));
    for (size_t t = 1; t < tokens.size(); ++t)
      EXPECT_NEAR((*v.token_surprisal)[t], ref[t], 1e-4 * std::max(1.0, ref[t])) << "token " << t;
    if (!want_logits) continue;
    // The prefill's own last-row logits are those of a prefill that records nothing.
    const RecordedPrefill plain = record_prefill(model, tokens, {}, true);
    EXPECT_EQ(rp.logits.data, plain.logits.data);
  }
  // A view asking for surprisal that was not recorded is an error.
  const RecordedPrefill none = record_prefill(model, tokens, {}, false);
  EXPECT_THROW(none.recorder->view(0, none.cache, needs), Error);
}

// The entries SirLLM keeps, written out from its definition: start_size sinks, the top
// n_kept - start - recent by score (first token: the max surprisal; ties: lower index), then the
// newest until n_kept.
std::vector<int32_t> expected_keep(const std::vector<double>& surprisal, int64_t n_kept, int64_t start, int64_t recent) {
  const int64_t T = int64_t(surprisal.size());
  std::vector<double> s = surprisal;
  s[0] = *std::max_element(s.begin() + 1, s.end());
  std::vector<int32_t> order(static_cast<size_t>(T));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return s[size_t(a)] > s[size_t(b)]; });
  std::set<int32_t> keep(order.begin(), order.begin() + (n_kept - start - recent));
  for (int32_t j = 0; j < start; ++j) keep.insert(j);
  for (int32_t j = int32_t(T - 1); int64_t(keep.size()) < n_kept; --j) keep.insert(j);
  return {keep.begin(), keep.end()};
}

TEST(SirLLM, EveryLayerAndHeadKeepsTheSinksTheTopSurprisalAndTheNewest) {
  const Checkpoint ck = load_checkpoint(test::stories260k());
  Transformer model(ck.config, ck.weights, EngineOptions{64});
  const std::vector<int32_t> context = ids(5, 200, int(ck.config.vocab_size));
  const std::vector<double> ref = surprisal_from_full_logits(model, context);
  for (const auto& [start, recent] : {std::pair<int64_t, int64_t>{4, 0}, {4, 16}, {8, 40}}) {
    MethodSpec s;
    s.id = "sirllm";
    s.compression_ratio = 0.6;  // keeps int(200 * 0.4) = 80
    s.params = Params{{"start_size", std::to_string(start)}, {"recent_size", std::to_string(recent)}};
    CaseResult r;
    const CompressedPrefill p = prefill_with_method(model, s, context, {}, 0, r);
    const std::vector<int32_t> want = expected_keep(ref, 80, start, recent);
    for (int l = 0; l < ck.config.n_layers; ++l)
      for (int h = 0; h < ck.config.n_kv_heads; ++h)
        EXPECT_EQ(p.cache.head(l, h).positions(), want) << "start " << start << " recent " << recent << " layer " << l
                                                        << " head " << h;
    for (int32_t j = int32_t(200 - recent); j < 200; ++j)
      EXPECT_TRUE(std::binary_search(want.begin(), want.end(), j)) << "recent " << j;
  }
}

// One prefill shared by sirllm, longheads and snapkv (the union of their needs: surprisal, every
// query, a window) gives each the decisions of its own prefill.
TEST(SirLLM, SharedPrefillWithOtherMethodsKeepsWhatItsOwnPrefillKeeps) {
  const Checkpoint ck = load_checkpoint(test::stories260k());
  Transformer model(ck.config, ck.weights, EngineOptions{64});
  const std::vector<int32_t> context = ids(9, 200, int(ck.config.vocab_size));
  std::vector<MethodSpec> specs(3);
  specs[0].id = "snapkv";
  specs[0].params = Params{{"window", "16"}};
  specs[1].id = "sirllm";
  specs[2].id = "sirllm+longheads";
  specs[2].params = Params{{"chunk_size", "16"}};
  std::vector<PrefillNeeds> needs;
  for (MethodSpec& m : specs) {
    m.compression_ratio = 0.5;
    needs.push_back(make_method(m, ck.config)->prefill_needs());
  }
  EXPECT_TRUE(needs[2].token_surprisal);
  EXPECT_GE(needs[2].window, 200);
  const RecordedPrefill shared = record_prefill(model, context, needs, false);
  for (const MethodSpec& m : specs) {
    CaseResult a, b;
    const CompressedPrefill from_shared = prefill_with_method(model, m, context, {}, 0, a, &shared);
    const CompressedPrefill alone = prefill_with_method(model, m, context, {}, 0, b);
    for (int l = 0; l < ck.config.n_layers; ++l)
      for (int h = 0; h < ck.config.n_kv_heads; ++h)
        EXPECT_EQ(from_shared.cache.head(l, h).positions(), alone.cache.head(l, h).positions()) << m.id << " " << l;
  }
}

TEST(SirLLM, KeepRuleOnConstructedScores) {
  //                            0    1    2    3    4    5    6    7    8    9
  const std::vector<float> s = {9.f, 1.f, 5.f, 0.f, 7.f, 5.f, 2.f, 0.f, 3.f, 0.f};
  // start 2, recent 0, n_kept 6: top 4 = {0, 4, 2, 5} (tie 2/5: both in), + sink 1, then the newest: 9.
  EXPECT_EQ(sirllm_keep(s, 6, 2, 0), (std::vector<int32_t>{0, 1, 2, 4, 5, 9}));
  // top 3 = {0, 4, 2} (the tie 2 vs 5: the lower index), + sink 1, then 9, 8.
  EXPECT_EQ(sirllm_keep(s, 6, 2, 1), (std::vector<int32_t>{0, 1, 2, 4, 8, 9}));
  EXPECT_EQ(sirllm_keep(s, 10, 2, 0).size(), 10u);
  EXPECT_THROW(sirllm_keep(s, 1, 2, 0), Error);
  EXPECT_EQ(sirllm_scores({std::nanf(""), 2.f, 7.f, 1.f}), (std::vector<float>{7.f, 2.f, 7.f, 1.f}));
}

// Two turns: turn 1's retained scores are decayed before turn 2's tokens compete with them.
TEST(SirLLM, RetainedScoresDecayEachTurn) {
  auto second_turn = [](double decay) {
    SirllmTurns turns(decay);
    turns.append({9.f, 0.f, 6.f, 1.f, 0.f});  // turn 1: token 2 is the surprising one
    EXPECT_EQ(turns.evict(3, 1, 0), (std::vector<int32_t>{0, 2, 4}));  // top 2 {0, 2} + the newest
    EXPECT_FLOAT_EQ(turns.scores()[1], float(6.0 * decay));
    turns.append({0.f, 4.f, 0.f});  // turn 2: entries 3..5; entry 4 scores 4
    return turns.evict(3, 1, 0);    // the top 2 (sink 0 among them) + the newest
  };
  EXPECT_EQ(second_turn(1.0), (std::vector<int32_t>{0, 1, 5}));  // the retained 6 beats the new 4
  EXPECT_EQ(second_turn(0.5), (std::vector<int32_t>{0, 4, 5}));  // decayed to 3, it loses to 4
  MethodSpec bad;
  bad.id = "sirllm";
  bad.params = Params{{"decay_ratio", "0"}};
  const Checkpoint ck = load_checkpoint(test::stories260k());
  EXPECT_THROW(make_method(bad, ck.config), Error);
  bad.params = Params{{"decay_ratio", "1.5"}};
  EXPECT_THROW(make_method(bad, ck.config), Error);
}

}  // namespace
}  // namespace kvb
