// Scorer implementations and their registry (see scorers.h). RULER: string_match_all/part;
// rouge1/2/L: rouge-score F1 (eval/rouge.h); exact_match, mqar_accuracy, key_fact_recall are ours.
// Exercised by tests/test_scorers.cpp and tests/test_tasks_more.cpp (TaskScorers*).
#include "eval/scorers.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "core/error.h"
#include "core/names.h"
#include "eval/rouge.h"
#include "eval/task.h"
#include "model/unicode.h"

namespace kvb {
namespace {

std::string_view strip_unicode_ws(std::string_view s) {
  // Leading: decode forward. Trailing: find the last non-space character.
  size_t b = 0;
  while (b < s.size()) {
    auto c = unicode::decode(s, b);
    if (!(c.valid && unicode::is_whitespace(c.cp)) && !(c.cp >= 0x1c && c.cp <= 0x1f)) break;
    b += c.len;
  }
  size_t e = b, pos = b;
  while (pos < s.size()) {
    auto c = unicode::decode(s, pos);
    pos += c.len;
    if (!(c.valid && unicode::is_whitespace(c.cp)) && !(c.cp >= 0x1c && c.cp <= 0x1f)) e = pos;
  }
  return s.substr(b, e - b);
}

void require_references(const std::vector<std::string>& refs, const char* scorer) {
  KVB_CHECK(!refs.empty(), "scorer {}: the case has no reference answers", scorer);
}

bool contains_ci(const std::string& pred_lower, const std::string& ref) {
  return pred_lower.find(lowercase_utf8(ref)) != std::string::npos;
}

std::string normalize_ws_lower(std::string_view s) {
  std::string lower = lowercase_utf8(s);
  std::string out;
  bool pending_space = false;
  size_t pos = 0;
  while (pos < lower.size()) {
    auto c = unicode::decode(lower, pos);
    bool space = (c.valid && unicode::is_whitespace(c.cp)) || c.cp < 0x20 || c.cp == 0x7f;
    if (space) {
      pending_space = !out.empty();
    } else {
      if (pending_space) out.push_back(' ');
      pending_space = false;
      out.append(lower, pos, c.len);
    }
    pos += c.len;
  }
  return out;
}

std::set<std::string> words_of(std::string_view text) {
  std::set<std::string> words;
  std::string lower = lowercase_utf8(text), cur;
  size_t pos = 0;
  while (pos <= lower.size()) {
    bool word_char = false;
    unicode::CodePoint c{0, 1, false};
    if (pos < lower.size()) {
      c = unicode::decode(lower, pos);
      auto cls = unicode::classify(c.cp);
      word_char = c.valid && (cls == unicode::CharClass::Letter || cls == unicode::CharClass::Number ||
                              c.cp == '-' || c.cp == '_');
    }
    if (word_char) {
      cur.append(lower, pos, c.len);
    } else if (!cur.empty()) {
      words.insert(cur);
      cur.clear();
    }
    pos += c.len;
  }
  return words;
}

const std::vector<ScorerInfo>& scorer_table() {
  static const std::vector<ScorerInfo> table = {
      {"exact_match", "prediction equals a reference (case and whitespace normalized), x100", exact_match, {}},
      {"key_fact_recall", "percent of key-fact strings contained in the prediction (case/whitespace normalized)",
       key_fact_recall, {}},
      {"mqar_accuracy", "percent of queried values present as whole words", mqar_accuracy, {}},
      {"rouge1", "ROUGE-1 F1 x100 (rouge-score, Porter stemming), max over references", rouge1_f1, {}},
      {"rouge2", "ROUGE-2 F1 x100 (rouge-score, Porter stemming), max over references", rouge2_f1, {}},
      {"rougeL", "ROUGE-L F1 x100 (rouge-score, Porter stemming), max over references", rougeL_f1, {}},
      {"string_match_all", "RULER: mean over references of case-insensitive containment, x100", string_match_all, {}},
      {"string_match_part", "RULER: max over references of case-insensitive containment, x100", string_match_part, {}},
      {"thread_hops", "needle_threading: percent of thread hops whose UUID is exact, in order", thread_hops,
       [](std::string_view prediction, const std::vector<std::string>& references) {
         nlohmann::json hops = nlohmann::json::array();
         for (bool h : thread_hop_hits(prediction, references)) hops.push_back(h ? 1 : 0);
         return nlohmann::json{{"hops", hops}};
       }},
  };
  return table;
}

}  // namespace

std::string lowercase_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (pos < s.size()) {
    auto c = unicode::decode(s, pos);
    if (c.cp < 0x80) {
      char ch = char(c.cp);
      out.push_back(ch >= 'A' && ch <= 'Z' ? char(ch - 'A' + 'a') : ch);
    } else if (c.cp == 0x130) {
      // Python's str.lower() (RULER's scorers, rouge-score) applies the full mapping of
      // SpecialCasing.txt: LATIN CAPITAL LETTER I WITH DOT ABOVE -> "i" + COMBINING DOT ABOVE.
      out += "i\xCC\x87";
    } else {
      unicode::append_utf8(out, uint32_t(utf8proc_tolower(utf8proc_int32_t(c.cp))));
    }
    pos += c.len;
  }
  return out;
}

std::string ruler_postprocess(std::string_view prediction) {
  std::string s(strip_unicode_ws(prediction));
  for (char& ch : s)
    if (static_cast<unsigned char>(ch) < 0x20) ch = '\n';
  return std::string(strip_unicode_ws(s));
}

double string_match_all(std::string_view prediction, const std::vector<std::string>& references) {
  require_references(references, "string_match_all");
  const std::string pred = lowercase_utf8(ruler_postprocess(prediction));
  double hits = 0;
  for (const auto& r : references) hits += contains_ci(pred, r) ? 1.0 : 0.0;
  return 100.0 * hits / double(references.size());
}

double string_match_part(std::string_view prediction, const std::vector<std::string>& references) {
  require_references(references, "string_match_part");
  const std::string pred = lowercase_utf8(ruler_postprocess(prediction));
  for (const auto& r : references)
    if (contains_ci(pred, r)) return 100.0;
  return 0.0;
}

double exact_match(std::string_view prediction, const std::vector<std::string>& references) {
  require_references(references, "exact_match");
  const std::string pred = normalize_ws_lower(prediction);
  for (const auto& r : references)
    if (normalize_ws_lower(r) == pred) return 100.0;
  return 0.0;
}

double mqar_accuracy(std::string_view prediction, const std::vector<std::string>& references) {
  require_references(references, "mqar_accuracy");
  const auto words = words_of(prediction);
  double hits = 0;
  for (const auto& r : references) hits += words.count(lowercase_utf8(r)) ? 1.0 : 0.0;
  return 100.0 * hits / double(references.size());
}

namespace {
bool is_hex(char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F'); }

// The UUIDs (8-4-4-4-12 hex digits, not part of a longer hex run) of `text`, lowercased, in order.
std::vector<std::string> uuids_of(std::string_view text) {
  static constexpr int kGroups[] = {8, 4, 4, 4, 12};
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    if (!is_hex(text[i]) || (i > 0 && (is_hex(text[i - 1]) || text[i - 1] == '-'))) {
      ++i;
      continue;
    }
    size_t p = i;
    bool ok = true;
    for (int g = 0; g < 5 && ok; ++g) {
      for (int k = 0; k < kGroups[g]; ++k, ++p) ok &= p < text.size() && is_hex(text[p]);
      if (ok && g < 4) ok = p < text.size() && text[p++] == '-';
    }
    ok &= p == text.size() || (!is_hex(text[p]) && text[p] != '-');
    if (!ok) {
      ++i;
      continue;
    }
    std::string u(text.substr(i, p - i));
    for (char& ch : u) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    out.push_back(u);
    i = p;
  }
  return out;
}
}  // namespace

std::vector<bool> thread_hop_hits(std::string_view prediction, const std::vector<std::string>& references) {
  require_references(references, "thread_hops");
  const std::vector<std::string> said = uuids_of(prediction);
  std::vector<bool> hits;
  for (const auto& r : references) {
    const std::string lower = lowercase_utf8(r);
    size_t pos = 0;
    while (pos < lower.size()) {
      const size_t b = lower.find_first_not_of(" \t\n", pos);
      if (b == std::string::npos) break;
      const size_t e = std::min(lower.size(), lower.find_first_of(" \t\n", b));
      const size_t k = hits.size();
      hits.push_back(k < said.size() && said[k] == lower.substr(b, e - b));
      pos = e;
    }
  }
  KVB_CHECK(!hits.empty(), "scorer thread_hops: the references hold no values");
  return hits;
}

double thread_hops(std::string_view prediction, const std::vector<std::string>& references) {
  const std::vector<bool> hits = thread_hop_hits(prediction, references);
  return 100.0 * double(std::count(hits.begin(), hits.end(), true)) / double(hits.size());
}

namespace {
rouge::Scores best_rouge(std::string_view prediction, const std::vector<std::string>& references, const char* id) {
  require_references(references, id);
  return rouge::score_multi(references, prediction, rouge::Options{/*use_stemmer=*/true}).best;
}
}  // namespace

double rouge1_f1(std::string_view prediction, const std::vector<std::string>& references) {
  return 100.0 * best_rouge(prediction, references, "rouge1").rouge1.fmeasure;
}
double rouge2_f1(std::string_view prediction, const std::vector<std::string>& references) {
  return 100.0 * best_rouge(prediction, references, "rouge2").rouge2.fmeasure;
}
double rougeL_f1(std::string_view prediction, const std::vector<std::string>& references) {
  return 100.0 * best_rouge(prediction, references, "rougeL").rougeL.fmeasure;
}

double key_fact_recall(std::string_view prediction, const std::vector<std::string>& references) {
  require_references(references, "key_fact_recall");
  const std::string pred = normalize_ws_lower(prediction);
  double hits = 0;
  for (const auto& r : references) hits += pred.find(normalize_ws_lower(r)) != std::string::npos ? 1.0 : 0.0;
  return 100.0 * hits / double(references.size());
}

std::vector<std::pair<std::string, double>> score_extra(const Case& c, std::string_view prediction) {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& x : c.extra_scorers) out.emplace_back(x.scorer, score_prediction(x.scorer, prediction, x.references));
  return out;
}

std::vector<const ScorerInfo*> list_scorers() {
  std::vector<const ScorerInfo*> out;
  for (const auto& s : scorer_table()) out.push_back(&s);
  return out;
}

const ScorerInfo& find_scorer(std::string_view id) {
  std::vector<std::string> ids;
  for (const auto& s : scorer_table()) {
    if (s.id == id) return s;
    ids.push_back(s.id);
  }
  KVB_FAIL("unknown scorer '{}' (did you mean '{}'?); known scorers: {}", id, nearest_name(id, ids),
           fmt::join(ids, ", "));
}

double score_prediction(std::string_view scorer_id, std::string_view prediction,
                        const std::vector<std::string>& references) {
  return find_scorer(scorer_id).score(prediction, references);
}

nlohmann::json score_detail(std::string_view scorer_id, std::string_view prediction,
                            const std::vector<std::string>& references) {
  const ScorerInfo& s = find_scorer(scorer_id);
  return s.detail ? s.detail(prediction, references) : nlohmann::json();
}

}  // namespace kvb
