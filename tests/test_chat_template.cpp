// Chat prompt formatting against transformers' apply_chat_template (tests/golden/tokenizers/chat_templates.json,
// written by scripts/parity/tokenizer_golden.py) for SmolLM2's ChatML, plain ChatML and Llama-3 templates.
// Run: ctest -R TokenizerChatTemplate
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "test_util.h"

namespace kvb {
namespace {

using json = nlohmann::json;

json chat_golden() { return json::parse(read_text_file(test::golden_dir() / "tokenizers/chat_templates.json")); }

std::vector<ChatMessage> messages_of(const json& list) {
  std::vector<ChatMessage> out;
  for (const json& m : list) out.push_back({m.at("role"), m.at("content")});
  return out;
}

TEST(TokenizerChatTemplate, AutoMatchesTransformers) {
  const json g = chat_golden();
  int n = 0;
  for (const json& c : g.at("cases")) {
    const std::string name = c.at("template_name");
    const ChatFormat f = resolve_chat_format("auto", g.at("templates").at(name).get<std::string>());
    const auto messages = messages_of(c.at("messages"));
    EXPECT_EQ(format_chat(f, messages, c.at("add_generation_prompt")), c.at("expected").get<std::string>())
        << name << " " << c.at("messages").dump() << " gen=" << c.at("add_generation_prompt");
    ++n;
  }
  EXPECT_EQ(n, 30);
}

TEST(TokenizerChatTemplate, Detection) {
  const json t = chat_golden().at("templates");
  const ChatFormat smol = resolve_chat_format("auto", t.at("smollm2").get<std::string>());
  EXPECT_EQ(smol.kind, ChatTemplateKind::ChatML);
  EXPECT_EQ(smol.default_system, "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  const ChatFormat chatml = resolve_chat_format("auto", t.at("chatml").get<std::string>());
  EXPECT_EQ(chatml.kind, ChatTemplateKind::ChatML);
  EXPECT_EQ(chatml.default_system, "");
  EXPECT_EQ(resolve_chat_format("auto", t.at("llama3").get<std::string>()).kind, ChatTemplateKind::Llama3);
  EXPECT_EQ(resolve_chat_format("auto", "").kind, ChatTemplateKind::None);
  EXPECT_EQ(resolve_chat_format("auto", "{{ messages[0]['content'] }}").kind, ChatTemplateKind::None);
  // Explicit choices win over the template text.
  EXPECT_EQ(resolve_chat_format("llama3", t.at("smollm2").get<std::string>()).kind, ChatTemplateKind::Llama3);
  EXPECT_EQ(resolve_chat_format("none", t.at("smollm2").get<std::string>()).kind, ChatTemplateKind::None);
  EXPECT_EQ(resolve_chat_format("chatml", "").default_system, "");
  EXPECT_EQ(chat_template_name(ChatTemplateKind::ChatML), "chatml");
  try {
    resolve_chat_format("vicuna", "");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("auto, none, chatml, llama3"), std::string::npos) << e.what();
  }
  // A system message built from the messages is not a default one (Qwen2-style template).
  EXPECT_EQ(chatml_default_system("{{ '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"), "");
  EXPECT_EQ(chatml_default_system("{{- '<|im_start|>system\\nYou are Qwen.<|im_end|>\\n' }}"), "You are Qwen.");
}

TEST(TokenizerChatTemplate, NoneJoinsContents) {
  const std::vector<ChatMessage> m = {{"user", "Once upon"}, {"assistant", "a time"}};
  EXPECT_EQ(format_chat({}, m, true), "Once upon\na time");
  EXPECT_EQ(format_chat({ChatTemplateKind::ChatML, ""}, {}, true), "<|im_start|>assistant\n");
}

TEST(TokenizerChatTemplate, TemplateFromTokenizerConfig) {
  const auto files = load_hf_tokenizer(test::golden_dir() / "tokenizers/llama3_bpe/tokenizer.json");
  const ChatFormat f = resolve_chat_format("auto", files.chat_template);
  EXPECT_EQ(f.kind, ChatTemplateKind::Llama3);
  // The prompt tokenizes with <|begin_of_text|> etc. as single special tokens.
  const auto tok = make_tokenizer(files.spec);
  const std::vector<ChatMessage> m = {{"user", "Hi"}};
  const auto ids = tok->encode(format_chat(f, m, true), /*add_special=*/false);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids[0], tok->bos_id());
  EXPECT_EQ(ids[1], tok->find_token("<|start_header_id|>"));
}

}  // namespace
}  // namespace kvb
