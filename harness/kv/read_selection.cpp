// Read selections and their cost; see read_selection.h.
#include "kv/read_selection.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace kvb {

namespace {

int kv_head_of(const ReadSelection& s, int head, int group) { return s.per_query_head ? head / group : head; }

void append_union(std::vector<int32_t>& into, const std::vector<int32_t>& a) {
  std::vector<int32_t> out;
  out.reserve(into.size() + a.size());
  std::set_union(into.begin(), into.end(), a.begin(), a.end(), std::back_inserter(out));
  into.swap(out);
}

}  // namespace

ReadSets physical_reads(const ReadSelection& s, const KVCache& cache, int layer, int n_query_heads) {
  const int Hkv = cache.n_kv_heads(), group = n_query_heads / Hkv;
  ReadSets out(static_cast<size_t>(Hkv));
  if (s.reads_everything()) {
    for (int g = 0; g < Hkv; ++g) {
      out[size_t(g)].resize(size_t(cache.head(layer, g).size()));
      std::iota(out[size_t(g)].begin(), out[size_t(g)].end(), 0);
    }
    return out;
  }
  for (size_t h = 0; h < s.sets.size(); ++h) {
    std::vector<int32_t>& u = out[size_t(kv_head_of(s, int(h), group))];
    append_union(u, s.sets[h]);
    if (!s.second.empty()) append_union(u, s.second[h]);
  }
  return out;
}

void check_selection(const ReadSelection& s, const KVCache& cache, int layer, int n_query_heads) {
  if (s.reads_everything()) {
    KVB_CHECK(s.second.empty(), "layer {}: a selection that reads everything has a second part", layer);
    return;
  }
  KVB_CHECK(!s.compact_positions || s.second.empty(), "layer {}: compact positions apply to one-part reads only",
            layer);
  const int Hkv = cache.n_kv_heads(), group = n_query_heads / Hkv;
  const size_t heads = size_t(s.per_query_head ? n_query_heads : Hkv);
  KVB_CHECK(s.sets.size() == heads, "layer {}: read sets for {} heads, expected {} ({})", layer, s.sets.size(), heads,
            s.per_query_head ? "query heads" : "KV heads");
  KVB_CHECK(s.second.empty() || s.second.size() == heads, "layer {}: second read part for {} heads, expected {}",
            layer, s.second.size(), heads);
  for (size_t h = 0; h < heads; ++h) {
    const int64_t T = cache.head(layer, kv_head_of(s, int(h), group)).size();
    for (const ReadSets* part : {&s.sets, &s.second}) {
      if (part->empty()) continue;
      int32_t prev = -1;
      for (int32_t j : (*part)[h]) {
        KVB_CHECK(j > prev && j < T, "layer {} head {}: read index {} not increasing or outside [0, {})", layer, h, j, T);
        prev = j;
      }
    }
    if (!s.second.empty()) {
      std::vector<int32_t> both;
      std::set_intersection(s.sets[h].begin(), s.sets[h].end(), s.second[h].begin(), s.second[h].end(),
                            std::back_inserter(both));
      KVB_CHECK(both.empty(), "layer {} head {}: entry {} is in both read parts (they must be disjoint)", layer, h,
                both.empty() ? 0 : both[0]);
    }
  }
}

std::vector<int32_t> top_k_stable(const std::vector<float>& scores, int64_t k) {
  const int64_t n = int64_t(scores.size());
  std::vector<int32_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  if (k >= n) return idx;
  if (k <= 0) return {};
  auto better = [&](int32_t a, int32_t b) {
    return scores[size_t(a)] > scores[size_t(b)] || (scores[size_t(a)] == scores[size_t(b)] && a < b);
  };
  std::nth_element(idx.begin(), idx.begin() + (k - 1), idx.end(), better);
  idx.resize(size_t(k));
  std::sort(idx.begin(), idx.end());
  return idx;
}

void SharedSelection::record(const ReadSelection& s, const KVCache& cache, int layer) {
  KVB_CHECK(!s.reads_everything() && s.second.empty(), "layer {}: only a one-part subset selection can be shared",
            layer);
  const int Hkv = cache.n_kv_heads(), group = s.per_query_head ? int(s.sets.size()) / Hkv : 1;
  positions_.assign(s.sets.size(), {});
  for (size_t h = 0; h < s.sets.size(); ++h) {
    const std::vector<int32_t>& pos = cache.head(layer, int(h) / group).positions();
    for (int32_t j : s.sets[h]) positions_[h].push_back(pos[size_t(j)]);
    std::sort(positions_[h].begin(), positions_[h].end());
  }
  per_query_head_ = s.per_query_head;
  layer_ = layer;
}

ReadSelection SharedSelection::reuse(const KVCache& cache, int layer, int n_query_heads) const {
  KVB_CHECK(!empty(), "layer {}: no selection was recorded to reuse", layer);
  const int Hkv = cache.n_kv_heads(), group = per_query_head_ ? n_query_heads / Hkv : 1;
  ReadSelection s;
  s.per_query_head = per_query_head_;
  s.sets.resize(positions_.size());
  for (size_t h = 0; h < positions_.size(); ++h) {
    // The head's positions are increasing except after a compensation entry: look each up in a
    // sorted copy of (position, index).
    const std::vector<int32_t>& pos = cache.head(layer, int(h) / group).positions();
    std::vector<std::pair<int32_t, int32_t>> by_pos(pos.size());
    for (size_t j = 0; j < pos.size(); ++j) by_pos[j] = {pos[j], int32_t(j)};
    std::sort(by_pos.begin(), by_pos.end());
    for (int32_t p : positions_[h]) {
      auto it = std::lower_bound(by_pos.begin(), by_pos.end(), std::make_pair(p, int32_t(-1)));
      if (it != by_pos.end() && it->first == p) s.sets[h].push_back(it->second);
    }
    std::sort(s.sets[h].begin(), s.sets[h].end());
  }
  return s;
}

void DecodeReadStats::add_step(int64_t entries, double bytes) {
  ++steps;
  entries_sum += double(entries);
  bytes_sum += bytes;
  entries_max = std::max(entries_max, entries);
  bytes_max = std::max(bytes_max, bytes);
}

double entry_bytes(const HeadCache& h, int64_t j, int64_t head_dim) {
  if (j < h.n_quantized()) return double(h.quantized().bytes()) / double(h.n_quantized());
  return double(2 * head_dim * int64_t(sizeof(float)));
}

LayerRead layer_read(const ReadSelection* s, const KVCache& cache, int layer, int n_query_heads) {
  LayerRead r;
  const int64_t D = cache.head_dim();
  if (!s || s->reads_everything()) {
    for (int g = 0; g < cache.n_kv_heads(); ++g) {
      const HeadCache& h = cache.head(layer, g);
      r.entries += h.size();
      const int64_t nq = h.n_quantized();
      r.bytes += double(h.quantized().bytes()) * (nq > 0) + double((h.size() - nq) * 2 * D * int64_t(sizeof(float)));
    }
    return r;
  }
  const ReadSets reads = physical_reads(*s, cache, layer, n_query_heads);
  for (int g = 0; g < cache.n_kv_heads(); ++g) {
    const HeadCache& h = cache.head(layer, g);
    r.entries += int64_t(reads[size_t(g)].size());
    for (int32_t j : reads[size_t(g)]) r.bytes += entry_bytes(h, j, D);
  }
  return r;
}

}  // namespace kvb
