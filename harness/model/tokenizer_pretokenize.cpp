// Pre-tokenizers of byte-level BPE as hand-written matchers over code points, one per split regex:
// GPT-2, Llama-3 (digits in runs of <= 3), Qwen2 (single digits) and SmolLM (HF Digits(individual) + GPT-2).
// Each matcher tries the regex's alternatives in order, as a backtracking regex engine would.
// Exercised by tests/test_tokenizer.cpp (Pretokenize.* against tests/golden/tokenizers/pretokenize.json).
#include <string>

#include "core/error.h"
#include "model/tokenizer_internal.h"
#include "model/unicode.h"

namespace kvb::detail {
namespace {

using unicode::CharClass;

// A fragment decoded once: code point, class and byte offset of every character.
struct Chars {
  std::vector<uint32_t> cp;
  std::vector<CharClass> cls;
  std::vector<size_t> off;  // n + 1 entries; off[n] = text size

  explicit Chars(std::string_view text) {
    cp.reserve(text.size());
    cls.reserve(text.size());
    off.reserve(text.size() + 1);
    for (size_t i = 0; i < text.size();) {
      const unicode::CodePoint c = unicode::decode(text, i);
      cp.push_back(c.cp);
      cls.push_back(unicode::classify(c.cp));  // an invalid byte is U+FFFD: "other"
      off.push_back(i);
      i += c.len;
    }
    off.push_back(text.size());
  }
  size_t size() const { return cp.size(); }
};

bool is_cr_or_lf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

// 's|'t|'re|'ve|'m|'ll|'d, optionally ASCII case-insensitive: the match length or 0.
size_t contraction(const Chars& c, size_t i, size_t n, bool fold) {
  if (c.cp[i] != '\'' || i + 1 >= n) return 0;
  auto at = [&](size_t k) { return (fold && c.cp[k] >= 'A' && c.cp[k] <= 'Z') ? c.cp[k] + 32 : c.cp[k]; };
  const uint32_t a = at(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= n) return 0;
  const uint32_t b = at(i + 2);
  return ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) ? 3 : 0;
}

// " ?X+" for a class X: the end of the match or 0.
size_t optional_space_run(const Chars& c, size_t i, size_t n, CharClass k) {
  size_t s = (c.cp[i] == ' ' && i + 1 < n && c.cls[i + 1] == k) ? i + 1 : i;
  if (c.cls[s] != k) return 0;
  while (s < n && c.cls[s] == k) ++s;
  return s;
}

// "\s+(?!\S)|\s+" at a whitespace character: the whole run at the end of the text, else the
// run less its last character (which then prefixes the next word), else the single character.
size_t trailing_space(const Chars& c, size_t i, size_t n) {
  size_t k = i;
  while (k < n && c.cls[k] == CharClass::Space) ++k;
  if (k == n || k - i < 2) return k;
  return k - 1;
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t match_gpt2(const Chars& c, size_t i, size_t n) {
  if (size_t len = contraction(c, i, n, false)) return i + len;
  for (CharClass k : {CharClass::Letter, CharClass::Number, CharClass::Other}) {
    if (size_t e = optional_space_run(c, i, n, k)) return e;
  }
  return trailing_space(c, i, n);  // c.cls[i] is Space here
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}
// | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
size_t match_llama3(const Chars& c, size_t i, size_t n, size_t max_digits) {
  if (size_t len = contraction(c, i, n, true)) return i + len;
  const CharClass k = c.cls[i];
  size_t s = n;  // start of the letter run, if any
  if (k == CharClass::Letter) {
    s = i;
  } else if (k != CharClass::Number && !is_cr_or_lf(c.cp[i]) && i + 1 < n && c.cls[i + 1] == CharClass::Letter) {
    s = i + 1;
  }
  if (s < n) {
    while (s < n && c.cls[s] == CharClass::Letter) ++s;
    return s;
  }
  if (k == CharClass::Number) {
    size_t e = i;
    while (e < n && e - i < max_digits && c.cls[e] == CharClass::Number) ++e;
    return e;
  }
  if (size_t e = optional_space_run(c, i, n, CharClass::Other)) {
    while (e < n && is_cr_or_lf(c.cp[e])) ++e;
    return e;
  }
  // \s*[\r\n]+: the run up to and including its last CR/LF.
  size_t end = i;
  while (end < n && c.cls[end] == CharClass::Space) ++end;
  for (size_t m = end; m > i; --m) {
    if (is_cr_or_lf(c.cp[m - 1])) return m;
  }
  return trailing_space(c, i, n);
}

void emit(std::string_view text, const Chars& c, size_t a, size_t b, std::vector<std::string_view>& out) {
  out.push_back(text.substr(c.off[a], c.off[b] - c.off[a]));
}

void split_gpt2(std::string_view text, const Chars& c, size_t from, size_t to, std::vector<std::string_view>& out) {
  for (size_t i = from; i < to;) {
    const size_t e = match_gpt2(c, i, to);
    emit(text, c, i, e, out);
    i = e;
  }
}

}  // namespace

Pretokenizer parse_pretokenizer(std::string_view name, std::string_view source) {
  if (name == "gpt2") return Pretokenizer::Gpt2;
  if (name == "llama3") return Pretokenizer::Llama3;
  if (name == "qwen2") return Pretokenizer::Qwen2;
  if (name == "smollm") return Pretokenizer::SmolLM;
  KVB_FAIL("{}: unknown pre-tokenizer '{}' (known: gpt2, llama3, qwen2, smollm)", source, name);
}

void pretokenize(std::string_view text, Pretokenizer kind, std::vector<std::string_view>& out) {
  const Chars c(text);
  const size_t n = c.size();
  switch (kind) {
    case Pretokenizer::Gpt2:
      split_gpt2(text, c, 0, n, out);
      break;
    case Pretokenizer::Llama3:
    case Pretokenizer::Qwen2:
      for (size_t i = 0; i < n;) {
        const size_t e = match_llama3(c, i, n, kind == Pretokenizer::Llama3 ? 3 : 1);
        emit(text, c, i, e, out);
        i = e;
      }
      break;
    case Pretokenizer::SmolLM: {
      // Every number character alone; the GPT-2 regex on each stretch between them.
      size_t start = 0;
      for (size_t i = 0; i < n; ++i) {
        if (c.cls[i] != CharClass::Number) continue;
        split_gpt2(text, c, start, i, out);
        emit(text, c, i, i + 1, out);
        start = i + 1;
      }
      split_gpt2(text, c, start, n, out);
      break;
    }
  }
}

}  // namespace kvb::detail

namespace kvb {

std::vector<std::string_view> pretokenize(std::string_view text, std::string_view pretokenizer) {
  std::vector<std::string_view> out;
  detail::pretokenize(text, detail::parse_pretokenizer(pretokenizer, "pretokenize()"), out);
  return out;
}

}  // namespace kvb
