// The recall oracle checkpoint (harness/model/oracle.h): designed kernels, byte-identical rewrites,
// loading through load_checkpoint / builtin:oracle, and the attention roles read from the engine's
// attention weights (previous-token head > 0.99, unmatched retrieval queries park on BOS).
// Run: build/tests/kvb_tests --gtest_filter='Oracle.*'.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/threads.h"
#include "core/random.h"
#include "model/checkpoint.h"
#include "model/model_path.h"
#include "model/oracle.h"
#include "engine/transformer.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

OracleOptions small_options() {
  OracleOptions o;
  o.vocab = 512;
  o.max_len = 2048;
  o.heads = "prev,local:16,local:64,local:32/retrieval,local:32,retrieval,local:16";  // small LPs
  return o;
}

// A small oracle written once per test binary.
const fs::path& small_oracle_dir() {
  static const fs::path dir = [] {
    fs::path d = test::tmp_dir() / ("oracle_small_" + std::to_string(getpid()));  // ctest: parallel processes
    fs::remove_all(d);
    write_oracle_checkpoint(small_options(), d);
    return d;
  }();
  return dir;
}

TEST(Oracle, PrevTokenKernelMatchesTheDesignMargin) {
  // oracle-model.md: with D = 128, rope_theta = 1e12 and 32 pairs the optimum margin is ~1.11 at 32K.
  OracleOptions o;
  o.heads = "prev,local:16/retrieval,local:16";
  o.kv_heads = 1;
  auto kernels = design_oracle_kernels(o);
  ASSERT_EQ(kernels.size(), 3u);
  EXPECT_EQ(kernels[0].role, "prev");
  EXPECT_NEAR(kernels[0].margin, 1.11, 0.01);
  EXPECT_GE(kernels[0].scale * kernels[0].margin / std::sqrt(128.0), 20.0);  // >= 20 nats over the runner-up
  for (const auto& k : kernels) EXPECT_GT(k.margin, 0.0) << k.role << " " << k.window;
}

TEST(Oracle, CheckpointIsAPureFunctionOfItsOptions) {
  const fs::path a = small_oracle_dir(), b = test::tmp_dir() / "oracle_small_again", c = test::tmp_dir() / "oracle_seed1";
  fs::remove_all(b);
  fs::remove_all(c);
  write_oracle_checkpoint(small_options(), b);
  OracleOptions o1 = small_options();
  o1.seed = 1;
  write_oracle_checkpoint(o1, c);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    EXPECT_EQ(slurp(a / f), slurp(b / f)) << f << " differs between two runs with the same options";
  EXPECT_NE(slurp(a / "model.safetensors"), slurp(c / "model.safetensors")) << "the seed must matter";
  EXPECT_EQ(slurp(a / "tokenizer.json"), slurp(c / "tokenizer.json"));
  EXPECT_NE(oracle_options_key(small_options()), oracle_options_key(o1));
}

TEST(Oracle, LoadsThroughTheEnginePath) {
  Checkpoint ck = load_checkpoint(small_oracle_dir());
  EXPECT_EQ(ck.format, "hf");
  EXPECT_EQ(ck.config.arch, "llama");
  EXPECT_EQ(ck.config.n_layers, 2);
  EXPECT_EQ(ck.config.n_heads, 4);
  EXPECT_EQ(ck.config.n_kv_heads, 2);
  EXPECT_EQ(ck.config.head_dim, 128);
  EXPECT_EQ(ck.config.vocab_size, 512);
  EXPECT_FALSE(ck.config.tied_embeddings);
  auto tok = make_tokenizer(ck.tokenizer);
  EXPECT_EQ(tok->bos_id(), oracle_vocab::kBos);
  EXPECT_EQ(tok->eos_id(), oracle_vocab::kEos);
  // Every word is one token; text is words separated by spaces.
  std::string text;
  std::vector<int32_t> want = {oracle_vocab::kBos};
  for (int32_t id : {3, 77, 200, 511, 4}) {
    text += " " + oracle_word(id);
    want.push_back(id);
  }
  EXPECT_EQ(tok->encode(text), want);
  EXPECT_EQ(tok->decode(want, /*skip_special=*/true), text);
  EXPECT_EQ(tok->find_token("<sep>"), oracle_vocab::kSep);
}

TEST(Oracle, BuiltinNameBuildsAndCachesTheCheckpoint) {
  const fs::path cache = test::tmp_dir() / "oracle_cache";
  fs::remove_all(cache);
  ASSERT_EQ(setenv("KVB_CACHE_DIR", cache.c_str(), 1), 0);
  const std::string name = "builtin:oracle?vocab=256&max_len=256&heads=prev,local:8/retrieval,local:8&kv_heads=1";
  const fs::path p = resolve_model_path(name);
  EXPECT_EQ(p.parent_path(), cache);
  EXPECT_TRUE(fs::exists(p / "complete"));
  const auto t1 = fs::last_write_time(p / "model.safetensors");
  EXPECT_EQ(resolve_model_path(name), p);  // cached: not rebuilt
  EXPECT_EQ(fs::last_write_time(p / "model.safetensors"), t1);
  Checkpoint ck = load_checkpoint(p);
  EXPECT_EQ(ck.config.vocab_size, 256);
  EXPECT_EQ(ck.config.n_heads, 2);
  EXPECT_NE(resolve_model_path("builtin:oracle?vocab=256&max_len=256&heads=prev,local:8/retrieval,local:8&kv_heads=1&seed=3"), p);
  EXPECT_THROW(resolve_model_path("builtin:oracle?colour=blue"), Error);
  EXPECT_THROW(resolve_model_path("builtin:other"), Error);
  EXPECT_THROW(resolve_model_path("builtin:oracle?heads=retrieval/prev"), Error);
  unsetenv("KVB_CACHE_DIR");
}

// Records, per layer, the attention mass of the latest forward call (one query when fed one token).
class MassRecorder final : public ForwardObserver {
 public:
  bool wants_attention_mass(int) const override { return true; }
  void on_layer(const LayerObservation& obs) override { mass[size_t(obs.layer)] = *obs.attn_mass; }
  std::vector<std::vector<float>> mass[2];  // [layer][Hq][T]
};

TEST(Oracle, AttentionShowsTheDesignedRoles) {
  set_num_threads(1);
  Checkpoint ck = load_checkpoint(small_oracle_dir());
  Transformer model(ck.config, ck.weights);
  // Heads: layer 0 = prev, local:16, local:64, local:32; layer 1 = retrieval, local:32, retrieval, local:16.
  Rng rng(42);
  const int32_t key = 100, unseen = 101;
  std::vector<int32_t> ctx = {oracle_vocab::kBos};
  for (int i = 0; i < 1000; ++i) ctx.push_back(int32_t(256 + rng.below(256)));  // filler 256..511
  ctx[500] = key;                                                                  // needle: key, value
  const int32_t value = ctx[501];
  KVCache cache = model.make_cache();
  model.forward(ctx, cache, LogitRows::None);
  MassRecorder rec;
  // Previous-token head: one token at a time, weight on the entry just before the query.
  double worst_prev = 1.0;
  for (int i = 0; i < 24; ++i) {
    const int32_t t = int32_t(256 + rng.below(256));
    model.forward(std::vector<int32_t>{t}, cache, LogitRows::None, &rec);
    const auto& m = rec.mass[0][0];
    worst_prev = std::min<double>(worst_prev, m[m.size() - 2]);
  }
  EXPECT_GT(worst_prev, 0.99) << "layer-0 previous-token head";
  // A key that never occurred: both retrieval heads put most of their weight on BOS (entry 0).
  model.forward(std::vector<int32_t>{unseen}, cache, LogitRows::None, &rec);
  for (int h : {0, 2}) EXPECT_GT(rec.mass[1][size_t(h)][0], 0.5) << "unmatched query, retrieval head " << h;
  // The needle's key: the retrieval heads find the entry after its earlier occurrence and predict it.
  Tensor logits = model.forward(std::vector<int32_t>{key}, cache, LogitRows::Last, &rec);
  for (int h : {0, 2}) EXPECT_GT(rec.mass[1][size_t(h)][501], 0.99) << "matched query, retrieval head " << h;
  int32_t best = 0;
  for (int32_t v = 1; v < ck.config.vocab_size; ++v)
    if (logits.ptr()[v] > logits.ptr()[best]) best = v;
  EXPECT_EQ(best, value);
  // Local heads weigh recent entries more than old ones.
  const auto& local = rec.mass[0][1];
  double recent = 0, old = 0;
  for (size_t j = 0; j < local.size(); ++j) (j + 16 >= local.size() ? recent : old) += local[j];
  EXPECT_GT(recent, 0.9) << "layer-0 local:16 head";
}

}  // namespace
}  // namespace kvb
