// Sparse prefill patterns per query head; see prefill_pattern.h.
#include "kv/prefill_pattern.h"

#include <algorithm>

#include "core/error.h"

namespace kvb {

void allowed_entries(const HeadPrefillPattern& p, int64_t e, std::vector<uint8_t>& allowed) {
  allowed.assign(size_t(e + 1), p.dense ? 1 : 0);
  if (p.dense) return;
  allowed[size_t(e)] = 1;
  for (int32_t j : p.columns) {
    if (j > e) break;
    allowed[size_t(j)] = 1;
  }
  if (p.slash_tile > 0) {
    const int64_t B = p.slash_tile, m1 = (e / B + 1) * B;
    for (const auto& [s, t] : slash_tile_ranges(p.diagonals, m1, B))
      for (int64_t j = std::max<int64_t>(0, s); j < std::min(e + 1, t); ++j) allowed[size_t(j)] = 1;
  } else {
    for (int32_t o : p.diagonals) {
      if (o > e) break;
      allowed[size_t(e - o)] = 1;
    }
  }
  if (p.block_size > 0) {
    const int64_t b = p.block_size;
    for (int32_t kb : p.key_blocks[size_t(e / b - p.first_block)])
      for (int64_t j = int64_t(kb) * b; j < std::min<int64_t>(e + 1, (int64_t(kb) + 1) * b); ++j) allowed[size_t(j)] = 1;
  }
}

std::vector<std::pair<int64_t, int64_t>> slash_tile_ranges(const std::vector<int32_t>& diagonals, int64_t m1,
                                                           int64_t B) {
  std::vector<std::pair<int64_t, int64_t>> ranges;
  bool open = false;
  int64_t start = 0, end = 0;
  for (auto it = diagonals.rbegin(); it != diagonals.rend(); ++it) {  // the farthest diagonal first
    if (*it >= m1) continue;                                           // does not reach this block
    const int64_t e = std::max<int64_t>(m1 - *it, B);
    if (!open) {
      start = e - B, end = e, open = true;
    } else if (e > end + B) {
      ranges.emplace_back(start, end);
      start = e - B, end = e;
    } else if (e > end) {
      end += B;
    }
  }
  if (open) ranges.emplace_back(start, end);
  return ranges;
}

int64_t allowed_pairs(const HeadPrefillPattern& p, int64_t T, int64_t n) {
  if (p.dense) return causal_pairs(T, n);
  std::vector<uint8_t> allowed;
  int64_t count = 0;
  for (int64_t e = T - n; e < T; ++e) {
    allowed_entries(p, e, allowed);
    for (uint8_t a : allowed) count += a;
  }
  return count;
}

int64_t causal_pairs(int64_t T, int64_t n) { return n * (2 * (T - n) + n + 1) / 2; }

void check_prefill_pattern(const PrefillPattern& p, int layer, int n_query_heads, int64_t T, int64_t n) {
  if (p.dense()) return;
  KVB_CHECK(int64_t(p.heads.size()) == n_query_heads, "layer {}: a prefill pattern has {} heads, the model {} query heads",
            layer, p.heads.size(), n_query_heads);
  for (size_t h = 0; h < p.heads.size(); ++h) {
    const HeadPrefillPattern& hp = p.heads[h];
    if (hp.dense) continue;
    auto ascending = [](const std::vector<int32_t>& v) {
      return std::adjacent_find(v.begin(), v.end(), [](int32_t a, int32_t b) { return a >= b; }) == v.end() &&
             (v.empty() || v.front() >= 0);
    };
    KVB_CHECK(ascending(hp.columns), "layer {} head {}: prefill pattern columns are not ascending non-negative", layer, h);
    KVB_CHECK(ascending(hp.diagonals), "layer {} head {}: prefill pattern diagonals are not ascending non-negative", layer,
              h);
    if (hp.block_size > 0) {
      const int64_t b = hp.block_size;
      KVB_CHECK(hp.first_block == (T - n) / b && int64_t(hp.key_blocks.size()) == (T - 1) / b - hp.first_block + 1,
                "layer {} head {}: block-sparse pattern lists {} query blocks from block {}; the chunk's rows {}..{} "
                "span blocks {}..{}",
                layer, h, hp.key_blocks.size(), hp.first_block, T - n, T - 1, (T - n) / b, (T - 1) / b);
      for (size_t qb = 0; qb < hp.key_blocks.size(); ++qb) {
        const auto& kbs = hp.key_blocks[qb];
        KVB_CHECK(ascending(kbs) && (kbs.empty() || kbs.back() <= hp.first_block + int64_t(qb)),
                  "layer {} head {}: key blocks of query block {} are not ascending causal blocks", layer, h,
                  hp.first_block + int64_t(qb));
      }
    }
  }
}

}  // namespace kvb
