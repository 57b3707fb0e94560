// Shared internals of the tokenizers (not part of the harness API): pre-tokenizer state machines,
// special-token splitting and the base class both BPE variants build on.
// Exercised through tests/test_tokenizer.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/tokenizer.h"

namespace kvb::detail {

enum class Pretokenizer { Gpt2, Llama3, Qwen2, SmolLM };
// Throws kvb::Error naming `source` for an unknown name.
Pretokenizer parse_pretokenizer(std::string_view name, std::string_view source);
// Appends the pre-tokens of `text` (no special tokens in it) to `out`.
void pretokenize(std::string_view text, Pretokenizer kind, std::vector<std::string_view>& out);

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using PieceMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// A stretch of input: either text or one special token.
struct Fragment {
  std::string_view text;  // empty for a special token
  int32_t token = -1;     // >= 0: a matched special token
  size_t offset = 0;      // byte offset of the fragment in the input
};

// Finds special tokens in text, leftmost first and longest at a position (HF's added-token matcher).
class SpecialMatcher {
 public:
  // `always`: matched even when the caller does not parse special tokens (UserDefined tokens).
  void add(std::string_view piece, int32_t id, bool always);
  std::vector<Fragment> split(std::string_view text, bool parse_special) const;

 private:
  struct Entry {
    std::string piece;
    int32_t id;
    bool always;
  };
  std::vector<std::vector<Entry>> by_first_byte_ = std::vector<std::vector<Entry>>(256);
};

// What both tokenizers share: the completed spec, the piece -> id map, special tokens and the
// encode skeleton (BOS, special-token split, NFC, per-fragment encoding, EOS).
class TokenizerBase : public Tokenizer {
 public:
  explicit TokenizerBase(TokenizerSpec spec);
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override;
  const TokenizerSpec& spec() const override { return spec_; }

 protected:
  // Encodes one text fragment; `after_special` is true for the first fragment and after a special token.
  virtual void encode_fragment(std::string_view text, size_t offset, bool after_special,
                               std::vector<int32_t>& out) const = 0;
  int32_t lookup_piece(std::string_view piece) const override;
  void check_id(int32_t id) const;  // throws kvb::Error for an id outside the vocabulary
  bool is_special(int32_t id) const { return special_[size_t(id)] != 0; }    // decoded verbatim
  bool skip_on_decode(int32_t id) const { return special_[size_t(id)] == 2; }  // dropped by skip_special

  TokenizerSpec spec_;
  PieceMap piece_to_id_;

 private:
  SpecialMatcher matcher_;
  std::vector<uint8_t> special_;  // per id: 0 normal, 1 special, 2 special and skipped on decode
};

std::unique_ptr<Tokenizer> make_byte_level_bpe(TokenizerSpec spec);
std::unique_ptr<Tokenizer> make_sentencepiece_bpe(TokenizerSpec spec);

}  // namespace kvb::detail
