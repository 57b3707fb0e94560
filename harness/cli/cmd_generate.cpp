// `kvbench generate --model M --prompt TEXT` — greedy generation with full attention, the chat
// template applied (auto-detected from the checkpoint), streamed to stdout; timings to stderr.
#include <fmt/format.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "core/log.h"
#include "core/threads.h"
#include "core/timer.h"
#include "model/chat_template.h"
#include "engine/generate.h"
#include "model/model_path.h"

namespace kvb::cli {
namespace {

struct GenerateArgs {
  std::string model, prompt, system, chat_template = "auto";
  int max_new_tokens = 128;
  EngineOptions engine;
  std::string weights = "native";
  std::vector<std::string> stop;
  bool show_tokens = false;
};

void run_generate(const GenerateArgs& a) {
  set_num_threads(a.engine.threads);
  resolve_chat_format(a.chat_template, "");  // reject an unknown template name before loading
  Stopwatch load_sw;
  Checkpoint ck = load_checkpoint(resolve_model_path(a.model));
  if (a.weights == "f32") ck.weights.dequantize_all();
  auto tok = make_tokenizer(ck.tokenizer);
  log_info("loaded {} ({} layers, {} heads / {} KV heads) in {:.2f}s", ck.path.string(), ck.config.n_layers,
           ck.config.n_heads, ck.config.n_kv_heads, load_sw.seconds());

  ChatFormat chat = resolve_chat_format(a.chat_template, ck.chat_template);
  std::string text = a.prompt;
  if (chat.kind != ChatTemplateKind::None) {
    std::vector<ChatMessage> msgs;
    if (!a.system.empty()) msgs.push_back({"system", a.system});
    msgs.push_back({"user", a.prompt});
    text = format_chat(chat, msgs, /*add_generation_prompt=*/true);
  }
  // The Llama-3 format writes <|begin_of_text|> itself.
  std::vector<int32_t> ids = tok->encode(text, /*add_special=*/chat.kind != ChatTemplateKind::Llama3);
  KVB_CHECK(!ids.empty(), "the prompt encodes to no tokens");
  log_debug("prompt ({} tokens, template {}): {}", ids.size(), chat_template_name(chat.kind), text);
  if (a.show_tokens) fmt::print(stderr, "prompt ids: {}\n", fmt::join(ids, " "));

  Transformer model(ck.config, ck.weights, a.engine);
  KVCache cache = model.make_cache();
  Stopwatch prefill_sw;
  Tensor logits = model.forward(ids, cache, LogitRows::Last);
  const double prefill_s = prefill_sw.seconds();

  GenerationOptions opt;
  opt.max_new_tokens = a.max_new_tokens;
  opt.stop_strings = a.stop;
  GenerationResult r = generate_greedy(model, *tok, cache, logits.data, opt, [](const std::string& piece) {
    fmt::print("{}", piece);
    std::fflush(stdout);
  });
  fmt::print("\n");
  if (a.show_tokens) fmt::print(stderr, "generated ids: {}\n", fmt::join(r.tokens, " "));
  log_info("prompt {} tokens, prefill {:.3f}s ({:.1f} tok/s); generated {} tokens in {:.3f}s ({:.1f} tok/s); stop: {}",
           ids.size(), prefill_s, ids.size() / prefill_s, r.tokens.size(), r.decode_seconds,
           r.decode_seconds > 0 ? r.tokens.size() / r.decode_seconds : 0.0, r.stop_reason);
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Greedy generation with full attention");
  cmd->add_option("-m,--model", a->model, "Model: .gguf file, Hugging Face directory, or a name in models/")
      ->required();
  cmd->add_option("-p,--prompt", a->prompt, "Prompt text (the user message when a chat template applies)")
      ->required();
  cmd->add_option("-n,--max-new-tokens", a->max_new_tokens, "Tokens to generate at most")->capture_default_str();
  cmd->add_option("--chat-template", a->chat_template, "auto | none | chatml | llama3")->capture_default_str();
  cmd->add_option("--system", a->system, "System message (chat templates only)");
  cmd->add_option("--stop", a->stop, "Stop string (repeatable)");
  add_engine_options(cmd, a->engine, &a->weights);
  cmd->add_flag("--show-tokens", a->show_tokens, "Print prompt and generated token ids to stderr");
  cmd->callback([a] { run_generate(*a); });
});

}  // namespace
}  // namespace kvb::cli
