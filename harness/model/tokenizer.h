// Tokenizers: byte-level BPE (GPT-2, Llama-3/Qwen2 and SmolLM pre-tokenizers) and
// SentencePiece-style BPE with byte fallback, built from a TokenizerSpec that either a GGUF
// file's tokenizer.ggml.* metadata or a Hugging Face tokenizer.json fills in.
// Tests: tests/test_tokenizer.cpp against golden files from scripts/parity/tokenizer_golden.py.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvb {

// GGUF token types (llama.cpp's llama_token_type).
enum class TokenType : int { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct TokenizerSpec {
  enum class Kind { ByteLevelBPE, SentencePieceBPE };
  Kind kind = Kind::ByteLevelBPE;
  // Pre-tokenizer for byte-level BPE: "gpt2" (GPT-2 regex), "llama3" (Llama-3 regex, digits in
  // runs of at most 3), "qwen2" (the same regex with every digit alone), "smollm" (each digit
  // alone, then the GPT-2 regex).
  std::string pretokenizer = "gpt2";
  std::vector<std::string> tokens;  // id -> piece as stored (byte-level chars, or "▁" for spaces)
  std::vector<float> scores;        // SentencePiece: a score per token (GGUF); empty for byte-level BPE
  std::vector<TokenType> types;     // may be empty: all Normal, except added/special tokens
  // Merges in rank order. Byte-level BPE: required. SentencePiece: leave empty for a GGUF "llama"
  // vocab (pairs then merge by the merged token's score); an HF tokenizer.json fills them and
  // pairs merge by rank (score = -rank), exactly as HF's BPE model does.
  std::vector<std::pair<std::string, std::string>> merges;
  // Special / added tokens matched verbatim in the input before pre-tokenization
  // (only when encode() is asked to parse special tokens).
  std::vector<int32_t> special_ids;
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1;
  std::vector<int32_t> eog_ids;     // end-of-generation ids (eos, <|im_end|>, <|eot_id|>, ...)
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;    // SentencePiece: prepend "▁" to the text
  bool byte_fallback = true;        // SentencePiece: unknown chars -> <0xXX> tokens
  std::string source;               // file the spec came from, for error messages
  // Byte-level BPE: a pre-token that is itself a token is emitted whole, without merging
  // (HF model.ignore_merges; llama.cpp does this for the Llama-3 pre-tokenizer).
  bool ignore_merges = false;
  // SentencePiece: where add_space_prefix puts its "▁". false (llama.cpp, HF Llama-2 "Prepend"
  // normalizer): before the text and after every special token, even when the text already starts
  // with a space. true (HF Metaspace prepend_scheme "first", as transformers builds a GGUF's
  // tokenizer): only at the start of the input, and only when it does not start with a space.
  bool space_prefix_first_only = false;
  bool normalize_nfc = false;       // Unicode NFC on the text first (HF normalizer "NFC", e.g. Qwen2)
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // add_bos/add_eos follow the spec when `add_special`; `parse_special` matches special tokens
  // written in the text (e.g. "<|im_start|>") to their ids.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special = true,
                                      bool parse_special = true) const = 0;
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special = false) const = 0;
  // The UTF-8 bytes that one token contributes (for streaming output; may be a partial character).
  virtual std::string token_bytes(int32_t id) const = 0;
  virtual const TokenizerSpec& spec() const = 0;

  int32_t vocab_size() const { return int32_t(spec().tokens.size()); }
  int32_t bos_id() const { return spec().bos_id; }
  int32_t eos_id() const { return spec().eos_id; }
  bool is_end_of_generation(int32_t id) const;
  // Id of a token written exactly as `piece` (special or normal), or -1.
  int32_t find_token(std::string_view piece) const;

 protected:
  // find_token's lookup; the default scans spec().tokens, implementations use their hash map.
  virtual int32_t lookup_piece(std::string_view piece) const;
};

// The pre-tokenizer split of one stretch of text without special tokens, as spans of `text`.
// `pretokenizer` is "gpt2", "llama3", "qwen2" or "smollm"; anything else throws kvb::Error.
std::vector<std::string_view> pretokenize(std::string_view text, std::string_view pretokenizer);

// Throws kvb::Error naming spec.source when the spec is unusable. Completes the spec it keeps:
// empty `types` become Normal with Control for special_ids; eog_ids gain eos and any of
// <|im_end|>, <|eot_id|>, <|eom_id|>, <|endoftext|>, <|end_of_text|>, <end_of_turn> present.
// Special tokens matched in text: special_ids plus every Control / UserDefined / Unknown token
// (UserDefined ones even when parse_special is false, as llama.cpp does). decode() with
// skip_special drops Control and Unknown tokens.
std::unique_ptr<Tokenizer> make_tokenizer(TokenizerSpec spec);

// Reads tokenizer.json (and tokenizer_config.json beside it, when present, for bos/eos,
// add_bos_token and the chat template; config.json for bos/eos ids it still lacks;
// chat_template.jinja). Throws kvb::Error naming the file and the problem.
struct HfTokenizerFiles {
  TokenizerSpec spec;
  std::string chat_template;  // empty when absent
};
HfTokenizerFiles load_hf_tokenizer(const std::filesystem::path& tokenizer_json);

}  // namespace kvb
