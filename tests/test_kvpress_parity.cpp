// Decision-for-decision parity with NVIDIA kvpress 0.5.5: for every press kvpress shares with us,
// the kept positions per (layer, KV head) and the 8-token greedy continuation must be identical to
// the goldens written by scripts/parity/kvpress_golden.py (tests/golden/kvpress/, tiny GQA Llama,
// ratios 0.25/0.5/0.75, query-agnostic and query-aware). docs/kvpress-notes.md has the formulas.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/threads.h"
#include "eval/runner.h"
#include "kv/method.h"
#include "model/checkpoint.h"
#include "test_util.h"
#include "tiny_models.h"

namespace kvb {
namespace {

using nlohmann::json;

json load_golden(const std::string& id) {
  std::ifstream f(test::golden_dir() / "kvpress" / (id + ".json"));
  EXPECT_TRUE(f.good()) << id;
  return json::parse(f);
}

// kvpress parameter names -> ours.
Params to_params(const json& p) {
  Params out;
  for (const auto& [k, v] : p.items()) {
    if (k == "pattern_source" || k == "head_compression_ratio" || k == "key_channel_compression_ratio") continue;
    std::string key = k == "window_size" ? "window" : k;
    std::string value;
    if (v.is_boolean())
      value = v.get<bool>() ? "true" : "false";
    else if (v.is_string())
      value = v.get<std::string>();
    else if (v.is_array()) {  // head_scores [[...], ...] -> "a,b;c,d"
      for (size_t l = 0; l < v.size(); ++l) {
        if (l) value += ";";
        for (size_t h = 0; h < v[l].size(); ++h) value += (h ? "," : "") + fmt::format("{}", v[l][h].get<double>());
      }
    } else
      value = v.dump();
    out.set(key, value);
  }
  return out;
}

struct Tiny {
  Checkpoint ck = load_checkpoint(test::tiny_model_dir("llama_gqa"));
  std::unique_ptr<Tokenizer> tok = make_tokenizer(ck.tokenizer);
  Transformer model{ck.config, ck.weights};
};

class KvpressParity : public ::testing::TestWithParam<std::string> {};

TEST_P(KvpressParity, KeptSetsAndContinuationsIdentical) {
  const std::string id = GetParam();
  json g = load_golden(id);
  // Two threads on every machine: OpenBLAS's GEMM rounds differently with another thread count, which
  // can flip a rounding-level near tie (the earlier torch-initialised tiny model had one in knorm's
  // query-aware case at layer 0; the current weights pass with one thread too, docs/kvpress-notes.md).
  set_num_threads(2);
  static Tiny tiny;
  const std::vector<int32_t> ctx = g["prompt"]["context_ids"], question = g["prompt"]["question_ids"];
  int n_cases = 0, n_kept_identical = 0, n_greedy_identical = 0, n_greedy_checked = 0;
  for (const json& c : g["cases"]) {
    MethodSpec spec;
    spec.id = id;
    spec.params = to_params(c["params"]);
    spec.compression_ratio = c["compression_ratio"].get<double>();
    // per_layer: layer_ratios carries the case's ratios (kvpress PerLayerCompressionPress), --ratio stays 0.
    if (spec.params.has("layer_ratios")) spec.compression_ratio = 0.0;
    spec.query_aware = c["mode"] == "query_aware";
    const std::string label = fmt::format("{} {} {} ratio {}", id, c["config"].get<std::string>(),
                                          c["mode"].get<std::string>(), c["compression_ratio"].get<double>());
    CaseResult stats;
    CompressedPrefill p = prefill_with_method(tiny.model, spec, ctx, question, 8, stats);
    ASSERT_EQ(stats.context_tokens, c["n_compressed_tokens"].get<int64_t>()) << label;
    ++n_cases;
    bool kept_ok = true;
    if (c["kept"].is_array()) {
      for (int l = 0; l < p.cache.n_layers(); ++l)
        for (int h = 0; h < p.cache.n_kv_heads(); ++h) {
          std::vector<int32_t> ours;
          for (int32_t pos : p.cache.head(l, h).positions())
            if (pos < stats.context_tokens) ours.push_back(pos);
          const std::vector<int32_t> want = c["kept"][l][h];
          if (ours != want) {
            std::set<int32_t> a(ours.begin(), ours.end()), common;
            for (int32_t x : want)
              if (a.count(x)) common.insert(x);
            ADD_FAILURE() << label << ": layer " << l << " head " << h << " kept " << ours.size() << " vs kvpress "
                          << want.size() << ", overlap " << common.size();
            kept_ok = false;
          }
        }
    }
    if (c.contains("kept_channels")) {
      for (int l = 0; l < p.cache.n_layers(); ++l)
        for (int h = 0; h < p.cache.n_kv_heads(); ++h) {
          const std::vector<int32_t> want = c["kept_channels"][l][h];
          EXPECT_EQ(p.cache.head(l, h).key_channels(p.cache.head_dim()), want) << label << " layer " << l << " head " << h;
        }
    }
    n_kept_identical += kept_ok;
    const json& greedy = c.contains("greedy_exact_drop") ? c["greedy_exact_drop"] : c["greedy"];
    if (greedy.is_null()) continue;  // kvpress itself failed on this case (recorded in the golden)
    GenerationOptions opt;
    opt.max_new_tokens = 8;
    opt.stop_at_end_of_generation = false;
    std::vector<int32_t> ours = generate_with_method(tiny.model, p, *tiny.tok, opt, stats).tokens;
    const std::vector<int32_t> want = greedy;
    ++n_greedy_checked;
    n_greedy_identical += ours == want;
    EXPECT_EQ(ours, want) << label << ": greedy continuation";
  }
  std::printf("[ %s ] %d cases: kept sets identical %d/%d, greedy identical %d/%d\n", id.c_str(), n_cases,
              n_kept_identical, n_cases, n_greedy_identical, n_greedy_checked);
}

std::vector<std::string> golden_ids() {
  std::vector<std::string> ids;
  for (const char* id : {"streaming_llm", "h2o", "tova", "snapkv", "pyramidkv", "knorm", "expected_attention",
                         "adakv", "think", "duo_attention", "keydiff", "lagkv", "chunkkv", "criticalkv", "criticaladakv",
                         "simlayerkv", "chunk", "block", "per_layer"})
    for (const MethodInfo* m : list_methods())
      if (m->id == id) ids.push_back(id);
  return ids;
}

INSTANTIATE_TEST_SUITE_P(Presses, KvpressParity, ::testing::ValuesIn(golden_ids()),
                         [](const auto& info) { return info.param; });

TEST(KvpressParity, FullAttentionBaselineMatches) {
  json g = load_golden("full");
  json s = load_golden("snapkv");
  static Tiny tiny;
  const std::vector<int32_t> ctx = s["prompt"]["context_ids"], question = s["prompt"]["question_ids"];
  for (const char* mode : {"query_agnostic", "query_aware"}) {
    MethodSpec spec;
    spec.query_aware = std::string(mode) == "query_aware";
    CaseResult stats;
    CompressedPrefill p = prefill_with_method(tiny.model, spec, ctx, question, 8, stats);
    GenerationOptions opt;
    opt.max_new_tokens = 8;
    opt.stop_at_end_of_generation = false;
    std::vector<int32_t> want = g["greedy"]["sdpa"][mode]["greedy"];
    EXPECT_EQ(generate_with_method(tiny.model, p, *tiny.tok, opt, stats).tokens, want) << mode;
  }
}

}  // namespace
}  // namespace kvb
