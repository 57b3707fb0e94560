// Chat prompt formats: ChatML (<|im_start|>role\n...<|im_end|>\n, SmolLM2 / Qwen) and Llama-3
// (<|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>), picked by name or from the template text
// a checkpoint carries. Matches transformers' apply_chat_template on those templates
// (tests/test_chat_template.cpp against tests/golden/tokenizers/chat_templates.json).
#pragma once
#include <span>
#include <string>
#include <string_view>

namespace kvb {

enum class ChatTemplateKind { None, ChatML, Llama3 };

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", ...
  std::string content;
};

struct ChatFormat {
  ChatTemplateKind kind = ChatTemplateKind::None;
  // ChatML: a system message the template inserts when the first message is not a system one
  // (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"); empty for none.
  std::string default_system;
};

// `choice` is "auto", "none", "chatml" or "llama3" (anything else throws kvb::Error listing them).
// "auto" reads the checkpoint's template text: "<|im_start|>" -> chatml, "<|start_header_id|>" ->
// llama3, otherwise none. For chatml the default system message is taken from the template text.
ChatFormat resolve_chat_format(std::string_view choice, std::string_view checkpoint_template);

// The prompt for `messages`, ending with the assistant header when add_generation_prompt.
// none: the contents joined by "\n" (no generation prompt). llama3 starts with "<|begin_of_text|>"
// and trims each content, as Meta's template does: encode the result without adding BOS again.
std::string format_chat(const ChatFormat& format, std::span<const ChatMessage> messages, bool add_generation_prompt);

std::string_view chat_template_name(ChatTemplateKind kind);

// The literal system text a ChatML template writes itself ('<|im_start|>system\n...<|im_end|>'
// inside a string literal), or "" when the system message comes from the messages.
std::string chatml_default_system(std::string_view template_text);

}  // namespace kvb
