// Porter stemmer, NLTK_EXTENSIONS mode (the default of nltk.stem.porter.PorterStemmer), step by step
// as in Porter (1980) with NLTK's deviations marked "NLTK:". Rule lists keep the paper's order: the
// first rule whose suffix matches decides, and a failed condition leaves the word unchanged.
// Exercised by tests/test_rouge.cpp (RougePorterStemmer* tests, stemmed golden cases).
#include "eval/porter_stemmer.h"

#include <array>

namespace kvb {
namespace {

bool is_vowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

// Porter's consonant: not a, e, i, o, u, and not a 'y' preceded by a consonant. So a 'y' is a
// consonant at the start of the word or after a vowel; in a run of y's the classes alternate.
bool is_consonant(std::string_view w, size_t i) {
  if (is_vowel(w[i])) return false;
  if (w[i] != 'y') return true;
  size_t j = i;  // start of the run of y's that ends at i
  while (j > 0 && w[j - 1] == 'y') --j;
  bool first = (j == 0) || is_vowel(w[j - 1]);  // class of the y at j
  return ((i - j) % 2 == 0) ? first : !first;
}

// m in [C](VC){m}[V]: the number of vowel -> consonant transitions.
int measure(std::string_view stem) {
  int m = 0;
  bool prev_cons = true;
  for (size_t i = 0; i < stem.size(); ++i) {
    char c = stem[i];
    bool cons = is_vowel(c) ? false : (c == 'y' ? (i == 0 || !prev_cons) : true);
    if (cons && !prev_cons) ++m;
    prev_cons = cons;
  }
  return m;
}

// *v*: the stem contains a vowel (in Porter's sense, so a 'y' after a consonant counts).
bool contains_vowel(std::string_view stem) {
  for (size_t i = 0; i < stem.size(); ++i)
    if (!is_consonant(stem, i)) return true;
  return false;
}

// *d: the word ends with a double consonant.
bool ends_double_consonant(std::string_view w) {
  size_t n = w.size();
  return n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1);
}

// *o: the word ends consonant-vowel-consonant and the last is not w, x or y.
// NLTK: a 2-letter word vowel-consonant also counts.
bool ends_cvc(std::string_view w) {
  size_t n = w.size();
  if (n >= 3 && is_consonant(w, n - 3) && !is_consonant(w, n - 2) && is_consonant(w, n - 1) &&
      w[n - 1] != 'w' && w[n - 1] != 'x' && w[n - 1] != 'y')
    return true;
  return n == 2 && !is_consonant(w, 0) && is_consonant(w, 1);
}

bool ends_with(std::string_view w, std::string_view suffix) { return w.ends_with(suffix); }

std::string strip(std::string_view w, size_t n) { return std::string(w.substr(0, w.size() - n)); }

enum class Cond { None, MeasureGt0, MeasureGt1, IonStemST, LogiNltk };

struct Rule {
  std::string_view suffix;
  std::string_view replacement;
  Cond cond;
};

bool holds(Cond c, std::string_view word, std::string_view stem) {
  switch (c) {
    case Cond::None: return true;
    case Cond::MeasureGt0: return measure(stem) > 0;
    case Cond::MeasureGt1: return measure(stem) > 1;
    case Cond::IonStemST: return measure(stem) > 1 && (stem.back() == 's' || stem.back() == 't');
    case Cond::LogiNltk: return measure(word.substr(0, word.size() - 3)) > 0;  // stem + "l"
  }
  return false;
}

// The first rule whose suffix ends the word decides: replaced when its condition holds, else the
// word is returned unchanged (later rules are not tried).
template <size_t N>
std::string apply_rules(std::string_view word, const std::array<Rule, N>& rules) {
  for (const Rule& r : rules) {
    if (!ends_with(word, r.suffix)) continue;
    std::string_view stem = word.substr(0, word.size() - r.suffix.size());
    if (holds(r.cond, word, stem)) return std::string(stem) + std::string(r.replacement);
    return std::string(word);
  }
  return std::string(word);
}

std::string step1a(std::string_view w) {
  if (w.size() == 4 && ends_with(w, "ies")) return strip(w, 3) + "ie";  // NLTK: ties -> tie
  static constexpr std::array<Rule, 4> rules{{
      {"sses", "ss", Cond::None},
      {"ies", "i", Cond::None},
      {"ss", "ss", Cond::None},
      {"s", "", Cond::None},
  }};
  return apply_rules(w, rules);
}

std::string step1b(std::string_view w) {
  if (ends_with(w, "ied")) return strip(w, 3) + (w.size() == 4 ? "ie" : "i");  // NLTK
  if (ends_with(w, "eed")) {
    std::string_view stem = w.substr(0, w.size() - 3);
    return measure(stem) > 0 ? std::string(stem) + "ee" : std::string(w);
  }
  std::string_view s;
  bool removed = false;
  for (std::string_view suffix : {std::string_view("ed"), std::string_view("ing")}) {
    if (ends_with(w, suffix)) {
      s = w.substr(0, w.size() - suffix.size());
      if (contains_vowel(s)) {
        removed = true;
        break;
      }
    }
  }
  if (!removed) return std::string(w);
  // Tidy-up after -ed / -ing removal, again first match decides.
  if (ends_with(s, "at") || ends_with(s, "bl") || ends_with(s, "iz")) return std::string(s) + "e";
  if (ends_double_consonant(s)) {
    char last = s.back();
    if (last != 'l' && last != 's' && last != 'z') return strip(s, 1);  // hopp -> hop
    return std::string(s);                                             // fall, hiss, fizz
  }
  if (measure(s) == 1 && ends_cvc(s)) return std::string(s) + "e";  // fil -> file
  return std::string(s);
}

std::string step1c(std::string_view w) {
  // NLTK: y -> i only when the y follows a consonant that is not the whole stem (happy -> happi,
  // enjoy and sky unchanged); the paper's condition was *v*.
  if (!ends_with(w, "y")) return std::string(w);
  std::string_view stem = w.substr(0, w.size() - 1);
  if (stem.size() > 1 && is_consonant(stem, stem.size() - 1)) return std::string(stem) + "i";
  return std::string(w);
}

std::string step2(std::string_view w) {
  // NLTK: -alli becomes -al and step 2 runs again on the result.
  if (ends_with(w, "alli") && measure(w.substr(0, w.size() - 4)) > 0) return step2(strip(w, 4) + "al");
  static constexpr std::array<Rule, 22> rules{{
      {"ational", "ate", Cond::MeasureGt0},
      {"tional", "tion", Cond::MeasureGt0},
      {"enci", "ence", Cond::MeasureGt0},
      {"anci", "ance", Cond::MeasureGt0},
      {"izer", "ize", Cond::MeasureGt0},
      {"bli", "ble", Cond::MeasureGt0},  // Porter's later correction of abli -> able
      {"alli", "al", Cond::MeasureGt0},
      {"entli", "ent", Cond::MeasureGt0},
      {"eli", "e", Cond::MeasureGt0},
      {"ousli", "ous", Cond::MeasureGt0},
      {"ization", "ize", Cond::MeasureGt0},
      {"ation", "ate", Cond::MeasureGt0},
      {"ator", "ate", Cond::MeasureGt0},
      {"alism", "al", Cond::MeasureGt0},
      {"iveness", "ive", Cond::MeasureGt0},
      {"fulness", "ful", Cond::MeasureGt0},
      {"ousness", "ous", Cond::MeasureGt0},
      {"aliti", "al", Cond::MeasureGt0},
      {"iviti", "ive", Cond::MeasureGt0},
      {"biliti", "ble", Cond::MeasureGt0},
      {"fulli", "ful", Cond::MeasureGt0},  // NLTK
      {"logi", "log", Cond::LogiNltk},     // NLTK: the measure is taken on stem + "l"
  }};
  return apply_rules(w, rules);
}

std::string step3(std::string_view w) {
  static constexpr std::array<Rule, 7> rules{{
      {"icate", "ic", Cond::MeasureGt0},
      {"ative", "", Cond::MeasureGt0},
      {"alize", "al", Cond::MeasureGt0},
      {"iciti", "ic", Cond::MeasureGt0},
      {"ical", "ic", Cond::MeasureGt0},
      {"ful", "", Cond::MeasureGt0},
      {"ness", "", Cond::MeasureGt0},
  }};
  return apply_rules(w, rules);
}

std::string step4(std::string_view w) {
  static constexpr std::array<Rule, 19> rules{{
      {"al", "", Cond::MeasureGt1},   {"ance", "", Cond::MeasureGt1}, {"ence", "", Cond::MeasureGt1},
      {"er", "", Cond::MeasureGt1},   {"ic", "", Cond::MeasureGt1},   {"able", "", Cond::MeasureGt1},
      {"ible", "", Cond::MeasureGt1}, {"ant", "", Cond::MeasureGt1},  {"ement", "", Cond::MeasureGt1},
      {"ment", "", Cond::MeasureGt1}, {"ent", "", Cond::MeasureGt1},  {"ion", "", Cond::IonStemST},
      {"ou", "", Cond::MeasureGt1},   {"ism", "", Cond::MeasureGt1},  {"ate", "", Cond::MeasureGt1},
      {"iti", "", Cond::MeasureGt1},  {"ous", "", Cond::MeasureGt1},  {"ive", "", Cond::MeasureGt1},
      {"ize", "", Cond::MeasureGt1},
  }};
  return apply_rules(w, rules);
}

std::string step5a(std::string_view w) {
  if (!ends_with(w, "e")) return std::string(w);
  std::string_view stem = w.substr(0, w.size() - 1);
  int m = measure(stem);
  if (m > 1 || (m == 1 && !ends_cvc(stem))) return std::string(stem);
  return std::string(w);
}

std::string step5b(std::string_view w) {
  // (m > 1 and *d and *L) -> single letter; the measure is taken on the word minus one 'l'.
  if (ends_with(w, "ll") && measure(w.substr(0, w.size() - 1)) > 1) return strip(w, 1);
  return std::string(w);
}

// NLTK's irregular forms, looked up before any step.
struct Irregular {
  std::string_view form, stem;
};
constexpr std::array<Irregular, 16> kIrregular{{
    {"sky", "sky"},           {"skies", "sky"},         {"dying", "die"},     {"lying", "lie"},
    {"tying", "tie"},         {"news", "news"},         {"innings", "inning"}, {"inning", "inning"},
    {"outings", "outing"},    {"outing", "outing"},     {"cannings", "canning"},
    {"canning", "canning"},   {"howe", "howe"},         {"proceed", "proceed"}, {"exceed", "exceed"},
    {"succeed", "succeed"},
}};

}  // namespace

std::string porter_stem(std::string_view word) {
  std::string w(word);
  for (char& c : w)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (w.empty()) return w;
  for (const Irregular& ir : kIrregular)
    if (w == ir.form) return std::string(ir.stem);
  if (w.size() <= 2) return w;
  w = step1a(w);
  w = step1b(w);
  w = step1c(w);
  w = step2(w);
  w = step3(w);
  w = step4(w);
  w = step5a(w);
  w = step5b(w);
  return w;
}

}  // namespace kvb
