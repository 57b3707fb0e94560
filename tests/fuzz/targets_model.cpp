// Fuzz targets for model files: GGUF checkpoints, safetensors headers, tokenizer.json and chat
// templates (tests/fuzz/fuzz_targets.h). A kvb::Error is the expected answer to bad bytes.
#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "core/error.h"
#include "fuzz_targets.h"
#include "model/chat_template.h"
#include "model/checkpoint.h"
#include "model/gguf.h"
#include "model/safetensors.h"
#include "model/tokenizer.h"

namespace kvb::fuzz {

namespace {

// What every loaded tokenizer is asked to do: encode text with special tokens, numbers, non-ASCII
// and invalid UTF-8, then decode the ids (and each id's bytes) again.
void exercise_tokenizer(const TokenizerSpec& spec) {
  const std::unique_ptr<Tokenizer> tok = make_tokenizer(spec);
  static const std::string sample =
      "Hello world! <|im_start|>user\n 12345 caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xff\xfe <s></s>\t\r\n  end";
  for (bool special : {false, true}) {
    const std::vector<int32_t> ids = tok->encode(sample, special, special);
    (void)tok->decode(ids, special);
    for (int32_t id : ids) (void)tok->token_bytes(id);
  }
}

}  // namespace

void gguf(const uint8_t* data, size_t size) {
  const auto path = write_scratch("model.gguf", data, size);
  try {
    GgufFile f(path);
    for (const GgufKV& kv : f.metadata()) (void)kv.value.describe();
    for (const GgufTensorInfo& t : f.tensors()) {
      try {
        const RawTensor raw = f.raw_tensor(t);
        if (raw.nbytes) {  // the view must lie inside the mapping: touch both ends
          volatile uint8_t first = raw.data[0], last = raw.data[raw.nbytes - 1];
          (void)first;
          (void)last;
        }
      } catch (const Error&) {
      }
    }
  } catch (const Error&) {
    return;
  }
  try {
    const Checkpoint ck = load_gguf_checkpoint(path);
    exercise_tokenizer(ck.tokenizer);
  } catch (const Error&) {
  }
}

void safetensors(const uint8_t* data, size_t size) {
  const auto path = write_scratch("model.safetensors", data, size);
  try {
    SafetensorsFile f(path);
    for (const auto& [name, raw] : f.tensors()) {
      if (!raw.nbytes) continue;
      volatile uint8_t first = raw.data[0], last = raw.data[raw.nbytes - 1];
      (void)first;
      (void)last;
    }
  } catch (const Error&) {
  }
}

void tokenizer_json(const uint8_t* data, size_t size) {
  const auto path = write_scratch("tokenizer/tokenizer.json", data, size);
  try {
    const HfTokenizerFiles files = load_hf_tokenizer(path);
    exercise_tokenizer(files.spec);
  } catch (const Error&) {
  }
}

// Input: template text, then (after the first NUL byte, if any) message contents separated by NUL.
void chat_template(const uint8_t* data, size_t size) {
  const std::string all(reinterpret_cast<const char*>(data), size);
  const size_t nul = all.find('\0');
  const std::string tmpl = all.substr(0, nul);
  std::vector<ChatMessage> messages;
  static const std::array<const char*, 3> roles = {"system", "user", "assistant"};
  if (nul != std::string::npos) {
    size_t start = nul + 1;
    while (start <= all.size()) {
      const size_t end = std::min(all.find('\0', start), all.size());
      messages.push_back({roles[messages.size() % roles.size()], all.substr(start, end - start)});
      start = end + 1;
    }
  } else {
    messages = {{"user", "What is the capital of France?"}};
  }
  try {
    (void)chatml_default_system(tmpl);
    for (const char* choice : {"auto", "none", "chatml", "llama3"}) {
      const ChatFormat f = resolve_chat_format(choice, tmpl);
      (void)chat_template_name(f.kind);
      for (bool gen : {false, true}) (void)format_chat(f, messages, gen);
    }
  } catch (const Error&) {
  }
}

}  // namespace kvb::fuzz
