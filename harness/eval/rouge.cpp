// ROUGE-1/2/L as rouge-score 0.1.2 computes them (rouge_scorer._score_ngrams, _score_lcs,
// scoring.fmeasure, tokenize.tokenize), with the same floating-point operations in the same order.
// Exercised by tests/test_rouge.cpp (ctest -R Rouge).
#include "eval/rouge.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "core/error.h"
#include "eval/porter_stemmer.h"

namespace kvb::rouge {
namespace {

// scoring.fmeasure: 2 * precision * recall / (precision + recall), evaluated left to right.
double fmeasure(double precision, double recall) {
  if (precision + recall > 0) return 2 * precision * recall / (precision + recall);
  return 0.0;
}

// Token strings -> small integer ids shared by both sides, so n-grams compare as integer runs.
std::pair<std::vector<int32_t>, std::vector<int32_t>> intern(std::span<const std::string> a,
                                                             std::span<const std::string> b) {
  std::unordered_map<std::string_view, int32_t> ids;
  auto map = [&](std::span<const std::string> toks) {
    std::vector<int32_t> out;
    out.reserve(toks.size());
    for (const std::string& t : toks) {
      auto [it, inserted] = ids.emplace(t, static_cast<int32_t>(ids.size()));
      out.push_back(it->second);
    }
    return out;
  };
  auto ia = map(a);
  auto ib = map(b);
  return {std::move(ia), std::move(ib)};
}

// Start positions of every n-gram of `ids`, sorted by the n-gram (lexicographically).
std::vector<size_t> sorted_ngrams(const std::vector<int32_t>& ids, size_t n) {
  std::vector<size_t> starts;
  if (ids.size() < n) return starts;
  starts.resize(ids.size() - n + 1);
  for (size_t i = 0; i < starts.size(); ++i) starts[i] = i;
  std::sort(starts.begin(), starts.end(), [&](size_t x, size_t y) {
    return std::lexicographical_compare(ids.begin() + x, ids.begin() + x + n, ids.begin() + y,
                                        ids.begin() + y + n);
  });
  return starts;
}

}  // namespace

std::vector<std::string> tokenize(std::string_view text, bool use_stemmer) {
  std::vector<std::string> tokens;
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) return;
    tokens.push_back(use_stemmer && cur.size() > 3 ? porter_stem(cur) : cur);
    if (tokens.back().empty()) tokens.pop_back();  // the final VALID_TOKEN_RE filter
    cur.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 'A' && c <= 'Z') {
      cur.push_back(static_cast<char>(c - 'A' + 'a'));
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      cur.push_back(static_cast<char>(c));
    } else if (c == 0xE2 && text.substr(i, 3) == "\xE2\x84\xAA") {  // U+212A KELVIN SIGN -> "k"
      cur.push_back('k');
      i += 2;
    } else if (c == 0xC4 && text.substr(i, 2) == "\xC4\xB0") {  // U+0130 -> "i" + U+0307
      cur.push_back('i');
      flush();
      i += 1;
    } else {
      flush();  // any other character (or byte of a non-ASCII character) separates tokens
    }
  }
  flush();
  return tokens;
}

Score rouge_n(std::span<const std::string> reference, std::span<const std::string> prediction, int n) {
  KVB_CHECK(n >= 1, "rouge: n-gram order must be positive, got {}", n);
  auto [ref, pred] = intern(reference, prediction);
  size_t un = static_cast<size_t>(n);
  std::vector<size_t> rs = sorted_ngrams(ref, un);
  std::vector<size_t> ps = sorted_ngrams(pred, un);
  // Merge of two sorted multisets: each matched pair counts once, i.e. sum of min(counts).
  auto less = [&](const std::vector<int32_t>& a, size_t x, const std::vector<int32_t>& b, size_t y) {
    return std::lexicographical_compare(a.begin() + x, a.begin() + x + n, b.begin() + y, b.begin() + y + n);
  };
  size_t overlap = 0;
  for (size_t i = 0, j = 0; i < rs.size() && j < ps.size();) {
    if (less(ref, rs[i], pred, ps[j])) ++i;
    else if (less(pred, ps[j], ref, rs[i])) ++j;
    else ++overlap, ++i, ++j;
  }
  Score s;
  s.precision = static_cast<double>(overlap) / static_cast<double>(std::max<size_t>(ps.size(), 1));
  s.recall = static_cast<double>(overlap) / static_cast<double>(std::max<size_t>(rs.size(), 1));
  s.fmeasure = fmeasure(s.precision, s.recall);
  return s;
}

Score rouge_l(std::span<const std::string> reference, std::span<const std::string> prediction) {
  if (reference.empty() || prediction.empty()) return Score{};
  auto [ref, pred] = intern(reference, prediction);
  // LCS by dynamic programming, one row at a time: row[j] = LCS(ref[:i], pred[:j]).
  std::vector<uint32_t> prev(pred.size() + 1, 0), row(pred.size() + 1, 0);
  for (size_t i = 1; i <= ref.size(); ++i) {
    for (size_t j = 1; j <= pred.size(); ++j)
      row[j] = ref[i - 1] == pred[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], row[j - 1]);
    std::swap(prev, row);
  }
  double lcs = prev[pred.size()];
  Score s;
  s.precision = lcs / static_cast<double>(pred.size());
  s.recall = lcs / static_cast<double>(ref.size());
  s.fmeasure = fmeasure(s.precision, s.recall);
  return s;
}

Scores score(std::string_view reference, std::string_view prediction, const Options& options) {
  std::vector<std::string> ref = tokenize(reference, options.use_stemmer);
  std::vector<std::string> pred = tokenize(prediction, options.use_stemmer);
  return Scores{rouge_n(ref, pred, 1), rouge_n(ref, pred, 2), rouge_l(ref, pred)};
}

MultiScores score_multi(std::span<const std::string> references, std::string_view prediction,
                        const Options& options) {
  KVB_CHECK(!references.empty(), "rouge: score_multi needs at least one reference for prediction \"{}\"",
            prediction.substr(0, 80));
  MultiScores out;
  out.per_reference.reserve(references.size());
  for (const std::string& r : references) out.per_reference.push_back(score(r, prediction, options));
  // np.argmax over F1 for each type: the first maximum wins.
  Score Scores::*types[3] = {&Scores::rouge1, &Scores::rouge2, &Scores::rougeL};
  for (size_t t = 0; t < 3; ++t) {
    size_t best = 0;
    for (size_t i = 1; i < out.per_reference.size(); ++i)
      if ((out.per_reference[i].*types[t]).fmeasure > (out.per_reference[best].*types[t]).fmeasure) best = i;
    out.best_index[t] = best;
    out.best.*types[t] = out.per_reference[best].*types[t];
  }
  return out;
}

}  // namespace kvb::rouge
