// ROUGE-1, ROUGE-2 and ROUGE-L (sentence-level LCS, not rougeLsum) precision / recall / F1 as Google's
// rouge-score 0.1.2 (rouge_scorer.RougeScorer) computes them: same tokens, same double operations in the
// same order. Exercised by tests/test_rouge.cpp against scripts/parity/rouge_golden.py's tests/golden/rouge/.
#pragma once
#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kvb::rouge {

struct Score {
  double precision = 0.0;
  double recall = 0.0;
  double fmeasure = 0.0;  // 2PR / (P + R), 0 when P + R = 0
};

struct Scores {
  Score rouge1;
  Score rouge2;
  Score rougeL;
};

struct Options {
  // Porter-stem every token longer than 3 characters (nltk PorterStemmer, NLTK_EXTENSIONS mode),
  // as RougeScorer(use_stemmer=True).
  bool use_stemmer = false;
};

// rouge_score.tokenize.tokenize: Python str.lower(), every run of characters other than [a-z0-9]
// becomes one separator, tokens longer than 3 characters are stemmed when asked. Input is UTF-8.
// Non-ASCII text is dropped (accents split a word: "café" -> "caf"; CJK vanishes) except the two
// characters whose Python lowercase is ASCII: U+212A KELVIN SIGN -> "k" and U+0130 (I with dot
// above) -> "i" followed by a separator (its lowercase is "i" + U+0307). Bytes that are not valid
// UTF-8 act as separators (Python never sees them: rouge-score takes str).
std::vector<std::string> tokenize(std::string_view text, bool use_stemmer);

// ROUGE-N from clipped n-gram counts: overlap = sum over reference n-grams of
// min(count in reference, count in prediction); P = overlap / max(#prediction n-grams, 1),
// R = overlap / max(#reference n-grams, 1). n >= 1.
Score rouge_n(std::span<const std::string> reference, std::span<const std::string> prediction, int n);

// ROUGE-L: LCS length over tokens; P = lcs / |prediction|, R = lcs / |reference|; all zero when
// either side has no tokens.
Score rouge_l(std::span<const std::string> reference, std::span<const std::string> prediction);

// RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer).score(reference, prediction).
Scores score(std::string_view reference, std::string_view prediction, const Options& options = {});

// Several references for one prediction. `per_reference[i]` scores against references[i]; `best`
// is RougeScorer.score_multi: for each ROUGE type separately, the Score (P, R and F together) of
// the reference with the highest F1, the first one on ties; `best_index` says which reference
// that was for rouge1, rouge2, rougeL. At least one reference is required.
struct MultiScores {
  std::vector<Scores> per_reference;
  Scores best;
  std::array<size_t, 3> best_index{};
};
MultiScores score_multi(std::span<const std::string> references, std::string_view prediction,
                        const Options& options = {});

}  // namespace kvb::rouge
