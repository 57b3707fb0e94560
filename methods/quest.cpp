// quest: query-aware page selection at decode time (Tang et al. 2024, arXiv:2406.10774). Keys are
// grouped in pages; per page and channel the min and max key are kept; each decode step reads only
// the pages whose upper bound sum_d max(q_d min_d, q_d max_d) is among the top budget/page_size for
// some query head of the KV head's group, plus the page holding the newest token. The cache is
// untouched (a selector, not an eviction). The first `dense_layers` layers read everything, as in the
// paper. `kvbench eval --method quest --budget 256 --param page_size=16`.
#include "methods/quest.h"

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "methods/scoring.h"

namespace kvb {
namespace quest {

void extend_page_bounds(PageBounds& b, const float* keys, int64_t n_before, int64_t T, int64_t D, int64_t page) {
  b.n_pages = (T + page - 1) / page;
  b.min.resize(size_t(b.n_pages * D), std::numeric_limits<float>::infinity());
  b.max.resize(size_t(b.n_pages * D), -std::numeric_limits<float>::infinity());
  for (int64_t j = n_before; j < T; ++j) {
    float* mn = b.min.data() + (j / page) * D;
    float* mx = b.max.data() + (j / page) * D;
    for (int64_t d = 0; d < D; ++d) {
      mn[d] = std::min(mn[d], keys[j * D + d]);
      mx[d] = std::max(mx[d], keys[j * D + d]);
    }
  }
}

PageBounds page_bounds(const float* keys, int64_t T, int64_t D, int64_t page) {
  PageBounds b;
  extend_page_bounds(b, keys, 0, T, D, page);
  return b;
}

float upper_bound(const PageBounds& b, int64_t p, const float* q, int64_t D) {
  const float* mn = b.min.data() + p * D;
  const float* mx = b.max.data() + p * D;
  float s = 0;
  for (int64_t d = 0; d < D; ++d) s += std::max(q[d] * mn[d], q[d] * mx[d]);
  return s;
}

std::vector<int32_t> top_pages(const PageBounds& b, const float* q, int64_t D, int64_t n_pages) {
  std::vector<float> ub(static_cast<size_t>(b.n_pages));
  for (int64_t p = 0; p < b.n_pages; ++p) ub[size_t(p)] = upper_bound(b, p, q, D);
  return top_k_indices(ub, n_pages);
}

}  // namespace quest

namespace {

class Quest final : public Method {
 public:
  Quest(int64_t page, int dense_layers) : page_(page), dense_layers_(dense_layers) {}
  KeepSets compress_prefill(const LayerView& v) override {
    budget_ = v.n_kept;  // entries of the compressed part each decode step reads per head
    n_context_ = v.n_context;
    return {};
  }
  bool has_selector() const override { return true; }
  ReadSelection select(int layer, const float* q, const KVCache& cache) override {
    if (layer < dense_layers_) return {};
    const int64_t Hkv = cache.n_kv_heads(), D = cache.head_dim();
    const int64_t Hq = hq_, group = Hq / Hkv;
    ReadSets read(static_cast<size_t>(Hkv));
    bool all_heads_full = true;
    for (int64_t g = 0; g < Hkv; ++g) {
      const HeadRows h = cache.rows(layer, int(g));  // dequantized when KIVI-encoded (quest+kivi)
      const int64_t T = h.size();
      // Entries added after compression (the question, generated tokens) come on top of the budget,
      // as with the token-level selectors (methods/token_selection.h): a budget covering the
      // compressed part reads everything.
      int64_t newer = 0;
      for (int32_t p : cache.head(layer, int(g)).positions()) newer += p >= n_context_;
      const int64_t want = budget_ >= T - newer ? T : budget_ + newer;
      const int64_t n_pages = (want + page_ - 1) / page_;
      const quest::PageBounds& b = bounds_of(layer, int(g), cache, h);
      std::vector<char> chosen(size_t(b.n_pages), 0);
      chosen[size_t(b.n_pages - 1)] = 1;  // the newest token's page
      if (n_pages < b.n_pages)
        for (int64_t qh = g * group; qh < (g + 1) * group; ++qh)
          for (int32_t p : quest::top_pages(b, q + qh * D, D, n_pages)) chosen[size_t(p)] = 1;
      else
        std::fill(chosen.begin(), chosen.end(), 1);
      for (int64_t p = 0; p < b.n_pages; ++p)
        if (chosen[size_t(p)])
          for (int64_t j = p * page_; j < std::min(T, (p + 1) * page_); ++j) read[size_t(g)].push_back(int32_t(j));
      all_heads_full &= int64_t(read[size_t(g)].size()) == T;
    }
    if (all_heads_full) return {};
    return {std::move(read)};
  }
  void set_query_heads(int hq) { hq_ = hq; }

 private:
  // Page bounds of (layer, KV head g), kept between steps: a decode step only appends, so only the
  // newest page changes; any other change to the head (a new stamp) recomputes them all.
  struct KeptBounds {
    uint64_t stamp = 0;
    int64_t n = 0;  // entries summarised
    quest::PageBounds b;
  };
  const quest::PageBounds& bounds_of(int layer, int g, const KVCache& cache, const HeadRows& rows) {
    const size_t slot = size_t(layer) * size_t(cache.n_kv_heads()) + size_t(g);
    if (kept_.size() <= slot) kept_.resize(slot + 1);
    KeptBounds& k = kept_[slot];
    const uint64_t stamp = cache.head(layer, g).edit_stamp();
    if (k.stamp != stamp || k.n > rows.size()) k = KeptBounds{stamp, 0, {}};
    quest::extend_page_bounds(k.b, rows.keys(), k.n, rows.size(), cache.head_dim(), page_);
    k.n = rows.size();
    return k.b;
  }
  std::vector<KeptBounds> kept_;  // [L * Hkv]

  int64_t page_;
  int dense_layers_;
  int64_t budget_ = std::numeric_limits<int64_t>::max();
  int64_t n_context_ = 0;
  int hq_ = 0;
};

KVB_REGISTER_METHOD(quest, 2, "Quest: Tang et al. 2024, arXiv:2406.10774",
                    "selector=top pages by per-page key min/max upper bound (--ratio/--budget = entries of the "
                    "compressed part read per decode step, entries added after it on top), cache untouched",
                    MethodRoles{.selects = true, .budget = Budget::ReadsPerStep},
                    {{"page_size", "16", "entries per page"},
                     {"dense_layers", "2", "the first layers read every page (the paper skips layers 0-1)"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      const int64_t page = ctx.params.get_int("page_size");
                      const int dense = int(ctx.params.get_int("dense_layers"));
                      KVB_CHECK(page >= 1, "quest: page_size {} must be >= 1", page);
                      KVB_CHECK(dense >= 0, "quest: dense_layers {} is negative", dense);
                      auto m = std::make_unique<Quest>(page, dense);
                      m->set_query_heads(ctx.config->n_heads);
                      return m;
                    });

}  // namespace
}  // namespace kvb
