// Method behaviour on a real model (SmolLM2-135M-Instruct, skipped when absent): a 2K-token single
// needle at 50% depth is found with full attention, lost by streaming_llm at ratio 0.75 (the needle
// is far from both the sinks and the recent window), and kept by snapkv in query-aware mode.
#include <gtest/gtest.h>

#include "eval/runner.h"
#include "model/checkpoint.h"
#include "test_util.h"

namespace kvb {
namespace {

TEST(MethodsOnSmolLM2, NeedleAtHalfDepthFullFindsStreamingLosesSnapKvQueryAwareKeeps) {
  KVB_REQUIRE_SMOLLM2();
  Checkpoint ck = load_checkpoint(test::smollm2_gguf());
  auto tok = make_tokenizer(ck.tokenizer);
  TaskEnv env{tok.get(), resolve_chat_format("auto", ck.chat_template)};
  TaskParams p{{"haystack", "noise"}, {"value_type", "number"}, {"length", "2048"}, {"depth", "50"},
               {"num_samples", "2"}};
  std::vector<Case> cases = generate_cases("niah_single", p, 0, env);
  Transformer model(ck.config, ck.weights);
  MethodSpec full, streaming, snapkv;
  streaming.id = "streaming_llm";
  streaming.compression_ratio = 0.75;
  snapkv.id = "snapkv";
  snapkv.compression_ratio = 0.75;
  snapkv.query_aware = true;
  snapkv.params.set("window", "32");
  for (const Case& c : cases) {
    CaseResult f = run_case(model, c, env, full), s = run_case(model, c, env, streaming),
               k = run_case(model, c, env, snapkv);
    std::printf("[ %s ] answer %s | full '%s' | streaming_llm 0.75 '%s' | snapkv 0.75 query-aware '%s'\n",
                c.id.c_str(), c.answers[0].c_str(), f.prediction.c_str(), s.prediction.c_str(), k.prediction.c_str());
    EXPECT_EQ(f.score, 100.0) << f.prediction;
    EXPECT_EQ(s.score, 0.0) << s.prediction;
    EXPECT_EQ(k.score, 100.0) << k.prediction;
    // 75% of the context's entries are physically gone.
    EXPECT_LT(double(k.kv_resident_bytes), 0.26 * double(k.kv_nominal_bytes));
    EXPECT_LT(double(s.kv_resident_bytes), 0.26 * double(s.kv_nominal_bytes));
  }
}

}  // namespace
}  // namespace kvb
