// ChatML and Llama-3 prompt formatting, written out by hand from the templates' rendered output
// (SmolLM2-Instruct and Meta-Llama-3-Instruct tokenizer_config.json chat_template).
// Exercised by tests/test_chat_template.cpp.
#include "model/chat_template.h"

#include "core/error.h"
#include "model/unicode.h"

namespace kvb {
namespace {

// Jinja's trim filter (Python str.strip): Unicode whitespace plus the separators U+001C..U+001F.
bool is_strip_space(uint32_t cp) { return unicode::is_whitespace(cp) || (cp >= 0x1C && cp <= 0x1F); }

std::string trim(std::string_view s) {
  size_t begin = 0, end = s.size();
  while (begin < end) {
    const unicode::CodePoint c = unicode::decode(s, begin);
    if (!c.valid || !is_strip_space(c.cp)) break;
    begin += c.len;
  }
  while (end > begin) {
    size_t start = end - 1;  // step back to the first byte of the last character
    while (start > begin && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80) --start;
    const unicode::CodePoint c = unicode::decode(s, start);
    if (!c.valid || start + c.len != end || !is_strip_space(c.cp)) break;
    end = start;
  }
  return std::string(s.substr(begin, end - begin));
}

}  // namespace

std::string_view chat_template_name(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::ChatML:
      return "chatml";
    case ChatTemplateKind::Llama3:
      return "llama3";
    case ChatTemplateKind::None:
      break;
  }
  return "none";
}

std::string chatml_default_system(std::string_view tmpl) {
  constexpr std::string_view head = "<|im_start|>system";
  constexpr std::string_view tail = "<|im_end|>";
  for (size_t at = tmpl.find(head); at != std::string_view::npos; at = tmpl.find(head, at + 1)) {
    if (at == 0 || (tmpl[at - 1] != '\'' && tmpl[at - 1] != '"')) continue;  // must open a string literal
    size_t start = at + head.size();
    if (tmpl.substr(start, 1) == "\n") {
      start += 1;
    } else if (tmpl.substr(start, 2) == "\\n") {
      start += 2;
    } else {
      continue;
    }
    const size_t end = tmpl.find(tail, start);
    if (end == std::string_view::npos) continue;
    const std::string_view text = tmpl.substr(start, end - start);
    if (text.empty() || text.find_first_of("'\"{}\\") != std::string_view::npos) continue;  // not a plain literal
    return std::string(text);
  }
  return {};
}

ChatFormat resolve_chat_format(std::string_view choice, std::string_view checkpoint_template) {
  ChatFormat f;
  if (choice == "auto") {
    if (checkpoint_template.find("<|im_start|>") != std::string_view::npos) {
      f.kind = ChatTemplateKind::ChatML;
    } else if (checkpoint_template.find("<|start_header_id|>") != std::string_view::npos) {
      f.kind = ChatTemplateKind::Llama3;
    }
  } else if (choice == "chatml") {
    f.kind = ChatTemplateKind::ChatML;
  } else if (choice == "llama3") {
    f.kind = ChatTemplateKind::Llama3;
  } else if (choice != "none") {
    KVB_FAIL("unknown chat template '{}' (choices: auto, none, chatml, llama3)", choice);
  }
  if (f.kind == ChatTemplateKind::ChatML) f.default_system = chatml_default_system(checkpoint_template);
  return f;
}

std::string format_chat(const ChatFormat& format, std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  switch (format.kind) {
    case ChatTemplateKind::None:
      for (size_t i = 0; i < messages.size(); ++i) {
        if (i > 0) out += '\n';
        out += messages[i].content;
      }
      return out;
    case ChatTemplateKind::ChatML:
      if (!messages.empty() && messages[0].role != "system" && !format.default_system.empty())
        out += "<|im_start|>system\n" + format.default_system + "<|im_end|>\n";
      for (const ChatMessage& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      return out;
    case ChatTemplateKind::Llama3:
      if (!messages.empty()) out += "<|begin_of_text|>";
      for (const ChatMessage& m : messages)
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      return out;
  }
  return out;
}

}  // namespace kvb
