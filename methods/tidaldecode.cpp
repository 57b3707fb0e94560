// tidaldecode: position-persistent sparse attention at decode time (Yang et al. 2024,
// arXiv:2410.05076; reference DerrickYLJ/TidalDecode src/tidal_build/modify_llama.py). Layers
// before sparse_layer_start attend densely; layer sparse_layer_start attends densely and records,
// per query head, the top-k entries by pre-softmax score q . k; the following layers read only
// those tokens (seam (b): kv/read_selection.h SharedSelection, kept as positions); layer
// correction_layer attends densely again and records a new top-k for the layers after it. No sink
// or recent protection (entries after the compressed part are always read, methods/token_selection.h).
// `kvbench eval --method tidaldecode --ratio 0.9 --param correction_layer=13`.
#include <algorithm>

#include "core/error.h"
#include "methods/token_selection.h"

namespace kvb {
namespace {

class TidalDecode final : public selection::BudgetedSelector {
 public:
  TidalDecode(int start, int correction, int hq) : start_(start), correction_(correction), hq_(hq) {}

  ReadSelection select(int layer, const float* q, const KVCache& cache) override {
    if (budget_.covers_context() || layer < start_) return {};
    if (layer == start_ || layer == correction_) {
      shared_.clear();
      const ReadSelection top = top_k_per_query_head(layer, q, cache);
      if (!top.reads_everything()) shared_.record(top, cache, layer);
      return {};  // this layer attends densely
    }
    if (shared_.empty()) return {};  // the recording layer read everything (the budget covered it)
    return shared_.reuse(cache, layer, hq_);
  }

 private:
  // Per query head: the n_kept compressed-part entries with the largest q . k, plus the newer ones.
  ReadSelection top_k_per_query_head(int layer, const float* q, const KVCache& cache) const {
    const int Hkv = cache.n_kv_heads();
    const int64_t D = cache.head_dim(), group = hq_ / Hkv;
    ReadSelection sel;
    sel.per_query_head = true;
    sel.sets.resize(size_t(hq_));
    bool all = true;
    std::vector<selection::HeadParts> parts;
    std::vector<HeadRows> rows;
    for (int g = 0; g < Hkv; ++g) {
      parts.push_back(selection::split_by_context(cache.head(layer, g), budget_.n_context));
      all &= int64_t(parts.back().compressed.size()) <= budget_.n_kept;
      rows.push_back(cache.rows(layer, g));
    }
    if (all) return {};
    // Query heads in parallel, each writing only its own set (the same bits at any thread count).
#pragma omp parallel
    {
      std::vector<float> s;
#pragma omp for schedule(static)
      for (int qh = 0; qh < hq_; ++qh) {
        const int64_t g = qh / group;
        const std::vector<int32_t>& compressed = parts[size_t(g)].compressed;
        s.resize(compressed.size());
        selection::dot_scores(q + qh * D, rows[size_t(g)].keys(), compressed, D, 1.0f, s.data());
        std::vector<int32_t> top;
        for (int32_t r : top_k_stable(s, budget_.n_kept)) top.push_back(compressed[size_t(r)]);
        sel.sets[size_t(qh)] = selection::sorted_union(top, parts[size_t(g)].newer);
      }
    }
    return sel;
  }

  int start_, correction_, hq_;
  SharedSelection shared_;
};

KVB_REGISTER_METHOD(tidaldecode, 1, "TidalDecode: Yang et al. 2024, arXiv:2410.05076",
                    "selector=per query head top-k by q.k recorded at a dense layer (sparse_layer_start, then "
                    "correction_layer) and reused by the layers after it (--ratio/--budget = entries of the compressed "
                    "part read per step and query head), no sinks, cache untouched",
                    MethodRoles{.selects = true, .budget = Budget::ReadsPerStep},
                    {{"sparse_layer_start", "2", "dense layers before it; it attends densely and records the top-k"},
                     {"correction_layer", "13",
                      "dense again and re-records the top-k (paper: 13 for Llama-3-8B's 32 layers; >= the model's "
                      "layers: no correction)"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      const int64_t start = ctx.params.get_int("sparse_layer_start");
                      const int64_t corr = ctx.params.get_int("correction_layer");
                      KVB_CHECK(start >= 0 && corr > start,
                                "tidaldecode: sparse_layer_start {} must be >= 0 and correction_layer {} after it", start,
                                corr);
                      return std::make_unique<TidalDecode>(int(start), int(std::min<int64_t>(corr, 1 << 20)),
                                                           ctx.config->n_heads);
                    });

}  // namespace
}  // namespace kvb
