// Engine invariants on a real trained checkpoint (stories260K): chunked prefill, token-by-token
// decode and one-pass prefill agree; the observer sees queries and attention mass; evicting
// cache entries keeps original positions.
#include <gtest/gtest.h>

#include <cmath>

#include "model/checkpoint.h"
#include "engine/transformer.h"
#include "test_util.h"

namespace kvb {
namespace {

const Checkpoint& stories() {
  static Checkpoint ck = load_checkpoint(test::stories260k());
  return ck;
}

std::vector<int32_t> prompt_ids(int n) {
  std::vector<int32_t> ids = {1};
  for (int i = 1; i < n; ++i) ids.push_back(3 + (i * 37) % 500);
  return ids;
}

float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(Engine, ChunkedPrefillMatchesOnePass) {
  const auto& ck = stories();
  auto ids = prompt_ids(40);
  Transformer one(ck.config, ck.weights, {512}), chunked(ck.config, ck.weights, {7});
  KVCache c1 = one.make_cache(), c2 = chunked.make_cache();
  Tensor a = one.forward(ids, c1, LogitRows::All);
  Tensor b = chunked.forward(ids, c2, LogitRows::All);
  ASSERT_EQ(a.shape, b.shape);
  EXPECT_LT(max_abs_diff(a.ptr(), b.ptr(), a.numel()), 1e-4f);
  EXPECT_EQ(c1.next_position(), 40);
  EXPECT_EQ(c2.cached_tokens(), 40 * ck.config.n_layers * ck.config.n_kv_heads);
}

TEST(Engine, DecodeStepsMatchPrefillLogits) {
  const auto& ck = stories();
  auto ids = prompt_ids(24);
  Transformer model(ck.config, ck.weights);
  KVCache full = model.make_cache(), inc = model.make_cache();
  Tensor all = model.forward(ids, full, LogitRows::All);
  const int64_t V = ck.config.vocab_size;
  model.forward(std::span(ids).first(16), inc, LogitRows::None);
  for (int i = 16; i < 24; ++i) {
    Tensor step = model.forward(std::span(ids).subspan(i, 1), inc, LogitRows::Last);
    ASSERT_EQ(step.numel(), size_t(V));
    EXPECT_LT(max_abs_diff(step.ptr(), all.ptr() + i * V, V), 1e-4f) << "token " << i;
  }
}

struct RecordingObserver : ForwardObserver {
  std::vector<int64_t> chunk_sizes;
  std::vector<double> mass_totals;
  bool wants_attention_mass(int) const override { return true; }
  void on_layer(const LayerObservation& o) override {
    chunk_sizes.push_back(o.n);
    double total = 0;
    for (auto& head : *o.attn_mass)
      for (float m : head) total += m;
    mass_totals.push_back(total);
    EXPECT_EQ(o.cache->head(o.layer, 0).size(), o.positions[o.n - 1] + 1);
  }
};

TEST(Engine, ObserverSeesEveryLayerWithAttentionMass) {
  const auto& ck = stories();
  Transformer model(ck.config, ck.weights, {10});
  KVCache cache = model.make_cache();
  RecordingObserver obs;
  model.forward(prompt_ids(25), cache, LogitRows::Last, &obs);
  ASSERT_EQ(obs.chunk_sizes.size(), size_t(3 * ck.config.n_layers));  // chunks 10, 10, 5
  EXPECT_EQ(obs.chunk_sizes.back(), 5);
  // Every query head's weights sum to one per query.
  EXPECT_NEAR(obs.mass_totals.front(), 10.0 * ck.config.n_heads, 1e-3);
}

TEST(Engine, EvictionKeepsOriginalPositions) {
  const auto& ck = stories();
  Transformer model(ck.config, ck.weights);
  KVCache cache = model.make_cache();
  auto ids = prompt_ids(30);
  model.forward(ids, cache, LogitRows::None);
  const size_t before = cache.resident_bytes();
  std::vector<int32_t> keep = {0, 1, 2, 25, 26, 27, 28, 29};
  for (int l = 0; l < ck.config.n_layers; ++l)
    for (int h = 0; h < ck.config.n_kv_heads; ++h) cache.keep(l, h, keep);
  EXPECT_LT(cache.resident_bytes(), before / 3);
  const int32_t next[1] = {42};
  Tensor logits = model.forward(next, cache, LogitRows::Last);
  for (float v : logits.data) ASSERT_TRUE(std::isfinite(v));
  EXPECT_EQ(cache.head(0, 0).positions().back(), 30);
  EXPECT_EQ(cache.head(0, 0).positions()[3], 25);
}

TEST(Engine, RejectsTokenOutsideVocabulary) {
  const auto& ck = stories();
  Transformer model(ck.config, ck.weights);
  KVCache cache = model.make_cache();
  const int32_t bad[2] = {1, 512};
  EXPECT_THROW(model.forward(bad, cache), Error);
}

}  // namespace
}  // namespace kvb
