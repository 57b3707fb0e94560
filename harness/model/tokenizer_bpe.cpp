// Byte-level BPE (GPT-2's byte-to-unicode alphabet, merges applied lowest rank first, leftmost on ties),
// as HF tokenizers' BPE model and llama.cpp's "gpt2" vocab type do it.
// Exercised by tests/test_tokenizer.cpp (SmolLM2 and llama3_bpe golden files).
#include <array>
#include <queue>

#include "core/error.h"
#include "model/tokenizer_internal.h"
#include "model/unicode.h"

namespace kvb::detail {
namespace {

// GPT-2's reversible byte -> code point map: printable Latin-1 bytes stand for themselves, the
// other 68 bytes take U+0100.. in byte order.
std::array<uint32_t, 256> byte_to_codepoint() {
  std::array<uint32_t, 256> map{};
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    map[b] = printable ? b : next++;
  }
  return map;
}

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

class ByteLevelBpe final : public TokenizerBase {
 public:
  explicit ByteLevelBpe(TokenizerSpec spec) : TokenizerBase(std::move(spec)) {
    const std::string& src = spec_.source;
    pre_ = parse_pretokenizer(spec_.pretokenizer, src);
    const auto cps = byte_to_codepoint();
    codepoint_to_byte_.fill(-1);
    for (int b = 0; b < 256; ++b) {
      byte_char_[size_t(b)].clear();
      unicode::append_utf8(byte_char_[size_t(b)], cps[size_t(b)]);
      codepoint_to_byte_[cps[size_t(b)]] = int16_t(b);
      // A byte without a token (SmolLM2 has none for 0x04, for instance) becomes unk, or is dropped
      // when there is no unk token, as HF's BPE model does.
      byte_id_[size_t(b)] = lookup_piece(byte_char_[size_t(b)]);
      if (byte_id_[size_t(b)] < 0) byte_id_[size_t(b)] = spec_.unk_id;
    }
    merges_.reserve(spec_.merges.size());
    for (size_t r = 0; r < spec_.merges.size(); ++r) {
      const auto& [a, b] = spec_.merges[r];
      const int32_t ia = lookup_piece(a), ib = lookup_piece(b), im = lookup_piece(a + b);
      KVB_CHECK(ia >= 0 && ib >= 0 && im >= 0, "{}: merge #{} '{} {}' refers to a token that is not in the vocabulary ('{}')",
                src, r, a, b, ia < 0 ? a : ib < 0 ? b : a + b);
      merges_.emplace(pair_key(ia, ib), Merge{int32_t(r), im});  // the first (lowest) rank wins
    }
  }

  std::string token_bytes(int32_t id) const override {
    check_id(id);
    const std::string& piece = spec_.tokens[size_t(id)];
    if (is_special(id)) return piece;
    std::string out;
    out.reserve(piece.size());
    for (size_t i = 0; i < piece.size();) {
      const unicode::CodePoint c = unicode::decode(piece, i);
      if (c.valid && c.cp < codepoint_to_byte_.size() && codepoint_to_byte_[c.cp] >= 0) {
        out += char(codepoint_to_byte_[c.cp]);
      } else {
        out.append(piece, i, c.len);  // not in the byte alphabet: kept as written
      }
      i += c.len;
    }
    return out;
  }

  std::string decode(std::span<const int32_t> ids, bool skip_special) const override {
    std::string bytes;
    for (int32_t id : ids) {
      check_id(id);
      if (skip_special && skip_on_decode(id)) continue;
      bytes += token_bytes(id);
    }
    return unicode::to_valid_utf8(bytes);  // HF: String::from_utf8_lossy over the whole sequence
  }

 protected:
  void encode_fragment(std::string_view text, size_t, bool, std::vector<int32_t>& out) const override {
    std::vector<std::string_view> words;
    pretokenize(text, pre_, words);
    std::vector<Symbol> symbols;
    for (std::string_view w : words) encode_word(w, symbols, out);
  }

 private:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  struct Symbol {
    int32_t id;  // -1 once merged into its left neighbour
    int32_t prev, next;
  };
  struct Candidate {
    int32_t rank, left;  // left symbol index
    int32_t left_id, right_id, merged_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };

  void encode_word(std::string_view word, std::vector<Symbol>& sym, std::vector<int32_t>& out) const {
    if (word.size() == 1) {
      if (const int32_t id = byte_id_[static_cast<uint8_t>(word[0])]; id >= 0) out.push_back(id);
      return;
    }
    if (spec_.ignore_merges) {
      std::string mapped;
      for (char ch : word) mapped += byte_char_[static_cast<uint8_t>(ch)];
      if (const int32_t id = lookup_piece(mapped); id >= 0) {
        out.push_back(id);
        return;
      }
    }
    sym.clear();
    for (char ch : word) {
      const int32_t id = byte_id_[static_cast<uint8_t>(ch)];
      if (id < 0) continue;  // a byte without a token and no unk: dropped, its neighbours meet
      const auto i = int32_t(sym.size());
      sym.push_back({id, i - 1, -1});
      if (i > 0) sym[size_t(i - 1)].next = i;
    }
    const auto n = int32_t(sym.size());
    if (n == 0) return;
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    auto consider = [&](int32_t left) {
      if (left < 0) return;
      const int32_t right = sym[size_t(left)].next;
      if (right < 0) return;
      const int32_t a = sym[size_t(left)].id, b = sym[size_t(right)].id;
      if (const auto it = merges_.find(pair_key(a, b)); it != merges_.end()) queue.push({it->second.rank, left, a, b, it->second.id});
    };
    for (int32_t i = 0; i + 1 < n; ++i) consider(i);
    while (!queue.empty()) {
      const Candidate c = queue.top();
      queue.pop();
      Symbol& l = sym[size_t(c.left)];
      if (l.id != c.left_id || l.next < 0 || sym[size_t(l.next)].id != c.right_id) continue;  // stale
      Symbol& r = sym[size_t(l.next)];
      l.id = c.merged_id;
      r.id = -1;
      l.next = r.next;
      if (r.next >= 0) sym[size_t(r.next)].prev = c.left;
      consider(l.prev);
      consider(c.left);
    }
    for (int32_t i = 0; i >= 0; i = sym[size_t(i)].next) out.push_back(sym[size_t(i)].id);
  }

  Pretokenizer pre_ = Pretokenizer::Gpt2;
  std::array<std::string, 256> byte_char_;       // byte -> its alphabet character (UTF-8)
  std::array<int32_t, 256> byte_id_{};            // byte -> token id of that character
  std::array<int16_t, 324> codepoint_to_byte_{};  // alphabet code point -> byte, -1 elsewhere
  std::unordered_map<uint64_t, Merge> merges_;    // (left id, right id) -> rank and merged id
};

}  // namespace

std::unique_ptr<Tokenizer> make_byte_level_bpe(TokenizerSpec spec) { return std::make_unique<ByteLevelBpe>(std::move(spec)); }

}  // namespace kvb::detail
