// ROUGE-1/2/L and the Porter stemmer against rouge-score / nltk golden files from
// scripts/parity/rouge_golden.py (tests/golden/rouge/), plus hand-computed cases.
// Run: ctest -R Rouge (or kvb_tests --gtest_filter='Rouge*').
#include <nlohmann/json.hpp>

#include <fstream>

#include "core/error.h"
#include "eval/porter_stemmer.h"
#include "eval/rouge.h"
#include "test_util.h"

namespace kvb {
namespace {

using json = nlohmann::json;
constexpr double kTol = 1e-6;

json load(const char* name) {
  auto path = test::golden_dir() / "rouge" / name;
  std::ifstream f(path);
  if (!f) ADD_FAILURE() << "missing golden file " << path << "; run scripts/parity/rouge_golden.py";
  return json::parse(f);
}

std::vector<std::string> words(std::string_view text) { return rouge::tokenize(text, false); }

void expect_score(const rouge::Score& got, const json& want, const std::string& what) {
  EXPECT_NEAR(got.precision, want[0].get<double>(), kTol) << what << " precision";
  EXPECT_NEAR(got.recall, want[1].get<double>(), kTol) << what << " recall";
  EXPECT_NEAR(got.fmeasure, want[2].get<double>(), kTol) << what << " fmeasure";
}

void expect_scores(const rouge::Scores& got, const json& want, const std::string& what) {
  expect_score(got.rouge1, want["rouge1"], what + " rouge1");
  expect_score(got.rouge2, want["rouge2"], what + " rouge2");
  expect_score(got.rougeL, want["rougeL"], what + " rougeL");
}

TEST(RougePorterStemmer, KnownWords) {
  EXPECT_EQ(porter_stem("running"), "run");
  EXPECT_EQ(porter_stem("runs"), "run");
  EXPECT_EQ(porter_stem("caresses"), "caress");
  EXPECT_EQ(porter_stem("ponies"), "poni");
  EXPECT_EQ(porter_stem("ties"), "tie");       // NLTK: 4-letter -ies
  EXPECT_EQ(porter_stem("skies"), "sky");      // NLTK irregular form
  EXPECT_EQ(porter_stem("happy"), "happi");
  EXPECT_EQ(porter_stem("enjoy"), "enjoy");    // NLTK: y after a vowel stays
  EXPECT_EQ(porter_stem("relational"), "relat");
  EXPECT_EQ(porter_stem("generously"), "gener");
  EXPECT_EQ(porter_stem("Running"), "run");    // lowercased first
  EXPECT_EQ(porter_stem("ab"), "ab");
  EXPECT_EQ(porter_stem(""), "");
}

TEST(RougePorterStemmer, MatchesNltkGolden) {
  json g = load("stems.json");
  size_t n = 0, bad = 0;
  for (auto& [word, stem] : g["stems"].items()) {
    std::string got = porter_stem(word);
    if (got != stem.get<std::string>() && ++bad <= 20)
      ADD_FAILURE() << "stem(\"" << word << "\") = \"" << got << "\", nltk gives \"" << stem.get<std::string>() << "\"";
    ++n;
  }
  EXPECT_EQ(bad, 0u) << "of " << n << " words";
  EXPECT_GE(n, 1000u);
}

TEST(Rouge, EmptyPredictionScoresZero) {
  for (bool stem : {false, true}) {
    rouge::Scores s = rouge::score("the cat sat on the mat", "", {.use_stemmer = stem});
    for (const rouge::Score* x : {&s.rouge1, &s.rouge2, &s.rougeL}) {
      EXPECT_EQ(x->precision, 0.0);
      EXPECT_EQ(x->recall, 0.0);
      EXPECT_EQ(x->fmeasure, 0.0);
    }
  }
  // Text with no [a-z0-9] at all tokenizes to nothing, on either side.
  EXPECT_EQ(rouge::score("東京 ... !!!", "the cat").rouge1.fmeasure, 0.0);
  EXPECT_EQ(rouge::score("", "").rougeL.fmeasure, 0.0);
}

TEST(Rouge, IdenticalTextScoresOne) {
  for (bool stem : {false, true}) {
    rouge::Scores s = rouge::score("The quick brown fox, running home.", "the QUICK brown fox running home",
                                   {.use_stemmer = stem});
    for (const rouge::Score* x : {&s.rouge1, &s.rouge2, &s.rougeL}) {
      EXPECT_DOUBLE_EQ(x->precision, 1.0);
      EXPECT_DOUBLE_EQ(x->recall, 1.0);
      EXPECT_DOUBLE_EQ(x->fmeasure, 1.0);
    }
  }
}

TEST(Rouge, HandComputedExample) {
  // reference: the cat sat on the mat (6 tokens), prediction: the cat lay on the mat today (7).
  // unigrams: clipped overlap the:2 cat on mat -> 5; P = 5/7, R = 5/6.
  // bigrams: ref {the cat, cat sat, sat on, on the, the mat}, pred {the cat, cat lay, lay on, on the,
  //   the mat, mat today}: overlap 3; P = 3/6, R = 3/5.
  // LCS: the cat on the mat -> 5; P = 5/7, R = 5/6.
  rouge::Scores s = rouge::score("the cat sat on the mat", "the cat lay on the mat today");
  auto f = [](double p, double r) { return 2 * p * r / (p + r); };
  EXPECT_DOUBLE_EQ(s.rouge1.precision, 5.0 / 7);
  EXPECT_DOUBLE_EQ(s.rouge1.recall, 5.0 / 6);
  EXPECT_DOUBLE_EQ(s.rouge1.fmeasure, f(5.0 / 7, 5.0 / 6));
  EXPECT_DOUBLE_EQ(s.rouge2.precision, 0.5);
  EXPECT_DOUBLE_EQ(s.rouge2.recall, 0.6);
  EXPECT_DOUBLE_EQ(s.rouge2.fmeasure, f(0.5, 0.6));
  EXPECT_DOUBLE_EQ(s.rougeL.precision, 5.0 / 7);
  EXPECT_DOUBLE_EQ(s.rougeL.recall, 5.0 / 6);
  // Repeated words are clipped: "the the the" vs "the": P = 1/1, R = 1/3.
  rouge::Score r1 = rouge::rouge_n(words("the the the"), words("the"), 1);
  EXPECT_DOUBLE_EQ(r1.precision, 1.0);
  EXPECT_DOUBLE_EQ(r1.recall, 1.0 / 3);
  // A single token has no bigram: both counts are 0, so P = R = 0 (max(count, 1) denominators).
  EXPECT_EQ(rouge::rouge_n(words("cat"), words("cat"), 2).fmeasure, 0.0);
}

TEST(Rouge, Tokenizer) {
  using V = std::vector<std::string>;
  EXPECT_EQ(words("Hello, World! It's 2024."), (V{"hello", "world", "it", "s", "2024"}));
  EXPECT_EQ(words("café 東京 naïve"), (V{"caf", "na", "ve"}));
  EXPECT_EQ(words("\xC4\xB0stanbul"), (V{"i", "stanbul"}));      // U+0130 -> "i" + U+0307
  EXPECT_EQ(words("\xE2\x84\xAA" "elvin"), (V{"kelvin"}));       // U+212A KELVIN SIGN -> "k"
  EXPECT_EQ(words("a\xFF" "b"), (V{"a", "b"}));                  // invalid UTF-8 separates
  EXPECT_EQ(rouge::tokenize("The runners were running", true), (V{"the", "runner", "were", "run"}));
  EXPECT_EQ(rouge::tokenize("dies ran cats", true), (V{"die", "ran", "cat"}));  // only > 3 chars stem
}

TEST(Rouge, MatchesRougeScoreGolden) {
  json g = load("pairs.json");
  ASSERT_GE(g["cases"].size(), 200u);
  for (const json& c : g["cases"]) {
    std::string ref = c["reference"], pred = c["prediction"];
    for (bool stem : {false, true}) {
      const json& want = c[stem ? "stem" : "nostem"];
      std::string what = "case " + std::to_string(c["id"].get<int>()) + (stem ? " stemmed" : "");
      EXPECT_EQ(rouge::tokenize(ref, stem), want["reference_tokens"].get<std::vector<std::string>>())
          << what << " reference tokens of " << ref;
      EXPECT_EQ(rouge::tokenize(pred, stem), want["prediction_tokens"].get<std::vector<std::string>>())
          << what << " prediction tokens of " << pred;
      expect_scores(rouge::score(ref, pred, {.use_stemmer = stem}), want["scores"], what);
    }
  }
}

TEST(Rouge, MultiReferenceMatchesScoreMulti) {
  json g = load("multi.json");
  ASSERT_GE(g["cases"].size(), 20u);
  for (const json& c : g["cases"]) {
    auto refs = c["references"].get<std::vector<std::string>>();
    std::string pred = c["prediction"];
    for (bool stem : {false, true}) {
      const json& want = c[stem ? "stem" : "nostem"];
      std::string what = "multi case " + std::to_string(c["id"].get<int>()) + (stem ? " stemmed" : "");
      rouge::MultiScores m = rouge::score_multi(refs, pred, {.use_stemmer = stem});
      ASSERT_EQ(m.per_reference.size(), refs.size());
      for (size_t i = 0; i < refs.size(); ++i)
        expect_scores(m.per_reference[i], want["per_reference"][i], what + " reference " + std::to_string(i));
      expect_scores(m.best, want["best"], what + " best");
    }
  }
}

TEST(Rouge, MultiReferencePicksFirstMaximumPerType) {
  std::vector<std::string> refs{"a b c d", "x y z", "a b c d"};
  // rouge1 F1: 8/9, 1/4, 8/9 -> the first of the tied maxima.
  rouge::MultiScores m = rouge::score_multi(refs, "a b c d x");
  EXPECT_EQ(m.best_index[0], 0u);
  EXPECT_EQ(m.best_index[2], 0u);
  EXPECT_DOUBLE_EQ(m.best.rouge1.recall, 1.0);
  EXPECT_THROW(rouge::score_multi(std::vector<std::string>{}, "a"), kvb::Error);
  EXPECT_THROW(rouge::rouge_n(words("a"), words("a"), 0), kvb::Error);
}

}  // namespace
}  // namespace kvb
