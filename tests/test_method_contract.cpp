// Contract tests run over every registered method on the tiny random Llama (GQA) checkpoint:
// budgets are respected, resident KV bytes match the analytic size, decisions are deterministic,
// a budget covering the context reproduces full attention bit for bit, and protected tokens stay.
#include <gtest/gtest.h>

#include <cstddef>
#include <cmath>
#include <initializer_list>
#include <map>
#include <set>

#include "core/random.h"
#include "eval/runner.h"
#include "kv/method.h"
#include "kv/pca_basis.h"
#include "model/checkpoint.h"
#include "test_util.h"
#include "tiny_models.h"

namespace kvb {
namespace {

struct TinyModel {
  Checkpoint ck;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Transformer> model;
  TinyModel() : ck(load_checkpoint(test::tiny_model_dir("llama_gqa"))) {
    tok = make_tokenizer(ck.tokenizer);
    model = std::make_unique<Transformer>(ck.config, ck.weights, EngineOptions{32});
  }
};

TinyModel& tiny() {
  static TinyModel m;
  return m;
}

std::vector<int32_t> random_ids(uint64_t seed, int n) {
  Rng rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& t : ids) t = int32_t(1 + rng.below(300));
  return ids;
}

struct Outcome {
  std::vector<int32_t> tokens;
  std::vector<float> first_logits;
  std::vector<std::vector<std::vector<int32_t>>> positions;  // [L][Hkv] after compression
  CaseResult stats;
};

Outcome run(const MethodSpec& spec, int n_context = 160, int n_question = 8, int n_new = 6) {
  TinyModel& m = tiny();
  std::vector<int32_t> ctx = random_ids(7, n_context), q = random_ids(8, n_question);
  Outcome o;
  CompressedPrefill p = prefill_with_method(*m.model, spec, ctx, q, n_new, o.stats);
  o.first_logits = p.logits.data;
  const KVCache& c = p.cache;
  for (int l = 0; l < c.n_layers(); ++l) {
    o.positions.emplace_back();
    for (int h = 0; h < c.n_kv_heads(); ++h) {
      // The compressed part's entries (the question, prefilled afterwards, is not part of it).
      std::vector<int32_t> pos;
      for (int32_t x : c.head(l, h).positions())
        if (x < o.stats.context_tokens) pos.push_back(x);
      o.positions.back().push_back(pos);
    }
  }
  GenerationOptions opt;
  opt.max_new_tokens = n_new;
  opt.stop_at_end_of_generation = false;
  o.tokens = generate_with_method(*m.model, p, *m.tok, opt, o.stats).tokens;
  return o;
}

// Runs `f`, which must throw kvb::Error; each of `needles` must appear in its message.
template <class F>
void expect_error_naming(F&& f, std::initializer_list<const char*> needles) {
  try {
    f();
    ADD_FAILURE() << "no error was raised";
  } catch (const Error& e) {
    for (const char* n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

// A Loki PCA basis of the tiny model's keys (kv/pca_basis.h), written once per test run.
std::string tiny_loki_basis() {
  static const std::string path = [] {
    TinyModel& m = tiny();
    KVCache cache = m.model->make_cache();
    m.model->forward(random_ids(99, 200), cache, LogitRows::None);
    std::vector<KeyMoments> moments;
    add_cache_keys(cache, moments);
    const ModelConfig& c = m.ck.config;
    const std::string out = (test::tmp_dir() / "tiny_llama_gqa.pca").string();
    write_pca_basis(out, pca_basis_from(moments, c.n_layers, c.n_kv_heads, c.head_dim, "llama_gqa"));
    return out;
  }();
  return path;
}

// Parameters a method needs to run on the tiny model (short context: small windows).
Params tiny_params(const std::string& id) {
  Params p;
  const MethodInfo& info = find_method(id);
  for (const auto& s : info.params) {
    if (s.name == "window") p.set("window", "16");
    if (s.name == "n_sink") p.set("n_sink", "4");
    if (s.name == "n_local") p.set("n_local", "16");
  }
  // Wrappers whose default scorer has an observation window (adakv, chunkkv, criticalkv, ...: snapkv).
  for (const auto& s : info.params)
    if (info.wraps_scorer && s.name == "scorer")
      for (const auto& q : find_method(s.default_value).params)
        if (q.name == "window") p.set("window", "16");
  if (id == "lagkv") p.set("lag_size", "16");
  if (id == "longheads") p.set("chunk_size", "16");
  if (id == "chunk") p.set("chunk_length", "48");
  if (id == "block") p.set("block_size", "32");
  if (id == "simlayerkv") {  // some layers of the tiny model are lazy at this threshold, not all
    p.set("lazy_threshold", "0.2");
    p.set("n_recent", "32");
  }
  if (id == "tidaldecode") {  // two layers: layer 0 records the top-k, layer 1 reuses it
    p.set("sparse_layer_start", "0");
    p.set("correction_layer", "2");
  }
  if (id == "loki") p.set("basis", tiny_loki_basis());
  if (id == "hip") {  // the tiny model's two layers: none dense; a window for its short context
    p.set("dense_layers", "0");
    p.set("n_window", "16");
  }
  if (id == "duo_attention") {
    p.set("head_scores", "0.9,0.1;0.4,0.7");
    p.set("sink_size", "4");
    p.set("recent_size", "16");
  }
  return p;
}

std::vector<std::string> method_ids() {
  std::vector<std::string> ids;
  for (const MethodInfo* m : list_methods()) ids.push_back(m->id);
  return ids;
}

class MethodContract : public ::testing::TestWithParam<std::string> {
 protected:
  MethodSpec spec(double ratio, bool query_aware = false) const {
    MethodSpec s;
    s.id = GetParam();
    s.params = tiny_params(s.id);
    s.compression_ratio = ratio;
    s.query_aware = query_aware;
    if (s.id == "kivi") {  // no eviction: the ratio picks the bit width instead (0.25/0.5/0.75 -> 8/4/2)
      s.params.set("bits", ratio >= 0.75 ? "2" : ratio >= 0.5 ? "4" : ratio > 0 ? "8" : "8");
      s.params.set("group", "16");
      s.params.set("residual", ratio > 0 ? "32" : "1000");
      s.compression_ratio = 0.0;
    }
    return s;
  }
};

// KIVI's analytic resident size for one head of T tokens (kivi_codec.h layout).
size_t kivi_head_bytes(int64_t T, int64_t D, int bits, int64_t group, int64_t residual) {
  const int64_t nq = T - residual >= group ? ((T - residual) / group) * group : 0;
  const int64_t vgroups = (D + std::min(group, D) - 1) / std::min(group, D);
  return 2 * size_t((nq * D * bits + 7) / 8) + size_t(nq / group * D) * 2 * sizeof(float) +
         size_t(nq * vgroups) * 2 * sizeof(float) + size_t((T - nq) * D) * 2 * sizeof(float) + size_t(T) * sizeof(int32_t);
}

// How many entries each (layer, head) must hold after compression at n_kept per head, by the
// budget shape the method declares (MethodRoles).
void check_budget(const std::string& id, const Outcome& o, int64_t n_context, int64_t n_kept, int n_kv_heads) {
  const Budget budget = find_method(id).roles.budget;
  int64_t total = 0;
  for (size_t l = 0; l < o.positions.size(); ++l) {
    int64_t layer_total = 0;
    for (const auto& h : o.positions[l]) layer_total += int64_t(h.size());
    total += layer_total;
    switch (budget) {
      case Budget::HeadAdaptive:
        EXPECT_EQ(layer_total, n_kv_heads * n_kept) << "layer " << l;
        break;
      case Budget::PerLayer:
        for (const auto& h : o.positions[l]) EXPECT_EQ(int64_t(h.size()), int64_t(o.positions[l][0].size()));
        break;
      case Budget::WholeOrRecent:  // retrieval heads: everything; others: n_kept incl. compensation
        for (const auto& h : o.positions[l]) EXPECT_TRUE(int64_t(h.size()) == n_context || int64_t(h.size()) == n_kept);
        break;
      case Budget::StreamingHeadFraction:  // per head: everything, or sink 4 + recent 16 (tiny_params)
        for (const auto& h : o.positions[l]) EXPECT_TRUE(int64_t(h.size()) == n_context || h.size() == 20u) << h.size();
        break;
      case Budget::None:
      case Budget::KeyChannelsPruned:
      case Budget::ReadsPerStep:  // nothing evicted after the prefill
      case Budget::PrefillAttended:
        for (const auto& h : o.positions[l]) EXPECT_EQ(int64_t(h.size()), n_context);
        break;
      case Budget::Uniform:
        for (const auto& h : o.positions[l]) EXPECT_EQ(int64_t(h.size()), n_kept) << "layer " << l;
        break;
      case Budget::Chunked:  // whole chunks or the ratio per chunk: equal in every head, fewer than the context
        for (const auto& h : o.positions[l]) {
          EXPECT_EQ(h.size(), o.positions[l][0].size()) << "layer " << l;
          EXPECT_LT(int64_t(h.size()), n_context) << "layer " << l;
        }
        break;
      case Budget::LazyLayers:  // a lazy layer keeps n_initial 4 + n_recent 32 - n_last 1 (tiny_params)
        for (const auto& h : o.positions[l]) {
          EXPECT_EQ(h.size(), o.positions[l][0].size()) << "layer " << l;
          EXPECT_TRUE(int64_t(h.size()) == n_context || h.size() == 35u) << h.size();
        }
        break;
    }
  }
  EXPECT_EQ(total, o.stats.kept_tokens);
}

TEST_P(MethodContract, BudgetRespectedAndBytesFreed) {
  const ModelConfig& c = tiny().ck.config;
  for (double ratio : {0.25, 0.5, 0.75}) {
    Outcome o = run(spec(ratio));
    const int64_t T = 160, n_kept = int64_t(double(T) * (1.0 - ratio));
    check_budget(GetParam(), o, T, n_kept, c.n_kv_heads);
    // Resident bytes right after compression: exactly the kept entries (fp32 K and V + position).
    const size_t per_entry = 2 * size_t(c.head_dim) * sizeof(float) + sizeof(int32_t);
    size_t expected = size_t(o.stats.kept_tokens) * per_entry;
    const MethodRoles& roles = find_method(GetParam()).roles;
    if (roles.compensates)  // heads holding a compensation entry carry a logit bias per entry
      for (const auto& layer : o.positions)
        for (const auto& h : layer)
          if (int64_t(h.size()) != T) expected += h.size() * sizeof(float);
    if (roles.codec)  // kivi
      expected = size_t(c.n_layers * c.n_kv_heads) *
                 kivi_head_bytes(T, c.head_dim, ratio >= 0.75 ? 2 : ratio >= 0.5 ? 4 : 8, 16, 32);
    EXPECT_EQ(o.stats.kv_resident_bytes, expected) << "ratio " << ratio;
    EXPECT_EQ(o.stats.kv_nominal_bytes, size_t(T) * size_t(c.n_layers * c.n_kv_heads) * per_entry);
    RecordProperty("ratio_" + std::to_string(int(ratio * 100)) + "_resident_bytes", int(o.stats.kv_resident_bytes));
    std::printf("[ %s ratio %.2f ] resident %zu B (analytic %zu B), nominal %zu B\n", GetParam().c_str(), ratio,
                o.stats.kv_resident_bytes, expected, o.stats.kv_nominal_bytes);
  }
}

TEST_P(MethodContract, DeterministicAndSeeded) {
  Outcome a = run(spec(0.5)), b = run(spec(0.5));
  EXPECT_EQ(a.positions, b.positions);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.first_logits, b.first_logits);
}

TEST_P(MethodContract, BudgetCoveringContextEqualsFullAttention) {
  MethodSpec full;
  Outcome ref = run(full);
  for (bool query_aware : {false, true}) {
    MethodSpec s = spec(0.0, query_aware);
    // think (channel ratio) and duo_attention (streaming-head ratio) take ratios only; a codec
    // (kivi) alone takes neither.
    const MethodRoles& roles = find_method(GetParam()).roles;
    if (takes_token_budget(roles.budget) && !roles.codec) {
      s.token_budget = 160 + 8;  // >= every compressed part
      Outcome o = run(s);
      EXPECT_EQ(o.first_logits, ref.first_logits) << "query_aware " << query_aware;  // bit for bit
      EXPECT_EQ(o.tokens, ref.tokens);
    }
    s.token_budget = 0;  // ratio 0 too
    Outcome z = run(s);
    EXPECT_EQ(z.first_logits, ref.first_logits);
  }
}

TEST_P(MethodContract, QueryAwareCompressesTheQuestionToo) {
  Outcome o = run(spec(0.5, true));
  EXPECT_EQ(o.stats.context_tokens, 168);
  if (find_method(GetParam()).roles.budget == Budget::Uniform) {
    for (const auto& layer : o.positions)
      for (const auto& h : layer) EXPECT_EQ(int64_t(h.size()), 84);
  }
}

INSTANTIATE_TEST_SUITE_P(AllMethods, MethodContract, ::testing::ValuesIn(method_ids()),
                         [](const auto& info) { return info.param; });

// Protected tokens: sinks and recent windows stay where the method's paper says they do.
TEST(MethodProtection, StreamingLlmKeepsSinksAndRecent) {
  MethodSpec s;
  s.id = "streaming_llm";
  s.compression_ratio = 0.75;
  Outcome o = run(s);
  std::vector<int32_t> expected = {0, 1, 2, 3};
  for (int32_t p = 160 - (40 - 4); p < 160; ++p) expected.push_back(p);
  for (const auto& layer : o.positions)
    for (const auto& h : layer) EXPECT_EQ(h, expected);
}

TEST(MethodProtection, SnapKvAndTovaKeepTheirObservationWindow) {
  for (const char* id : {"snapkv", "tova", "pyramidkv"}) {
    MethodSpec s;
    s.id = id;
    s.params = tiny_params(id);
    s.compression_ratio = 0.75;
    Outcome o = run(s);
    const int window = std::string(id) == "tova" ? 1 : 16;
    for (const auto& layer : o.positions)
      for (const auto& h : layer) {
        std::set<int32_t> kept(h.begin(), h.end());
        for (int32_t p = 160 - window; p < 160; ++p) EXPECT_TRUE(kept.count(p)) << id << " dropped window token " << p;
      }
  }
}

TEST(MethodRegistry, UnknownIdsAndParametersAreClearErrors) {
  const ModelConfig& c = tiny().ck.config;
  MethodSpec s;
  s.id = "snapkvv";
  expect_error_naming([&] { make_method(s, c); }, {"did you mean 'snapkv'"});
  s.id = "snapkv";
  s.params.set("windw", "3");
  expect_error_naming([&] { make_method(s, c); }, {"did you mean 'window'"});
  s.params = {};
  s.compression_ratio = 1.0;
  EXPECT_THROW(make_method(s, c), Error);
  s.compression_ratio = 0.5;
  s.token_budget = 10;
  EXPECT_THROW(make_method(s, c), Error);
}

TEST(MethodSchedule, DecodingWrapperCutsEachLayerBackToTarget) {
  TinyModel& m = tiny();
  MethodSpec s;
  s.id = "decoding";
  s.params.set("scorer", "snapkv");
  s.params.set("window", "4");
  s.params.set("compression_interval", "4");
  s.params.set("target_size", "100");
  s.params.set("buffer_size", "8");
  std::vector<int32_t> ctx = random_ids(7, 120), q = random_ids(8, 8);
  CaseResult stats;
  CompressedPrefill p = prefill_with_method(*m.model, s, ctx, q, 13, stats);
  EXPECT_EQ(p.cache.head(0, 0).size(), 128);  // nothing compressed at prefill
  GenerationOptions opt;
  opt.max_new_tokens = 13;  // 12 decode forwards: compressions after steps 4, 8, 12
  opt.stop_at_end_of_generation = false;
  generate_with_method(*m.model, p, *m.tok, opt, stats);
  for (int l = 0; l < p.cache.n_layers(); ++l)
    for (int h = 0; h < p.cache.n_kv_heads(); ++h) {
      EXPECT_EQ(p.cache.head(l, h).size(), 100) << l << "," << h;
      // snapkv's window (the last 4 decode steps) survives every cut.
      const auto& pos = p.cache.head(l, h).positions();
      for (int32_t x = 128 + 8; x < 128 + 12; ++x) EXPECT_NE(std::find(pos.begin(), pos.end(), x), pos.end()) << x;
    }
  s.params.set("scorer", "h2o");  // needs prefill attention mass: refused clearly
  EXPECT_THROW(make_method(s, m.ck.config), Error);
}

TEST(MethodSchedule, DecodeTimeH2oAndTovaHoldTheBudgetWhileGenerating) {
  TinyModel& m = tiny();
  for (const char* id : {"h2o", "tova"}) {
    MethodSpec s;
    s.id = id;
    s.params.set("schedule", "decode");
    s.token_budget = 90;
    s.query_aware = true;  // every entry is counted against the budget from the first step
    std::vector<int32_t> ctx = random_ids(7, 120), q = random_ids(8, 8);
    CaseResult stats;
    CompressedPrefill p = prefill_with_method(*m.model, s, ctx, q, 10, stats);
    EXPECT_EQ(p.cache.head(1, 1).size(), 90) << id;
    GenerationOptions opt;
    opt.max_new_tokens = 10;
    opt.stop_at_end_of_generation = false;
    generate_with_method(*m.model, p, *m.tok, opt, stats);
    for (int l = 0; l < p.cache.n_layers(); ++l)
      for (int h = 0; h < p.cache.n_kv_heads(); ++h) {
        EXPECT_EQ(p.cache.head(l, h).size(), 90) << id << " layer " << l << " head " << h;
        EXPECT_EQ(p.cache.head(l, h).positions().back(), 128 + 8) << id;  // the newest token is never evicted
      }
    // A budget that holds everything changes nothing: no eviction while generating (the cache grows up
    // to the token budget, not only to the prompt's length), identical to full attention.
    s.token_budget = 1000;
    CompressedPrefill all = prefill_with_method(*m.model, s, ctx, q, 10, stats);
    generate_with_method(*m.model, all, *m.tok, opt, stats);
    for (int l = 0; l < all.cache.n_layers(); ++l)
      for (int h = 0; h < all.cache.n_kv_heads(); ++h)
        EXPECT_EQ(all.cache.head(l, h).size(), 128 + 9) << id << " layer " << l << " head " << h;
    Outcome o = run(s), ref = run(MethodSpec{});
    EXPECT_EQ(o.tokens, ref.tokens) << id;
  }
}

// A KIVI-encoded head holds its older entries packed: quest must select pages over every entry
// (dequantized), exactly as over the same rows stored in fp32. Reading the fp32 storage as if it held
// every row ran past its end (scripts/sanitize.sh runs this under AddressSanitizer and UBSan).
TEST(MethodRegistry, QuestSelectsOverEveryRowOfAKiviEncodedCache) {
  TinyModel& m = tiny();
  MethodSpec s;
  s.id = "quest+kivi";
  s.params = Params{{"bits", "4"}, {"group", "16"}, {"residual", "16"}, {"dense_layers", "0"}};
  s.compression_ratio = 0.5;
  std::vector<int32_t> ctx = random_ids(7, 160), q = random_ids(8, 8);
  CaseResult stats;
  CompressedPrefill p = prefill_with_method(*m.model, s, ctx, q, 4, stats);
  const KVCache& packed = p.cache;
  ASSERT_TRUE(packed.head(0, 0).is_quantized());
  ASSERT_GT(packed.head(0, 0).n_quantized(), 100);
  KVCache dense(packed.n_layers(), packed.n_kv_heads(), packed.head_dim());
  for (int l = 0; l < packed.n_layers(); ++l)
    for (int h = 0; h < packed.n_kv_heads(); ++h) {
      const HeadRows r = packed.rows(l, h);
      dense.append(l, h, r.keys(), r.values(), packed.head_dim(), packed.head(l, h).positions().data(), r.size());
    }
  const ModelConfig& c = m.ck.config;
  std::vector<float> query(size_t(c.n_heads * c.head_dim));
  Rng rng(11);
  for (float& x : query) x = float(rng.unit() * 2.0 - 1.0);
  for (int l = 0; l < c.n_layers; ++l) {
    const ReadSets a = p.method->select(l, query.data(), packed).sets, b = p.method->select(l, query.data(), dense).sets;
    ASSERT_FALSE(a.empty()) << "layer " << l << ": the budget reads a subset";
    EXPECT_EQ(a, b) << "layer " << l;
  }
  GenerationOptions opt;
  opt.max_new_tokens = 4;
  opt.stop_at_end_of_generation = false;
  EXPECT_EQ(generate_with_method(*m.model, p, *m.tok, opt, stats).tokens.size(), 4u);
}

// In "evictor+selector" every part sees the prefill: quest takes its read budget from it (a composite
// that stopped at the evicting part left quest without a budget, which UBSan reported as an overflow
// in scripts/sanitize.sh). On the compressed cache quest then reads everything (its budget counts the
// compressed part, which knorm cut to the same size); over the uncompressed cache of the same prompt
// the composite's selector reads a subset, which it only does with its budget.
TEST(MethodRegistry, SelectorInACompositeGetsItsReadBudget) {
  TinyModel& m = tiny();
  MethodSpec s;
  s.id = "knorm+quest";
  s.params = Params{{"dense_layers", "0"}, {"page_size", "4"}};
  s.compression_ratio = 0.5;
  std::vector<int32_t> ctx = random_ids(7, 160), q = random_ids(8, 8);
  CaseResult stats;
  CompressedPrefill p = prefill_with_method(*m.model, s, ctx, q, 4, stats);
  CompressedPrefill whole = prefill_with_method(*m.model, MethodSpec{}, ctx, q, 4, stats);
  const ModelConfig& c = m.ck.config;
  std::vector<float> query(size_t(c.n_heads * c.head_dim));
  Rng rng(12);
  for (float& x : query) x = float(rng.unit() * 2.0 - 1.0);
  for (int l = 0; l < c.n_layers; ++l) {
    EXPECT_TRUE(p.method->select(l, query.data(), p.cache).reads_everything()) << "layer " << l;
    const ReadSets read = p.method->select(l, query.data(), whole.cache).sets;
    ASSERT_EQ(read.size(), size_t(c.n_kv_heads)) << "layer " << l << ": no budget, everything read";
    for (int h = 0; h < c.n_kv_heads; ++h)  // per query head 80 + 8 entries in pages of 4, union over the group
      EXPECT_LT(read[size_t(h)].size(), 168u) << "layer " << l << " head " << h;
  }
}

// Decode-time eviction cannot drop packed entries: the composition is refused when it is built,
// naming both parts, instead of failing (or reading packed rows) in the middle of generation.
TEST(MethodRegistry, DecodeTimeEvictionWithACodecIsRefused) {
  const ModelConfig& c = tiny().ck.config;
  MethodSpec s;
  s.id = "decoding+kivi";
  expect_error_naming([&] { make_method(s, c); }, {"'decoding' evicts entries during decoding", "'kivi' packs"});
  s.id = "h2o+kivi";
  s.params.set("schedule", "decode");
  s.token_budget = 90;
  EXPECT_THROW(make_method(s, c), Error);
  s.params = Params{};  // prefill-time h2o composes with the codec
  EXPECT_NO_THROW(make_method(s, c));
}

TEST(MethodRegistry, CompositionEvictsThenEncodes) {
  MethodSpec s;
  s.id = "snapkv+kivi";
  s.params.set("window", "16");
  s.params.set("bits", "4");
  s.params.set("group", "16");
  s.params.set("residual", "16");
  s.compression_ratio = 0.5;
  Outcome o = run(s);
  MethodSpec alone = s;
  alone.id = "snapkv";
  alone.params = Params{{"window", "16"}};
  Outcome a = run(alone);
  EXPECT_EQ(o.positions, a.positions);  // the same eviction decisions
  const ModelConfig& c = tiny().ck.config;
  // 80 kept entries per head, 64 of them packed at 4 bits, 16 in fp32.
  const size_t per_head = 2 * size_t(64 * 16 * 4 / 8) + size_t(64 / 16 * 16) * 2 * 4 + size_t(64 * 1) * 2 * 4 +
                          size_t(16 * 16) * 2 * 4 + 80 * 4;
  EXPECT_EQ(o.stats.kv_resident_bytes, size_t(c.n_layers * c.n_kv_heads) * per_head);
  EXPECT_LT(o.stats.kv_resident_bytes, a.stats.kv_resident_bytes);
  s.id = "snapkv+knorm";  // two evicting parts: refused
  s.params = Params{{"window", "16"}};
  expect_error_naming([&] { run(s); }, {"two parts evict"});
  s.id = "snapkv+nope";
  EXPECT_THROW(run(s), Error);
}

TEST(MethodProtection, RazorAttentionKeepsRetrievalHeadsWholeAndCompensatesTheOthers) {
  TinyModel& m = tiny();
  MethodSpec s;
  s.id = "razor_attention";
  s.params.set("retrieval_fraction", "0.5");
  s.compression_ratio = 0.75;  // 40 entries per streaming head: 4 sinks + 35 recent + 1 compensation
  std::vector<int32_t> ctx = random_ids(7, 160), q = random_ids(8, 8);
  CaseResult stats;
  CompressedPrefill p = prefill_with_method(*m.model, s, ctx, q, 1, stats);
  int whole = 0, compensated = 0;
  for (int l = 0; l < p.cache.n_layers(); ++l)
    for (int h = 0; h < p.cache.n_kv_heads(); ++h) {
      const HeadCache& hc = p.cache.head(l, h);
      if (hc.logit_bias().empty()) {
        ++whole;
        EXPECT_EQ(hc.size(), 160 + 8);
        continue;
      }
      ++compensated;
      ASSERT_EQ(hc.size(), 40 + 8);
      for (int32_t j = 0; j < 4; ++j) EXPECT_EQ(hc.positions()[size_t(j)], j);  // sinks
      EXPECT_EQ(hc.positions()[4], 125);                                        // recent window 125..159
      EXPECT_EQ(hc.positions()[39], 4);           // the compensation entry, at the first dropped position
      EXPECT_NEAR(hc.logit_bias()[39], std::log(121.0f), 1e-5);  // it stands for the 121 dropped entries
      EXPECT_EQ(hc.logit_bias()[0], 0.0f);
    }
  EXPECT_EQ(whole, 2);  // half of the 4 (layer, KV head) pairs
  EXPECT_EQ(compensated, 2);
  // Deterministic: the same heads on a second run.
  CompressedPrefill p2 = prefill_with_method(*m.model, s, ctx, q, 1, stats);
  for (int l = 0; l < p.cache.n_layers(); ++l)
    for (int h = 0; h < p.cache.n_kv_heads(); ++h) EXPECT_EQ(p.cache.head(l, h).positions(), p2.cache.head(l, h).positions());
}

TEST(MethodRegistry, AdaKvWrapsAnyScorerAndTakesItsParameters) {
  MethodSpec s;
  s.id = "adakv";
  s.params.set("scorer", "knorm");
  s.compression_ratio = 0.5;
  Outcome o = run(s);
  EXPECT_EQ(o.stats.kept_tokens, 2 * 2 * 80);
  s.params.set("scorer", "full");
  EXPECT_THROW(run(s), Error);  // not a scorer
  s.params.set("scorer", "snapkv");
  s.params.set("kernel_size", "3");
  EXPECT_NO_THROW(run(s));
}

// Wave-2 wrappers refuse what they cannot run, naming the problem: a chunk / block scorer that needs the
// prefill's queries, per-layer ratios of the wrong count or next to --ratio, simlayerkv's degenerate slice.
TEST(MethodRegistry, WaveTwoWrappersRefuseWhatTheyCannotRun) {
  const ModelConfig& c = tiny().ck.config;
  TinyModel& m = tiny();
  MethodSpec s;
  s.compression_ratio = 0.5;
  for (const char* id : {"chunk", "block"}) {
    s.id = id;
    s.params = Params{{"scorer", "snapkv"}};
    expect_error_naming([&] { make_method(s, c, m.model.get()); }, {id, "'snapkv'", "key/value scorer"});
    s.params = Params{{"scorer", "keydiff"}};
    EXPECT_NO_THROW(make_method(s, c, m.model.get())) << id;
  }
  s.id = "chunkkv";
  s.params = Params{{"scorer", "h2o"}};
  expect_error_naming([&] { make_method(s, c, m.model.get()); }, {"chunkkv", "'h2o'", "attention weights"});
  s.id = "per_layer";
  s.params = Params{{"layer_ratios", "0.5,0.25,0.1"}};
  s.compression_ratio = 0.0;
  expect_error_naming([&] { make_method(s, c, m.model.get()); }, {"3 ratios", "2 layers"});
  s.params = Params{{"layer_ratios", "0.5,x"}};
  expect_error_naming([&] { make_method(s, c, m.model.get()); }, {"'x'", "not a number"});
  s.params = Params{{"layer_ratios", "0.5,0.25"}};
  EXPECT_NO_THROW(make_method(s, c, m.model.get()));
  s.compression_ratio = 0.5;
  expect_error_naming([&] { make_method(s, c, m.model.get()); }, {"layer_ratios", "--ratio"});
  s.id = "criticalkv";
  s.params = Params{};
  expect_error_naming([&] { make_method(s, c); }, {"criticalkv", "output projection"});  // built without a model
  s.id = "simlayerkv";
  s.params = Params{{"n_recent", "1"}, {"n_last", "1"}};
  expect_error_naming([&] { make_method(s, c); }, {"n_recent 1", "n_last 1"});
  s.params = Params{};
  s.token_budget = 90;
  s.compression_ratio = 0.0;
  expect_error_naming([&] { make_method(s, c); }, {"simlayerkv", "--ratio"});
}

// The roles a method declares are what its object does: a selector selects, a codec encodes, a
// decode-time evictor has decode hooks, and a prefill evictor keeps fewer entries than the context.
TEST(MethodRoles, DeclaredRolesMatchWhatTheMethodDoes) {
  TinyModel& m = tiny();
  for (const std::string& id : method_ids()) {
    const MethodInfo& info = find_method(id);
    MethodSpec s;
    s.id = id;
    s.params = tiny_params(id);
    s.compression_ratio = info.roles.codec ? 0.0 : 0.5;
    std::unique_ptr<Method> method = make_method(s, m.ck.config, m.model.get());
    EXPECT_EQ(method->has_selector(), info.roles.selects) << id;
    EXPECT_EQ(method->has_codec(), info.roles.codec) << id;
    EXPECT_EQ(method->decode_hooks(), info.roles.evicts_during_decode(resolve_method_params(info, s.params))) << id;
    const Outcome o = run(s);
    const int64_t nominal = int64_t(160) * m.ck.config.n_layers * m.ck.config.n_kv_heads;
    const bool evicts_at_prefill = info.roles.evicts && info.roles.schedule != Schedule::Decode;
    EXPECT_EQ(o.stats.kept_tokens < nominal, evicts_at_prefill) << id << " kept " << o.stats.kept_tokens;
  }
}

// The tiny model's parameters for the composite `id`: each part's tiny_params, under the name the
// composite declares (a name two parts declare is "part.name"; a wrapper's scorer takes defaults).
Params composite_tiny_params(const std::string& id, const std::vector<std::string>& parts) {
  std::set<std::string> declared;
  for (const auto& ps : find_method(id).params) declared.insert(ps.name);
  Params out;
  for (const std::string& part : parts) {
    const Params tiny = tiny_params(part);
    for (const auto& [k, v] : tiny.values()) {
      if (declared.count(part + "." + k))
        out.set(part + "." + k, v);
      else if (declared.count(k))
        out.set(k, v);
    }
  }
  return out;
}

// A part's own parameters from tiny_params (without a wrapper's scorer parameters).
Params own_tiny_params(const std::string& id) {
  Params out;
  const Params tiny = tiny_params(id);
  for (const auto& ps : find_method(id).params)
    if (tiny.has(ps.name)) out.set(ps.name, tiny.get_string(ps.name));
  return out;
}

// Every pair "a+b" of registered methods: refused exactly when two parts claim one role (or a
// decode-time evictor meets a codec); accepted ones run, and when one part evicts at prefill the
// composite keeps exactly what that part alone keeps.
TEST(MethodComposition, EveryPairTheRolesAllowRunsAndTheRestAreRefused) {
  const std::vector<std::string> ids = method_ids();
  std::map<std::string, Outcome> alone;
  int accepted = 0, refused = 0;
  for (size_t i = 0; i < ids.size(); ++i)
    for (size_t j = i + 1; j < ids.size(); ++j) {
      const std::string id = ids[i] + "+" + ids[j];
      const MethodRoles &a = find_method(ids[i]).roles, &b = find_method(ids[j]).roles;
      auto prefill_evicts = [](const MethodRoles& r) { return r.evicts && r.schedule != Schedule::Decode; };
      auto decode_evicts = [](const MethodRoles& r) { return r.evicts && r.schedule == Schedule::Decode; };
      const bool conflict = (prefill_evicts(a) && prefill_evicts(b)) || (decode_evicts(a) && decode_evicts(b)) ||
                            (a.selects && b.selects) || (a.codec && b.codec) ||
                            (a.prunes_key_channels && b.prunes_key_channels) || (decode_evicts(a) && b.codec) ||
                            (a.codec && decode_evicts(b));
      MethodSpec s;
      s.id = id;
      s.compression_ratio = 0.5;
      try {
        s.params = composite_tiny_params(id, {ids[i], ids[j]});
        const Outcome o = run(s, 160, 8, 3);
        ++accepted;
        EXPECT_FALSE(conflict) << id << " was accepted";
        EXPECT_EQ(o.tokens.size(), 3u) << id;
        const std::string evictor = prefill_evicts(a) ? ids[i] : prefill_evicts(b) ? ids[j] : "";
        // A part that changes the prefill (minference's sparse prefill) changes what the evictor sees.
        if (evictor.empty() || a.changes_prefill || b.changes_prefill) continue;
        if (!alone.count(evictor)) {
          MethodSpec e;
          e.id = evictor;
          e.params = own_tiny_params(evictor);
          e.compression_ratio = 0.5;
          alone.emplace(evictor, run(e, 160, 8, 3));
        }
        EXPECT_EQ(o.positions, alone.at(evictor).positions) << id << " keeps what " << evictor << " keeps";
      } catch (const Error& e) {
        ++refused;
        EXPECT_TRUE(conflict) << id << " was refused: " << e.what();
      }
    }
  std::printf("[ compositions ] %d pairs accepted and run, %d refused\n", accepted, refused);
  EXPECT_GT(accepted, 30);
  EXPECT_GT(refused, 30);
}

}  // namespace
}  // namespace kvb
