// RULER replay: official samples that NVIDIA/RULER's own generators wrote (niah noise / needle
// haystacks, vt, cwe, fwe; tests/golden/ruler/, by scripts/parity/ruler_golden.py with SmolLM2's
// tokenizer) replay through ruler_jsonl token for token, and kvbench's string_match_all /
// string_match_part give RULER's own scores (evaluate.py's postprocessing included) on predictions
// that are right, partly right, in another case, with control characters or Unicode letters.
// Run: build/tests/kvb_tests --gtest_filter='RulerReplay*'
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

#include "datasets/file_rows.h"
#include "eval/prompt.h"
#include "eval/scorers.h"
#include "eval/task.h"
#include "model/checkpoint.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

const Tokenizer& smollm2() {
  static const std::unique_ptr<Tokenizer> tok = make_tokenizer(
      load_hf_tokenizer(test::shared_dir() / "models/smollm2-135m-hf/tokenizer.json").spec);
  return *tok;
}

// RULER's tokens_to_generate per task (scripts/data/synthetic/constants.py): `length` in its rows is
// the prompt's tokens plus these.
const std::map<std::string, int> kTokensToGenerate = {{"niah_single_1", 128}, {"niah_multikey_2", 128},
                                                      {"niah_multikey_3", 128}, {"vt", 30},
                                                      {"cwe", 120}, {"fwe", 50}};

std::vector<fs::path> golden_files() {
  std::vector<fs::path> out;
  for (const auto& [task, tokens] : kTokensToGenerate) out.push_back(test::golden_dir() / "ruler" / (task + ".jsonl"));
  return out;
}

TEST(RulerReplay, PromptsAreRulersTokenForToken) {
  const TaskEnv env{&smollm2(), {}};  // RULER files carry their own (here: base) template
  int rows_checked = 0;
  for (const fs::path& file : golden_files()) {
    SCOPED_TRACE(file.filename().string());
    ASSERT_TRUE(fs::exists(file)) << "run scripts/parity/ruler_golden.py";
    const std::string task = file.stem().string();
    const auto rows = datasets::read_jsonl(file.string());
    for (const char* split : {"last_line", "none"}) {
      const auto cases = generate_cases(
          "ruler_jsonl",
          {{"file", file.string()}, {"split", split}, {"max_new_tokens", std::to_string(kTokensToGenerate.at(task))}},
          0, env);
      ASSERT_EQ(cases.size(), rows.size());
      for (size_t i = 0; i < rows.size(); ++i) {
        const auto& row = rows[i].value;
        const Case& c = cases[i];
        SCOPED_TRACE(c.id + " split=" + split);
        // The tokens RULER's pred/call_api.py feeds the model: tokenizer(input + answer_prefix).
        const PromptTokens t = encode_prompt(c, env);
        std::vector<int32_t> ids = t.context;
        ids.insert(ids.end(), t.question.begin(), t.question.end());
        EXPECT_EQ(ids, row["token_ids"].get<std::vector<int32_t>>());
        // RULER's own length: the prompt's tokens + tokens_to_generate.
        EXPECT_EQ(c.meta.token_length + c.max_new_tokens, row["length"].get<int>());
        EXPECT_EQ(c.answers, row["outputs"].get<std::vector<std::string>>());
        EXPECT_EQ(c.id, "ruler_jsonl/" + std::to_string(i));
        ++rows_checked;
      }
    }
  }
  EXPECT_EQ(rows_checked, 2 * 11);
}

TEST(RulerReplay, ScorersGiveRulersScores) {
  int checked = 0, partial = 0;
  for (const fs::path& file : golden_files()) {
    SCOPED_TRACE(file.filename().string());
    for (const auto& row : datasets::read_jsonl(file.string())) {
      const auto refs = row.value["outputs"].get<std::vector<std::string>>();
      for (const auto& p : row.value["predictions"]) {
        const std::string pred = p["pred"].get<std::string>();
        SCOPED_TRACE("prediction '" + pred + "'");
        for (const char* scorer : {"string_match_all", "string_match_part"}) {
          const double ruler = p[scorer].get<double>();  // RULER rounds to 2 decimals
          const double ours = score_prediction(scorer, pred, refs);
          EXPECT_EQ(std::round(ours * 100.0) / 100.0, ruler) << scorer << " ours " << ours;
          if (ruler > 0.0 && ruler < 100.0) ++partial;
          ++checked;
        }
      }
    }
  }
  EXPECT_GE(checked, 200);
  EXPECT_GE(partial, 10) << "the golden should hold partly right predictions";
}

}  // namespace
}  // namespace kvb
