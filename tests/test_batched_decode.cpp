// Batched decoding (Transformer::forward_greedy_batch, generate_greedy_batch): sequences decoded
// together get exactly what each gets alone: the same tokens, text and cached K/V bits, with their
// own observers, on stories260K (float32 weights) and SmolLM2 Q4_1 (int8 mode batches the weight
// products; float32 mode runs them row by row). Run: build/tests/kvb_tests --gtest_filter='BatchedDecode*'
#include <gtest/gtest.h>

#include <cstring>

#include "core/threads.h"
#include "engine/generate.h"
#include "engine/transformer.h"
#include "model/checkpoint.h"
#include "test_util.h"

namespace kvb {
namespace {

// Prompts of different lengths, so that the sequences sit at different positions.
std::vector<int32_t> prompt(int n, int salt, int64_t vocab) {
  std::vector<int32_t> ids = {1};
  for (int i = 1; i < n; ++i) ids.push_back(int32_t(3 + (i * 37 + salt * 101) % (vocab - 3)));
  return ids;
}

bool same_cache_bits(const KVCache& a, const KVCache& b) {
  if (a.n_layers() != b.n_layers() || a.next_position() != b.next_position()) return false;
  for (int l = 0; l < a.n_layers(); ++l)
    for (int h = 0; h < a.n_kv_heads(); ++h) {
      const HeadCache &x = a.head(l, h), &y = b.head(l, h);
      if (x.size() != y.size() || x.fp_keys().size() != y.fp_keys().size()) return false;
      if (std::memcmp(x.fp_keys().data(), y.fp_keys().data(), x.fp_keys().size() * sizeof(float)) != 0) return false;
      if (std::memcmp(x.fp_values().data(), y.fp_values().data(), x.fp_values().size() * sizeof(float)) != 0)
        return false;
    }
  return true;
}

struct CountingObserver : ForwardObserver {
  int layers = 0;
  int64_t tokens = 0;
  void on_layer(const LayerObservation& o) override {
    ++layers;
    tokens += o.n;
  }
};

// Three sequences (one with an evicted, ragged cache) decoded 12 steps alone and as one batch.
void expect_batch_matches_alone(const Checkpoint& ck, const EngineOptions& engine) {
  Transformer model(ck.config, ck.weights, engine);
  const int64_t V = ck.config.vocab_size;
  std::vector<KVCache> alone, batched;
  std::vector<int32_t> next_alone, next_batched;
  const int lengths[3] = {5, 23, 41};
  for (int b = 0; b < 3; ++b) {
    KVCache c = model.make_cache();
    const Tensor logits = model.forward(prompt(lengths[b], b, V), c, LogitRows::Last);
    if (b == 2)  // a compressed cache: each KV head keeps a different subset
      for (int l = 0; l < c.n_layers(); ++l)
        for (int h = 0; h < c.n_kv_heads(); ++h) {
          std::vector<int32_t> keep;
          for (int32_t j = 0; j < int32_t(c.head(l, h).size()); ++j)
            if ((j + l + h) % 3 != 0) keep.push_back(j);
          c.keep(l, h, keep);
        }
    const int32_t first = int32_t(std::max_element(logits.data.begin(), logits.data.end()) - logits.data.begin());
    alone.push_back(c);
    batched.push_back(std::move(c));
    next_alone.push_back(first);
    next_batched.push_back(first);
  }
  CountingObserver obs_alone, obs_batched;
  std::vector<std::vector<int32_t>> tokens_alone(3), tokens_batched(3);
  for (int b = 0; b < 3; ++b)
    for (int step = 0; step < 12; ++step) {
      const int32_t one[1] = {next_alone[b]};
      next_alone[b] = model.forward_greedy(one, alone[b], b == 1 ? &obs_alone : nullptr);
      tokens_alone[b].push_back(next_alone[b]);
    }
  for (int step = 0; step < 12; ++step) {
    KVCache* caches[3] = {&batched[0], &batched[1], &batched[2]};
    ForwardObserver* observers[3] = {nullptr, &obs_batched, nullptr};
    next_batched = model.forward_greedy_batch(next_batched, caches, observers);
    for (int b = 0; b < 3; ++b) tokens_batched[b].push_back(next_batched[b]);
  }
  for (int b = 0; b < 3; ++b) {
    EXPECT_EQ(tokens_batched[b], tokens_alone[b]) << "sequence " << b;
    EXPECT_TRUE(same_cache_bits(batched[b], alone[b])) << "sequence " << b << ": cached K/V bits differ";
  }
  EXPECT_EQ(obs_batched.layers, 12 * ck.config.n_layers) << "the observer sees its own sequence's layers only";
  EXPECT_EQ(obs_batched.tokens, obs_alone.tokens);
}

TEST(BatchedDecode, Stories260KFloat32MatchesOneByOne) {
  const Checkpoint ck = load_checkpoint(test::stories260k());
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    expect_batch_matches_alone(ck, EngineOptions{});
  }
  set_num_threads(0);
}

TEST(BatchedDecode, SmolLM2Int8AndFloat32MatchOneByOne) {
  KVB_REQUIRE_SMOLLM2();
  const Checkpoint ck = load_checkpoint(test::smollm2_gguf());
  for (const char* matmul : {"int8", "f32"}) {
    SCOPED_TRACE(matmul);
    EngineOptions e;
    e.matmul = matmul;
    expect_batch_matches_alone(ck, e);
  }
}

// generate_greedy_batch: each sequence stops on its own (end of generation, stop string, its own
// max_new_tokens) with the text generate_greedy gives it, and its decode times add up to the batch's.
TEST(BatchedDecode, GenerateGreedyBatchStopsEachSequenceAsAlone) {
  const Checkpoint ck = load_checkpoint(test::stories260k());
  auto tok = make_tokenizer(ck.tokenizer);
  Transformer model(ck.config, ck.weights);
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "Lily and Ben went to the park. They"};
  std::vector<GenerationOptions> opts(3);
  opts[0].max_new_tokens = 40;
  opts[1].max_new_tokens = 7;
  opts[2].max_new_tokens = 60;
  opts[2].stop_strings = {"."};
  std::vector<KVCache> caches;
  std::vector<Tensor> logits;
  for (const auto& p : prompts) {
    caches.push_back(model.make_cache());
    logits.push_back(model.forward(tok->encode(p, true), caches.back(), LogitRows::Last));
  }
  std::vector<GenerationResult> alone;
  for (int b = 0; b < 3; ++b) {
    KVCache c = caches[b];
    alone.push_back(generate_greedy(model, *tok, c, logits[b].data, opts[b]));
  }
  std::vector<KVCache*> ptrs = {&caches[0], &caches[1], &caches[2]};
  std::vector<std::span<const float>> last = {logits[0].data, logits[1].data, logits[2].data};
  const std::vector<GenerationResult> batch = generate_greedy_batch(model, *tok, ptrs, last, opts);
  ASSERT_EQ(batch.size(), 3u);
  for (int b = 0; b < 3; ++b) {
    EXPECT_EQ(batch[b].tokens, alone[b].tokens) << b;
    EXPECT_EQ(batch[b].text, alone[b].text) << b;
    EXPECT_EQ(batch[b].stop_reason, alone[b].stop_reason) << b;
    EXPECT_EQ(batch[b].step_seconds.size(), alone[b].step_seconds.size()) << b;
  }
  EXPECT_EQ(batch[1].stop_reason, "max_new_tokens");
  EXPECT_EQ(batch[1].tokens.size(), 7u);
  EXPECT_NE(batch[0].tokens.size(), batch[1].tokens.size()) << "sequences leave the batch at different steps";
}

}  // namespace
}  // namespace kvb
