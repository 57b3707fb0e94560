// What a decode step reads of one layer's cache (selectors: quest, tokenselect, retrieval_attention,
// tidaldecode, loki), and what it cost. The cache is never changed by a selection. Seams of
// docs/methods-wave2 (../shared/docs/methods-wave2.md): (a) per-query-head sets whose physical read
// is their union per KV head, (b) a selection recorded at one layer and reused by later ones, (d) two
// disjoint parts attended separately and merged by log-sum-exp (backends/cpu/partial_attention.h).
// Tests: tests/test_selectors.cpp. Axes: L layers, Hq / Hkv heads, g = Hq / Hkv, T entries of a head.
#pragma once
#include <cstdint>
#include <vector>

#include "kv/kv_cache.h"

namespace kvb {

// Per head, strictly increasing indices into that head's current entries.
using ReadSets = std::vector<std::vector<int32_t>>;

struct ReadSelection {
  // [Hkv][read] (every query head of a group reads its KV head's set: quest, tokenselect) or
  // [Hq][read] when per_query_head (each query head attends to its own set: loki, tidaldecode,
  // retrieval_attention; the KV head's physical read is the union over its group). Empty: the
  // step reads everything (dense attention, bit for bit).
  ReadSets sets;
  bool per_query_head = false;
  // Optional second part, same heads as `sets` and disjoint from them: attended separately, the two
  // partial attentions merged exactly by their log-sum-exp (retrieval_attention: sets = the static
  // sink + recent part, second = the retrieved top-k). Empty: one part.
  ReadSets second;
  // Position mode (seam (c)): false (default) attends with the entries' original positions; true
  // re-indexes each head's read entries compactly, as if the R entries read sat at positions
  // 0..R-1 in index order and the query at R-1 (the newest entry's slot; TokenSelect's and
  // LongHeads' re-rotation). One-part reads only; the CPU backend rotates copies of the keys, the
  // cache is untouched.
  bool compact_positions = false;
  // Inner products the selector's index computed to choose this selection, summed over heads
  // (retrieval_attention: the flat scan's candidates, or the graph search's visited keys); 0: not counted.
  int64_t index_reads = 0;

  bool reads_everything() const { return sets.empty(); }
};

// The entries each KV head physically reads: per KV head, the sorted union of `sets` and `second`
// over the heads of its group (per-KV-head sets: the sets themselves). [Hkv][read]; a selection that
// reads everything gives every index of every head.
ReadSets physical_reads(const ReadSelection& s, const KVCache& cache, int layer, int n_query_heads);

// Checks a selection against the cache before attention uses it: head count (Hkv, or Hq when per
// query head), indices strictly increasing and in range, `second` disjoint from `sets`. kvb::Error
// naming the layer, head and index otherwise.
void check_selection(const ReadSelection& s, const KVCache& cache, int layer, int n_query_heads);

// The k largest scores' indices, ascending; ties: the lower index wins (stable, unlike torch.topk).
// k >= scores.size(): every index.
std::vector<int32_t> top_k_stable(const std::vector<float>& scores, int64_t k);

// Seam (b): a selection recorded at one layer and reused by later layers of the same decode step
// (tidaldecode). It is kept as original token positions, so a layer whose cache holds other entries
// (an evicting part before the selector) reads the recorded tokens it still holds.
class SharedSelection {
 public:
  // Records `s` (per-query-head or per-KV-head sets of `layer`, not reads_everything) as positions.
  void record(const ReadSelection& s, const KVCache& cache, int layer);
  bool empty() const { return positions_.empty(); }
  int recorded_at() const { return layer_; }
  // The recorded selection mapped onto `layer`'s entries (tokens the layer no longer holds are skipped).
  ReadSelection reuse(const KVCache& cache, int layer, int n_query_heads) const;
  void clear() {
    positions_.clear();
    layer_ = -1;
  }

 private:
  std::vector<std::vector<int32_t>> positions_;  // [heads][read] positions, ascending
  bool per_query_head_ = false;
  int layer_ = -1;
};

// Per-step read statistics of a case's decode steps (every method: a step without a selector reads
// every cached entry). Entries count (layer, KV head, token) triples whose K and V attention read;
// bytes are those entries' K/V storage (fp32 rows: 2 D 4 bytes; KIVI-packed rows: the packed block's
// bytes per entry). The selector's own scoring reads (quest page bounds, tokenselect's full key scan,
// loki's low-rank keys) are not included.
struct DecodeReadStats {
  int64_t steps = 0;
  double entries_sum = 0, bytes_sum = 0;
  int64_t entries_max = 0;
  double bytes_max = 0;
  double index_reads_sum = 0;  // ReadSelection::index_reads summed over the layers of every step
  double mean_entries() const { return steps ? entries_sum / double(steps) : 0.0; }
  double mean_index_reads() const { return steps ? index_reads_sum / double(steps) : 0.0; }
  double mean_bytes() const { return steps ? bytes_sum / double(steps) : 0.0; }
  void add_step(int64_t entries, double bytes);
};

// Entries and K/V bytes one layer reads under `s` (null: everything).
struct LayerRead {
  int64_t entries = 0;
  double bytes = 0;
};
LayerRead layer_read(const ReadSelection* s, const KVCache& cache, int layer, int n_query_heads);
// K/V bytes of entry j of a head (see DecodeReadStats).
double entry_bytes(const HeadCache& h, int64_t j, int64_t head_dim);

}  // namespace kvb
