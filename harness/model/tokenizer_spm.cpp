// SentencePiece-style BPE (llama.cpp's "llama" vocab): spaces as "▁", an optional "▁" prefix, greedy
// merging of the adjacent pair with the best score (leftmost on ties), <0xXX> byte fallback, then unk.
// Pair scores are the merged token's score (GGUF) or minus the merge rank (HF tokenizer.json BPE with
// byte_fallback, Llama-2 layout). Exercised by tests/test_tokenizer.cpp (llama2_spm, stories260k golden files).
#include <array>
#include <queue>

#include "core/error.h"
#include "model/tokenizer_internal.h"
#include "model/unicode.h"

namespace kvb::detail {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 "▁"

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

// "<0xHH>" -> HH, else -1.
int byte_of_piece(std::string_view p) {
  if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  const int hi = hex(p[3]), lo = hex(p[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string unescape_spaces(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpace.size(), kSpace) == 0) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += piece[i++];
    }
  }
  return out;
}

class SentencePieceBpe final : public TokenizerBase {
 public:
  explicit SentencePieceBpe(TokenizerSpec spec) : TokenizerBase(std::move(spec)) {
    const std::string& src = spec_.source;
    const size_t n = spec_.tokens.size();
    token_byte_.assign(n, -1);
    byte_token_.fill(-1);
    for (size_t i = 0; i < n; ++i) {
      const int b = byte_of_piece(spec_.tokens[i]);
      if (b < 0) continue;
      token_byte_[i] = int16_t(b);
      if (byte_token_[size_t(b)] < 0) byte_token_[size_t(b)] = int32_t(i);
    }
    rank_mode_ = !spec_.merges.empty();
    if (rank_mode_) {
      for (size_t r = 0; r < spec_.merges.size(); ++r) {
        const auto& [a, b] = spec_.merges[r];
        const int32_t ia = lookup_piece(a), ib = lookup_piece(b), im = lookup_piece(a + b);
        KVB_CHECK(ia >= 0 && ib >= 0 && im >= 0,
                  "{}: merge #{} '{} {}' refers to a token that is not in the vocabulary ('{}')", src, r, a, b,
                  ia < 0 ? a : ib < 0 ? b : a + b);
        merges_.emplace(pair_key(ia, ib), Merge{int32_t(r), im});
      }
    } else {
      KVB_CHECK(spec_.scores.size() == n, "{}: a SentencePiece vocabulary needs a score per token or a merge list", src);
    }
    bool all_bytes = true;
    for (int32_t id : byte_token_) all_bytes = all_bytes && id >= 0;
    KVB_CHECK((spec_.byte_fallback && all_bytes) || spec_.unk_id >= 0,
              "{}: characters outside the vocabulary cannot be encoded: {} and no unk token", src,
              spec_.byte_fallback ? "some <0xXX> byte tokens are missing" : "byte_fallback is off");
  }

  std::string token_bytes(int32_t id) const override {
    check_id(id);
    if (token_byte_[size_t(id)] >= 0) return std::string(1, char(token_byte_[size_t(id)]));
    return unescape_spaces(spec_.tokens[size_t(id)]);
  }

  // HF decoders Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0).
  std::string decode(std::span<const int32_t> ids, bool skip_special) const override {
    std::string out, bytes;
    auto flush_bytes = [&] {
      if (unicode::is_valid_utf8(bytes)) {
        out += bytes;
      } else {
        for (size_t i = 0; i < bytes.size(); ++i) out += "\xEF\xBF\xBD";  // one U+FFFD per byte, as HF
      }
      bytes.clear();
    };
    for (int32_t id : ids) {
      check_id(id);
      if (skip_special && skip_on_decode(id)) continue;
      if (token_byte_[size_t(id)] >= 0) {
        bytes += char(token_byte_[size_t(id)]);
        continue;
      }
      flush_bytes();
      out += unescape_spaces(spec_.tokens[size_t(id)]);
    }
    flush_bytes();
    if (spec_.add_space_prefix && !out.empty() && out[0] == ' ') out.erase(0, 1);
    return unicode::to_valid_utf8(out);
  }

 protected:
  void encode_fragment(std::string_view text, size_t offset, bool after_special,
                       std::vector<int32_t>& out) const override {
    if (text.empty()) return;
    const bool starts_with_space = text[0] == ' ' || text.substr(0, kSpace.size()) == kSpace;
    const bool prefix = spec_.add_space_prefix && (spec_.space_prefix_first_only ? offset == 0 && !starts_with_space
                                                                                 : after_special);
    std::string s;
    s.reserve(text.size() + 8);
    if (prefix) s += kSpace;
    for (char ch : text) {
      if (ch == ' ') {
        s += kSpace;
      } else {
        s += ch;
      }
    }
    encode_escaped(s, out);
  }

 private:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  struct Symbol {
    uint32_t start, len;  // span of the escaped text; len 0 once merged into the left neighbour
    int32_t id;           // token of the span, -1 if none
    int32_t prev, next;
  };
  struct Bigram {
    double score;
    int32_t left, right;
    uint32_t left_len, right_len;
    int32_t id;  // the merged token
    bool operator<(const Bigram& o) const { return score != o.score ? score < o.score : left > o.left; }
  };

  void encode_escaped(const std::string& s, std::vector<int32_t>& out) const {
    std::vector<Symbol> sym;
    sym.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
      const uint32_t len = unicode::decode(s, i).len;
      const int32_t idx = int32_t(sym.size());
      sym.push_back({uint32_t(i), len, lookup_piece(std::string_view(s).substr(i, len)), idx - 1, -1});
      if (idx > 0) sym[size_t(idx - 1)].next = idx;
      i += len;
    }
    std::priority_queue<Bigram> queue;
    auto try_add = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0) return;
      const Symbol& l = sym[size_t(left)];
      const Symbol& r = sym[size_t(right)];
      if (rank_mode_) {
        if (l.id < 0 || r.id < 0) return;
        const auto it = merges_.find(pair_key(l.id, r.id));
        if (it == merges_.end()) return;
        queue.push({-double(it->second.rank), left, right, l.len, r.len, it->second.id});
      } else {
        const int32_t id = lookup_piece(std::string_view(s).substr(l.start, l.len + r.len));
        if (id < 0) return;
        queue.push({double(spec_.scores[size_t(id)]), left, right, l.len, r.len, id});
      }
    };
    for (int32_t i = 1; i < int32_t(sym.size()); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
      const Bigram b = queue.top();
      queue.pop();
      Symbol& l = sym[size_t(b.left)];
      Symbol& r = sym[size_t(b.right)];
      if (l.len != b.left_len || r.len != b.right_len || l.next != b.right) continue;  // stale
      l.len += r.len;
      l.id = b.id;
      r.len = 0;
      l.next = r.next;
      if (r.next >= 0) sym[size_t(r.next)].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (int32_t i = sym.empty() ? -1 : 0; i >= 0; i = sym[size_t(i)].next) {
      const Symbol& x = sym[size_t(i)];
      if (x.id >= 0) {
        out.push_back(x.id);
      } else if (spec_.byte_fallback) {
        for (uint32_t k = 0; k < x.len; ++k) {
          const int32_t id = byte_token_[static_cast<uint8_t>(s[x.start + k])];
          out.push_back(id >= 0 ? id : spec_.unk_id);
        }
      } else {
        out.push_back(spec_.unk_id);
      }
    }
  }

  bool rank_mode_ = false;
  std::unordered_map<uint64_t, Merge> merges_;  // rank mode: (left id, right id) -> rank, merged id
  std::vector<int16_t> token_byte_;             // id -> byte for <0xXX> tokens, else -1
  std::array<int32_t, 256> byte_token_{};       // byte -> id of its <0xXX> token, or -1
};

}  // namespace

std::unique_ptr<Tokenizer> make_sentencepiece_bpe(TokenizerSpec spec) {
  return std::make_unique<SentencePieceBpe>(std::move(spec));
}

}  // namespace kvb::detail
