// Prompt rendering and length fitting for task cases: the text a model sees (chat template applied,
// answer prefix after the generation prompt) and RULER's binary search on haystack size so that
// prompt tokens + max_new_tokens <= target length. Exercised by tests/test_tasks.cpp (TaskLengthFit*).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "eval/task.h"

namespace kvb {

// The prompt in two parts, as a query-agnostic run feeds it: the context part (chat header + the
// case's context) is prefilled first, then the question part (question, chat footer, generation
// prompt, answer prefix). Plain text (ChatTemplateKind::None): context "\n\n" question "\n" prefix;
// a verbatim case (replayed files) joins them with no separators: context question prefix.
struct PromptText {
  std::string context_part;
  std::string question_part;
  size_t context_offset = 0;  // where Case::context starts inside context_part
};
PromptText render_prompt(const Case& c, const ChatFormat& chat);

// Token ids of each part: the context part with the tokenizer's BOS rule (none for Llama-3, whose
// template writes <|begin_of_text|>), the question part without special additions.
struct PromptTokens {
  std::vector<int32_t> context;
  std::vector<int32_t> question;
  size_t size() const { return context.size() + question.size(); }
};
PromptTokens encode_prompt(const Case& c, const TaskEnv& env);  // env.tokenizer required

// Builds a case whose haystack has `units` units (sentences, distractor needles, ...). The builder
// fills context/question/answers/meta.needle_chars; fit_to_length fills the token metadata.
using CaseBuilder = std::function<Case(int units)>;

// Largest unit count whose prompt tokens + max_new_tokens <= target_length (RULER's rule); throws
// kvb::Error naming `what` when even zero units overflow. Sets meta.target_length, token_length,
// next_unit_tokens (how much one more unit would have added), haystack_units and needle_tokens.
Case fit_to_length(const CaseBuilder& build, int target_length, const TaskEnv& env, const std::string& what);

// Fills meta.token_length and meta.needle_tokens for a case built without fitting.
void annotate_tokens(Case& c, const TaskEnv& env);

}  // namespace kvb
