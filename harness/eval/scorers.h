// Scorers: one prediction against its references -> a score in [0, 100]. string_match_all /
// string_match_part follow RULER's definitions (NVIDIA/RULER eval/synthetic/constants.py).
// Exercised by tests/test_scorers.cpp; a case names its scorer by id (Case::scorer).
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvb {

using ScorerFn = std::function<double(std::string_view prediction, const std::vector<std::string>& references)>;

// Per-case detail a scorer can give beside its number (stored in the row's case_meta "score_detail").
using ScoreDetailFn = std::function<nlohmann::json(std::string_view prediction, const std::vector<std::string>& references)>;

struct ScorerInfo {
  std::string id;
  std::string description;
  ScorerFn score;
  ScoreDetailFn detail;  // empty: none
};

// RULER's prediction clean-up: strip, every control character U+0000..U+001F -> '\n', strip again.
std::string ruler_postprocess(std::string_view prediction);
// Lowercase of UTF-8 text as Python's str.lower() (RULER's scorers): utf8proc's simple mapping, and U+0130
// to "i" + U+0307 (SpecialCasing.txt; Final_Sigma is not applied). Invalid bytes become U+FFFD.
std::string lowercase_utf8(std::string_view s);

// Mean over references of [ref.lower() in pred.lower()] x 100 (pred RULER-postprocessed).
double string_match_all(std::string_view prediction, const std::vector<std::string>& references);
// Max over references of the same test x 100.
double string_match_part(std::string_view prediction, const std::vector<std::string>& references);
// 100 when the prediction equals any reference after lowercasing and collapsing whitespace runs
// to one space (ends trimmed), else 0.
double exact_match(std::string_view prediction, const std::vector<std::string>& references);
// Percentage of references (queried values) found in the prediction as whole words
// (case-insensitive; a word is a maximal run of letters, digits, '-' and '_').
double mqar_accuracy(std::string_view prediction, const std::vector<std::string>& references);
// needle_threading: each reference is one path of a thread, its values separated by spaces. The
// prediction's UUIDs (8-4-4-4-12 hex digits, any case) in order; hop k is correct when the k-th UUID
// equals the k-th value of the paths concatenated (exact match per hop). One entry per hop, in order.
std::vector<bool> thread_hop_hits(std::string_view prediction, const std::vector<std::string>& references);
// Percent of hops correct (thread_hop_hits).
double thread_hops(std::string_view prediction, const std::vector<std::string>& references);

// ROUGE-1 / ROUGE-2 / ROUGE-L F1 x100 exactly as rouge-score's RougeScorer(use_stemmer=True)
// computes them (eval/rouge.h), the best reference per type (score_multi). An empty prediction
// scores 0.
double rouge1_f1(std::string_view prediction, const std::vector<std::string>& references);
double rouge2_f1(std::string_view prediction, const std::vector<std::string>& references);
double rougeL_f1(std::string_view prediction, const std::vector<std::string>& references);
// Percentage of references (key-fact strings) contained in the prediction after lowercasing and
// collapsing whitespace runs to one space on both sides.
double key_fact_recall(std::string_view prediction, const std::vector<std::string>& references);

// The scorers above by id, sorted; find_scorer throws kvb::Error listing the ids and the nearest.
std::vector<const ScorerInfo*> list_scorers();
const ScorerInfo& find_scorer(std::string_view id);
double score_prediction(std::string_view scorer_id, std::string_view prediction,
                        const std::vector<std::string>& references);
// The scorer's per-case detail (thread_hops: {"hops": [0/1 per hop]}); null when it gives none.
nlohmann::json score_detail(std::string_view scorer_id, std::string_view prediction,
                            const std::vector<std::string>& references);

// The case's secondary metrics (Case::extra_scorers), in order: (scorer id, score).
struct Case;
std::vector<std::pair<std::string, double>> score_extra(const Case& c, std::string_view prediction);

}  // namespace kvb
