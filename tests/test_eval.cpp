// The eval loop: cases through the engine and their scores; CLI errors.
#include <gtest/gtest.h>

#include "eval/runner.h"
#include "model/checkpoint.h"
#include "test_util.h"

namespace kvb {
namespace {

TEST(Eval, SmolLM2FindsSingleNeedleAt1K) {
  KVB_REQUIRE_SMOLLM2();
  Checkpoint ck = load_checkpoint(test::smollm2_gguf());
  auto tok = make_tokenizer(ck.tokenizer);
  TaskEnv env{tok.get(), resolve_chat_format("auto", ck.chat_template)};
  TaskParams p{{"length", "1024"}, {"num_samples", "3"}, {"max_new_tokens", "16"}};
  auto cases = generate_cases("niah_single", p, 7, env);
  Transformer model(ck.config, ck.weights);
  for (const auto& c : cases) {
    CaseResult r = run_case(model, c, env);
    EXPECT_EQ(r.score, 100.0) << c.id << " answer " << c.answers[0] << " prediction " << r.prediction;
    EXPECT_LE(r.prompt_tokens + c.max_new_tokens, 1024);
    EXPECT_GT(r.prefill_seconds, 0.0);
  }
}

TEST(Eval, SymbolicCasesAreRejectedForLanguageModels) {
  Checkpoint ck = load_checkpoint(test::stories260k());
  auto tok = make_tokenizer(ck.tokenizer);
  TaskEnv env{tok.get(), {}};
  auto cases = generate_cases("mqar", TaskParams{{"form", "symbolic"}, {"num_samples", "1"}}, 1, env);
  Transformer model(ck.config, ck.weights);
  EXPECT_THROW(run_case(model, cases[0], env), Error);
}

TEST(Eval, CliUnknownTaskSuggestsNearest) {
  auto r = test::run_kvbench("eval --model stories260K --task niah_singel");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("niah_single"), std::string::npos) << r.output;
}

TEST(Eval, CliRunsStories260k) {
  auto r = test::run_kvbench("eval --model '" + test::stories260k().string() +
                             "' --task niah_single --length 400 --n 2 --chat-template none -q");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("niah_single v1 | model stories260K | method full | 2 cases | score"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace kvb
