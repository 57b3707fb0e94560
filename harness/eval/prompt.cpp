// Prompt rendering and RULER-style length fitting (see prompt.h).
// Exercised by tests/test_tasks.cpp (TaskLengthFit*, TaskNeedle*).
#include "eval/prompt.h"

#include <map>

#include "core/error.h"

namespace kvb {

PromptText render_prompt(const Case& c, const ChatFormat& chat) {
  PromptText p;
  if (chat.kind == ChatTemplateKind::None) {
    p.context_part = c.context;
    if (c.verbatim)
      p.question_part = c.question + c.answer_prefix;
    else
      p.question_part = "\n\n" + c.question + (c.answer_prefix.empty() ? "" : "\n" + c.answer_prefix);
    return p;
  }
  std::vector<ChatMessage> msgs{{"user", c.context + (c.verbatim ? "" : "\n\n") + c.question}};
  std::string full = format_chat(chat, msgs, /*add_generation_prompt=*/true) + c.answer_prefix;
  // The template may trim the content's ends; locate the context by its trimmed text.
  size_t b = c.context.find_first_not_of(" \t\n");
  std::string_view ctx = b == std::string::npos ? std::string_view() : std::string_view(c.context).substr(b);
  while (!ctx.empty() && (ctx.back() == ' ' || ctx.back() == '\n' || ctx.back() == '\t')) ctx.remove_suffix(1);
  size_t at = full.find(ctx);
  KVB_CHECK(at != std::string::npos, "case {}: the chat template dropped the context", c.id);
  p.context_part = full.substr(0, at + ctx.size());
  p.question_part = full.substr(at + ctx.size());
  p.context_offset = at - (b == std::string::npos ? 0 : b);
  return p;
}

PromptTokens encode_prompt(const Case& c, const TaskEnv& env) {
  KVB_CHECK(env.tokenizer != nullptr, "case {}: encoding the prompt needs a tokenizer", c.id);
  PromptText p = render_prompt(c, env.chat);
  const bool bos = env.chat.kind != ChatTemplateKind::Llama3;
  PromptTokens t;
  t.context = env.tokenizer->encode(p.context_part, /*add_special=*/bos);
  t.question = env.tokenizer->encode(p.question_part, /*add_special=*/false);
  return t;
}

void annotate_tokens(Case& c, const TaskEnv& env) {
  if (!env.tokenizer) return;
  c.meta.token_length = int(encode_prompt(c, env).size());
  PromptText p = render_prompt(c, env.chat);
  const bool bos = env.chat.kind != ChatTemplateKind::Llama3;
  c.meta.needle_tokens.clear();
  for (int ch : c.meta.needle_chars) {
    // Cut before the whitespace that precedes the needle: the needle's first token carries it.
    size_t cut = p.context_offset + size_t(ch);
    while (cut > 0 && (p.context_part[cut - 1] == ' ' || p.context_part[cut - 1] == '\n')) --cut;
    size_t n = env.tokenizer->encode(std::string_view(p.context_part).substr(0, cut), bos).size();
    c.meta.needle_tokens.push_back(int(n));
  }
}

Case fit_to_length(const CaseBuilder& build, int target_length, const TaskEnv& env, const std::string& what) {
  KVB_CHECK(env.tokenizer != nullptr, "{}: fitting to a token length needs a tokenizer", what);
  KVB_CHECK(target_length > 0, "{}: target length must be positive, got {}", what, target_length);
  std::map<int, int> totals;  // units -> prompt tokens + max_new_tokens
  auto total = [&](int n) {
    auto it = totals.find(n);
    if (it != totals.end()) return it->second;
    Case c = build(n);
    int t = int(encode_prompt(c, env).size()) + c.max_new_tokens;
    totals[n] = t;
    return t;
  };
  const int base = total(0);
  KVB_CHECK(base <= target_length,
            "{}: target length {} is too small: the prompt without haystack already needs {} tokens "
            "(max_new_tokens included)",
            what, target_length, base);
  constexpr int kMaxUnits = 1 << 22;
  // Guess from a probe, then bracket [lo fits, hi overflows] around the guess and bisect.
  const int probe = 32;
  const double per_unit = std::max(0.25, double(total(probe) - base) / probe);
  int guess = std::clamp(int((target_length - base) / per_unit), 0, kMaxUnits);
  int lo = 0, hi = -1;
  if (total(guess) <= target_length) {
    lo = guess;
    for (int step = std::max(1, guess / 64);; step *= 2) {
      int n = lo + step;
      KVB_CHECK(n < kMaxUnits, "{}: the haystack does not grow with its unit count", what);
      if (total(n) > target_length) {
        hi = n;
        break;
      }
      lo = n;
    }
  } else {
    hi = guess;
    for (int step = std::max(1, guess / 64);; step *= 2) {
      int n = std::max(0, hi - step);
      if (total(n) <= target_length) {
        lo = n;
        break;
      }
      hi = n;
    }
  }
  while (hi - lo > 1) {
    int mid = lo + (hi - lo) / 2;
    (total(mid) <= target_length ? lo : hi) = mid;
  }
  Case c = build(lo);
  c.meta.target_length = target_length;
  c.meta.haystack_units = lo;
  annotate_tokens(c, env);
  c.meta.next_unit_tokens = total(lo + 1) - total(lo);
  return c;
}

}  // namespace kvb
