// UTF-8 decoding and the Unicode character classes the tokenizers' pre-tokenizers need
// (\p{L}, \p{N}, \s as Oniguruma / HF tokenizers define them), with categories from utf8proc.
// Exercised by tests/test_tokenizer.cpp (Unicode* tests and every pre-tokenizer golden case).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace kvb::unicode {

struct CodePoint {
  uint32_t cp;   // U+FFFD for an invalid sequence
  uint32_t len;  // bytes consumed (>= 1): a valid character, or one maximal invalid subpart
  bool valid;
};

// Decodes the character at `pos` (< s.size()). Never fails: an invalid or truncated sequence
// yields U+FFFD covering its maximal subpart (the Unicode "substitution of maximal subparts"
// rule that Python's errors="replace" and Rust's from_utf8_lossy follow).
CodePoint decode(std::string_view s, size_t pos);

void append_utf8(std::string& out, uint32_t cp);

// The pre-tokenizer's four classes: \p{L}, \p{N}, \s (the Unicode White_Space set) and the rest.
enum class CharClass : uint8_t { Letter, Number, Space, Other };
CharClass classify(uint32_t cp);
bool is_whitespace(uint32_t cp);
bool is_number(uint32_t cp);  // general category Nd, Nl or No (Rust char::is_numeric)

bool is_valid_utf8(std::string_view s);
// Replaces every invalid subpart by U+FFFD (like bytes.decode("utf-8", errors="replace")).
std::string to_valid_utf8(std::string_view s);
// Unicode NFC; returns the input unchanged when it is not valid UTF-8.
std::string nfc(std::string_view s);

}  // namespace kvb::unicode
