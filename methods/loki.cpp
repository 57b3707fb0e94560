// loki: low-rank keys for approximate attention scores at decode time (Singhania et al. 2024,
// arXiv:2406.02542; reference hpcgroup/loki methods/pca_topk). Offline, `kvbench calibrate loki`
// writes a PCA basis P [D, D] of the post-RoPE keys per (layer, KV head) (kv/pca_basis.h). Each
// decode step, per query head: approximate scores (q P_r) . (k P_r) with the first r components
// (the mean is not subtracted, as in the paper), the top-k entries by them, then exact attention
// with full-dimension K and V over those entries only. The projected keys K P_r of the compressed
// part are kept per (layer, KV head) as the paper's side store. No sink or recent protection.
// `kvbench calibrate loki --model M --out loki.pca && kvbench eval --method loki --param basis=loki.pca --ratio 0.75`.
#include <algorithm>
#include <cmath>

#include "backends/cpu/ops.h"
#include "core/error.h"
#include "kv/pca_basis.h"
#include "methods/token_selection.h"

namespace kvb {
namespace {

class Loki final : public selection::BudgetedSelector {
 public:
  Loki(PcaBasis basis, int64_t rank, int hq) : basis_(std::move(basis)), rank_(rank), hq_(hq) {
    side_.resize(size_t(basis_.n_layers) * size_t(basis_.n_kv_heads));
  }

  ReadSelection select(int layer, const float* q, const KVCache& cache) override {
    if (budget_.covers_context()) return {};
    const int Hkv = cache.n_kv_heads();
    const int64_t D = cache.head_dim(), group = hq_ / Hkv, r = rank_;
    ReadSelection sel;
    sel.per_query_head = true;
    sel.sets.resize(size_t(hq_));
    bool all = true;
    std::vector<selection::HeadParts> parts;
    std::vector<const std::vector<float>*> kr;  // [Hkv] -> [|compressed|, r]
    for (int g = 0; g < Hkv; ++g) {
      parts.push_back(selection::split_by_context(cache.head(layer, g), budget_.n_context));
      all &= int64_t(parts.back().compressed.size()) <= budget_.n_kept;
      kr.push_back(&projected_keys(layer, g, cache, parts.back().compressed));
    }
    if (all) return {};
    // Query heads in parallel (each writes only its own set: the same bits at any thread count).
#pragma omp parallel
    {
      std::vector<float> qr(static_cast<size_t>(r)), s;
#pragma omp for schedule(static)
      for (int qh = 0; qh < hq_; ++qh) {
        const int g = int(qh / group);
        const float* P = basis_.component_rows(layer, g);  // [D, D] rows
        const std::vector<int32_t>& compressed = parts[size_t(g)].compressed;
        s.resize(compressed.size());
        for (int64_t c = 0; c < r; ++c) qr[size_t(c)] = cpu::dot(q + qh * D, P + c * D, D);
        cpu::dot_rows(qr.data(), kr[size_t(g)]->data(), nullptr, int64_t(compressed.size()), r, 1.0f, nullptr, s.data());
        std::vector<int32_t> top;
        for (int32_t i : top_k_stable(s, budget_.n_kept)) top.push_back(compressed[size_t(i)]);
        sel.sets[size_t(qh)] = selection::sorted_union(top, parts[size_t(g)].newer);
      }
    }
    return sel;
  }

 private:
  // K P_r of the head's compressed-part entries, recomputed only when those entries changed.
  const std::vector<float>& projected_keys(int layer, int g, const KVCache& cache, const std::vector<int32_t>& idx) {
    Side& side = side_[size_t(layer) * size_t(basis_.n_kv_heads) + size_t(g)];
    const std::vector<int32_t>& pos = cache.head(layer, g).positions();
    std::vector<int32_t> now(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) now[i] = pos[size_t(idx[i])];
    // Kept while the head only grew (its edit stamp, kv_cache.h) and the entries are the same tokens; a
    // change of the rows themselves (KIVI encoding them, a restored snapshot) recomputes.
    const uint64_t stamp = cache.head(layer, g).edit_stamp();
    if (now == side.positions && stamp == side.stamp) return side.keys;
    side.stamp = stamp;
    const int64_t D = cache.head_dim(), r = rank_;
    const HeadRows rows = cache.rows(layer, g);
    const float* P = basis_.component_rows(layer, g);
    side.positions = std::move(now);
    side.keys.resize(idx.size() * size_t(r));
    for (size_t i = 0; i < idx.size(); ++i)
      for (int64_t c = 0; c < r; ++c) side.keys[i * size_t(r) + size_t(c)] = cpu::dot(rows.key(idx[i]), P + c * D, D);
    return side.keys;
  }

  struct Side {
    std::vector<int32_t> positions;  // of the projected entries
    std::vector<float> keys;         // [n, r]
    uint64_t stamp = 0;              // the head's edit stamp when they were projected
  };
  PcaBasis basis_;
  int64_t rank_;
  int hq_;
  std::vector<Side> side_;  // [L * Hkv]
};

KVB_REGISTER_METHOD(loki, 1, "Loki: Singhania et al. 2024, arXiv:2406.02542",
                    "selector=per query head top-k by approximate scores in the first r principal components of the "
                    "keys (PCA basis per layer and KV head from `kvbench calibrate loki`), exact attention over them "
                    "(--ratio/--budget = entries of the compressed part read per step and query head), cache untouched",
                    MethodRoles{.selects = true, .budget = Budget::ReadsPerStep},
                    {{"basis", "", "PCA basis file written by `kvbench calibrate loki` (required)"},
                     {"rank_fraction", "0.25", "r = rank_fraction * head dim (paper d_f = 0.25)"},
                     {"rank", "0", "> 0: r itself (overrides rank_fraction)"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      const std::string path = ctx.params.get_string("basis");
                      KVB_CHECK(!path.empty(), "loki: --param basis=FILE is required (write it with `kvbench calibrate "
                                "loki --model M --out FILE`)");
                      PcaBasis b = read_pca_basis(path);
                      const ModelConfig& c = *ctx.config;
                      KVB_CHECK(b.n_layers == c.n_layers && b.n_kv_heads == c.n_kv_heads && b.head_dim == c.head_dim,
                                "loki: PCA basis {} is for {} layers x {} KV heads x head dim {} (model '{}'), this "
                                "model has {} x {} x {}",
                                path, b.n_layers, b.n_kv_heads, b.head_dim, b.model, c.n_layers, c.n_kv_heads,
                                c.head_dim);
                      const double frac = ctx.params.get_double("rank_fraction");
                      int64_t rank = ctx.params.get_int("rank");
                      if (rank <= 0) {
                        KVB_CHECK(frac > 0 && frac <= 1, "loki: rank_fraction {} must be in (0, 1]", frac);
                        rank = std::max<int64_t>(1, int64_t(std::lround(frac * c.head_dim)));
                      }
                      KVB_CHECK(rank >= 1 && rank <= c.head_dim, "loki: rank {} must be in [1, head dim {}]", rank,
                                c.head_dim);
                      return std::make_unique<Loki>(std::move(b), rank, c.n_heads);
                    });

}  // namespace
}  // namespace kvb
