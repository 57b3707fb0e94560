// Scorer tests: RULER's string_match_all / string_match_part semantics, exact_match, mqar_accuracy
// and the scorer registry, with edge cases (empty text, Unicode, control characters).
// Run: build/tests/kvb_tests --gtest_filter='Scorer*'
#include <gtest/gtest.h>

#include "core/error.h"
#include "eval/scorers.h"

namespace kvb {
namespace {

TEST(ScorerRuler, MatchAllIsMeanOverReferences) {
  EXPECT_DOUBLE_EQ(string_match_all("The numbers are 1234567 and 7654321.", {"1234567", "7654321", "1111111"}),
                   200.0 / 3.0);
  EXPECT_DOUBLE_EQ(string_match_all("1234567", {"1234567"}), 100.0);
  EXPECT_DOUBLE_EQ(string_match_all("none here", {"1234567"}), 0.0);
}

TEST(ScorerRuler, MatchPartIsMaxOverReferences) {
  EXPECT_DOUBLE_EQ(string_match_part("It was Paris, I think", {"London", "paris"}), 100.0);
  EXPECT_DOUBLE_EQ(string_match_part("Rome", {"London", "Paris"}), 0.0);
}

TEST(ScorerRuler, CaseInsensitiveSubstringIncludingUnicode) {
  EXPECT_DOUBLE_EQ(string_match_all("QUIET-HARBOR", {"quiet-harbor"}), 100.0);
  EXPECT_DOUBLE_EQ(string_match_all("Die ÉCOLE in ZÜRICH", {"école", "zürich"}), 100.0);
  EXPECT_DOUBLE_EQ(string_match_all("ΑΘΗΝΑ", {"αθηνα"}), 100.0);
  EXPECT_DOUBLE_EQ(string_match_all("日本語のテキスト", {"テキスト"}), 100.0);
  EXPECT_DOUBLE_EQ(string_match_all("12345678", {"1234567"}), 100.0);  // substring, as RULER
}

TEST(ScorerRuler, EmptyPredictionAndEmptyReference) {
  EXPECT_DOUBLE_EQ(string_match_all("", {"1234567"}), 0.0);
  EXPECT_DOUBLE_EQ(string_match_part("   \n", {"x"}), 0.0);
  EXPECT_DOUBLE_EQ(string_match_all("", {""}), 100.0);  // Python: "" in "" is True
  EXPECT_THROW(string_match_all("x", {}), Error);
  EXPECT_THROW(string_match_part("x", {}), Error);
}

TEST(ScorerRuler, ControlCharactersBecomeNewlines) {
  EXPECT_EQ(ruler_postprocess("  a\tb\x01 c \n"), "a\nb\n c");
  EXPECT_EQ(ruler_postprocess("\x02\x03"), "");
  EXPECT_DOUBLE_EQ(string_match_all("\x01 1234567\x02", {"1234567"}), 100.0);
  // A reference with a tab cannot match: the prediction's tab became '\n' (RULER's behaviour).
  EXPECT_DOUBLE_EQ(string_match_all("a\tb", {"a\tb"}), 0.0);
  EXPECT_DOUBLE_EQ(string_match_all("a\tb", {"a\nb"}), 100.0);
}

TEST(ScorerRuler, InvalidUtf8DoesNotThrow) {
  EXPECT_DOUBLE_EQ(string_match_all(std::string("ab\xff\xfe") + "CD", {"cd"}), 100.0);
}

TEST(ScorerExactMatch, NormalizesCaseAndWhitespace) {
  EXPECT_DOUBLE_EQ(exact_match("  New\t\nYORK  ", {"new york"}), 100.0);
  EXPECT_DOUBLE_EQ(exact_match("New York.", {"new york"}), 0.0);
  EXPECT_DOUBLE_EQ(exact_match("b", {"a", "B"}), 100.0);
  EXPECT_DOUBLE_EQ(exact_match("", {""}), 100.0);
  EXPECT_DOUBLE_EQ(exact_match("", {"a"}), 0.0);
  EXPECT_DOUBLE_EQ(exact_match("ÉCOLE", {"école"}), 100.0);
}

TEST(ScorerMqar, FractionOfValuesFoundAsWholeWords) {
  EXPECT_DOUBLE_EQ(mqar_accuracy("gegeba: 7727\ndogibi: 7618", {"7727", "7618", "4936"}), 200.0 / 3.0);
  EXPECT_DOUBLE_EQ(mqar_accuracy("77270", {"7727"}), 0.0);  // not a substring match
  EXPECT_DOUBLE_EQ(mqar_accuracy("", {"1"}), 0.0);
  EXPECT_DOUBLE_EQ(mqar_accuracy("Foo-Bar baz", {"foo-bar", "BAZ"}), 100.0);
  EXPECT_THROW(mqar_accuracy("x", {}), Error);
}

TEST(ScorerRegistry, LookupByIdAndNearestOnTypo) {
  EXPECT_EQ(list_scorers().size(), 9u);  // + rouge1, rouge2, rougeL, key_fact_recall, thread_hops
  EXPECT_DOUBLE_EQ(score_prediction("string_match_all", "abc", {"B"}), 100.0);
  try {
    find_scorer("string_match_al");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'string_match_all'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("exact_match"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kvb
