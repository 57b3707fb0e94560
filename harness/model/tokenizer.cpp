// Tokenizer entry points: make_tokenizer (spec validation and completion), special-token splitting
// and the encode skeleton shared by byte-level BPE (tokenizer_bpe.cpp) and SentencePiece BPE
// (tokenizer_spm.cpp), following HF tokenizers' added-token handling. Exercised by tests/test_tokenizer.cpp.
#include <algorithm>

#include "core/error.h"
#include "model/tokenizer_internal.h"
#include "model/unicode.h"

namespace kvb {

bool Tokenizer::is_end_of_generation(int32_t id) const {
  const auto& eog = spec().eog_ids;
  return id >= 0 && (id == spec().eos_id || std::find(eog.begin(), eog.end(), id) != eog.end());
}

int32_t Tokenizer::find_token(std::string_view piece) const { return lookup_piece(piece); }

int32_t Tokenizer::lookup_piece(std::string_view piece) const {
  const auto& tokens = spec().tokens;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] == piece) return int32_t(i);
  }
  return -1;
}

std::unique_ptr<Tokenizer> make_tokenizer(TokenizerSpec spec) {
  if (spec.source.empty()) spec.source = "<tokenizer spec>";
  if (spec.kind == TokenizerSpec::Kind::ByteLevelBPE) return detail::make_byte_level_bpe(std::move(spec));
  return detail::make_sentencepiece_bpe(std::move(spec));
}

}  // namespace kvb

namespace kvb::detail {

void SpecialMatcher::add(std::string_view piece, int32_t id, bool always) {
  if (piece.empty()) return;
  auto& list = by_first_byte_[static_cast<uint8_t>(piece[0])];
  for (auto& e : list) {
    if (e.piece == piece) return;  // first id wins
  }
  list.push_back({std::string(piece), id, always});
  std::stable_sort(list.begin(), list.end(), [](const Entry& a, const Entry& b) { return a.piece.size() > b.piece.size(); });
}

std::vector<Fragment> SpecialMatcher::split(std::string_view text, bool parse_special) const {
  std::vector<Fragment> out;
  size_t start = 0;  // start of the pending text fragment
  for (size_t i = 0; i < text.size();) {
    const Entry* hit = nullptr;
    for (const Entry& e : by_first_byte_[static_cast<uint8_t>(text[i])]) {
      if ((parse_special || e.always) && text.compare(i, e.piece.size(), e.piece) == 0) {
        hit = &e;  // the list is longest first
        break;
      }
    }
    if (!hit) {
      ++i;
      continue;
    }
    if (i > start) out.push_back({text.substr(start, i - start), -1, start});
    out.push_back({{}, hit->id, i});
    i += hit->piece.size();
    start = i;
  }
  if (start < text.size()) out.push_back({text.substr(start), -1, start});
  return out;
}

TokenizerBase::TokenizerBase(TokenizerSpec spec) : spec_(std::move(spec)) {
  const std::string& src = spec_.source;
  const size_t n = spec_.tokens.size();
  KVB_CHECK(n > 0, "{}: the tokenizer has no tokens", src);
  KVB_CHECK(n < size_t(INT32_MAX), "{}: {} tokens is too many", src, n);
  KVB_CHECK(spec_.scores.empty() || spec_.scores.size() == n, "{}: {} scores for {} tokens", src,
            spec_.scores.size(), n);
  KVB_CHECK(spec_.types.empty() || spec_.types.size() == n, "{}: {} token types for {} tokens", src,
            spec_.types.size(), n);
  auto in_range = [&](int32_t id, const char* what) {
    KVB_CHECK(id >= -1 && id < int32_t(n), "{}: {} = {} is outside the vocabulary of {} tokens", src, what, id, n);
  };
  in_range(spec_.bos_id, "bos_id");
  in_range(spec_.eos_id, "eos_id");
  in_range(spec_.unk_id, "unk_id");
  in_range(spec_.pad_id, "pad_id");
  for (int32_t id : spec_.special_ids) {
    KVB_CHECK(id >= 0 && id < int32_t(n), "{}: special token id {} is outside the vocabulary of {} tokens", src, id, n);
  }
  for (int32_t id : spec_.eog_ids) {
    KVB_CHECK(id >= 0 && id < int32_t(n), "{}: end-of-generation id {} is outside the vocabulary of {} tokens", src,
              id, n);
  }
  KVB_CHECK(!spec_.add_bos || spec_.bos_id >= 0, "{}: add_bos is set but the tokenizer has no BOS token", src);
  KVB_CHECK(!spec_.add_eos || spec_.eos_id >= 0, "{}: add_eos is set but the tokenizer has no EOS token", src);

  if (spec_.types.empty()) {
    spec_.types.assign(n, TokenType::Normal);
    for (int32_t id : spec_.special_ids) spec_.types[size_t(id)] = TokenType::Control;
  }
  piece_to_id_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!spec_.tokens[i].empty()) piece_to_id_.emplace(spec_.tokens[i], int32_t(i));  // first id wins
  }

  // Special tokens: listed ones plus Control / UserDefined / Unknown types (llama.cpp's rule).
  special_.assign(n, 0);
  auto mark = [&](int32_t id) {
    const TokenType t = spec_.types[size_t(id)];
    special_[size_t(id)] = (t == TokenType::Control || t == TokenType::Unknown) ? 2 : 1;
    matcher_.add(spec_.tokens[size_t(id)], id, t == TokenType::UserDefined);
  };
  for (int32_t id : spec_.special_ids) mark(id);
  for (size_t i = 0; i < n; ++i) {
    const TokenType t = spec_.types[i];
    if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown) mark(int32_t(i));
  }

  // End of generation: eos plus the usual end-of-turn tokens that exist in this vocabulary.
  auto add_eog = [&](int32_t id) {
    if (id >= 0 && std::find(spec_.eog_ids.begin(), spec_.eog_ids.end(), id) == spec_.eog_ids.end())
      spec_.eog_ids.push_back(id);
  };
  add_eog(spec_.eos_id);
  for (const char* piece : {"<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|endoftext|>", "<|end_of_text|>",
                            "<end_of_turn>", "<|end|>"}) {
    add_eog(lookup_piece(piece));
  }
}

int32_t TokenizerBase::lookup_piece(std::string_view piece) const {
  const auto it = piece_to_id_.find(piece);
  return it == piece_to_id_.end() ? -1 : it->second;
}

void TokenizerBase::check_id(int32_t id) const {
  KVB_CHECK(id >= 0 && size_t(id) < spec_.tokens.size(), "{}: token id {} is outside the vocabulary of {} tokens",
            spec_.source, id, spec_.tokens.size());
}

std::vector<int32_t> TokenizerBase::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && spec_.add_bos) out.push_back(spec_.bos_id);
  bool after_special = true;
  for (const Fragment& f : matcher_.split(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      after_special = true;
      continue;
    }
    if (spec_.normalize_nfc) {
      const std::string normalized = unicode::nfc(f.text);
      encode_fragment(normalized, f.offset, after_special, out);
    } else {
      encode_fragment(f.text, f.offset, after_special, out);
    }
    after_special = false;
  }
  if (add_special && spec_.add_eos) out.push_back(spec_.eos_id);
  return out;
}

}  // namespace kvb::detail
