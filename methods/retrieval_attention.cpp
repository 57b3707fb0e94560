// retrieval_attention: attention over a static resident set plus per-query-head retrieved keys
// (Liu et al. 2024, arXiv:2409.10516; reference microsoft/MInference minference/modules/retr_attn.py,
// the SCBench reimplementation with an exact Flat index). Each decode step, per query head:
// the static part (the compressed part's first n_sink and last n_local entries, as the reference
// keeps the prompt's first 128 and last 512, and everything after the compressed part, as it keeps
// generated tokens on the GPU side) and the top-k keys retrieved from the rest by inner product (flat index: exact) are attended
// separately and merged by log-sum-exp (ReadSelection::second, backends/cpu/partial_attention.h).
// The KV head's physical read is the union over its group. index=flat (default) scans every
// candidate; index=graph searches a RoarGraph-style key-key graph built, per (layer, KV head), from the
// last `build_queries` prefill queries of the group's query heads (methods/roar_graph_index.h) at the
// first decode step. Both count the inner products they compute (ReadSelection::index_reads).
// `kvbench eval --method retrieval_attention --ratio 0.9 [--param index=graph]`.
#include "methods/retrieval_attention.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "backends/cpu/ops.h"
#include "core/error.h"
#include "methods/roar_graph_index.h"
#include "methods/token_selection.h"

namespace kvb {

namespace retrieval {

std::vector<int32_t> flat_search(const float* q, const float* keys, int64_t D, std::span<const int32_t> candidates,
                                 int64_t k) {
  std::vector<float> ip(candidates.size());
  selection::dot_scores(q, keys, candidates, D, 1.0f, ip.data());
  std::vector<int32_t> out;
  for (int32_t r : top_k_stable(ip, k)) out.push_back(candidates[size_t(r)]);
  return out;  // candidates ascending -> out ascending
}

}  // namespace retrieval

namespace {

// Which index retrieves the top-k keys, and the graph's settings (index=graph).
struct IndexOptions {
  bool graph = false;
  int64_t build_queries = 256;  // last prefill queries (per query head) the graph is built from
  retrieval::GraphBuildOptions build;
  int64_t ef = 0;               // search beam; 0: top-k
};

class RetrievalAttention final : public selection::BudgetedSelector {
 public:
  RetrievalAttention(int64_t n_sink, int64_t n_local, int hq, int hkv, IndexOptions index)
      : n_sink_(n_sink), n_local_(n_local), hq_(hq), n_kv_(hkv), index_(index) {}

  PrefillNeeds prefill_needs() const override {
    PrefillNeeds n;
    if (index_.graph) n.window = int(index_.build_queries);
    return n;
  }

  KeepSets compress_prefill(const LayerView& v) override {
    BudgetedSelector::compress_prefill(v);
    if (index_.graph) {  // the last build_queries queries of this layer, [W, Hq*D], until its graphs are built
      const int64_t qd = int64_t(hq_) * v.config->head_dim;
      const int64_t w = std::min<int64_t>(v.window, index_.build_queries);  // a composite may record more
      const float* last = v.window_queries + int64_t(v.window - w) * qd;
      queries_[v.layer].assign(last, last + w * qd);
      graphs_.erase(v.layer);
    }
    return {};
  }

  ReadSelection select(int layer, const float* q, const KVCache& cache) override {
    if (budget_.covers_context()) return {};
    const int64_t top_k = budget_.n_kept - n_sink_ - n_local_;
    KVB_CHECK(top_k >= 1,
              "retrieval_attention: a read budget of {} entries leaves no room for retrieved keys beyond n_sink {} + "
              "n_local {} (lower them or raise the budget)",
              budget_.n_kept, n_sink_, n_local_);
    const int Hkv = cache.n_kv_heads();
    const int64_t D = cache.head_dim(), group = hq_ / Hkv;
    ReadSelection sel;
    sel.per_query_head = true;
    sel.sets.resize(size_t(hq_));
    sel.second.resize(size_t(hq_));
    bool retrieves_all = true;
    struct GroupPart {  // per KV head: the static entries, the candidates, the rows, the graph if any
      std::vector<int32_t> fixed, cand;
      HeadRows rows;
      const Graph* graph;
    };
    std::vector<GroupPart> gp;
    for (int g = 0; g < Hkv; ++g) {
      const HeadCache& h = cache.head(layer, g);
      const selection::HeadParts parts = selection::split_by_context(h, budget_.n_context);
      const int64_t T = h.size();
      std::vector<char> is_static(size_t(T), 0);
      for (int64_t r = 0; r < std::min<int64_t>(n_sink_, int64_t(parts.compressed.size())); ++r)
        is_static[size_t(parts.compressed[size_t(r)])] = 1;
      const int64_t n_old = int64_t(parts.compressed.size());
      for (int64_t r = std::max<int64_t>(0, n_old - n_local_); r < n_old; ++r)
        is_static[size_t(parts.compressed[size_t(r)])] = 1;
      for (int32_t j : parts.newer) is_static[size_t(j)] = 1;
      std::vector<int32_t> fixed, cand;
      for (int64_t j = 0; j < T; ++j) (is_static[size_t(j)] ? fixed : cand).push_back(int32_t(j));
      const bool fits = int64_t(cand.size()) <= top_k;
      retrieves_all &= fits;
      HeadRows rows = cache.rows(layer, g);
      const Graph* graph = index_.graph && !fits ? &graph_for(layer, g, h, rows, cand, D) : nullptr;
      gp.push_back({std::move(fixed), std::move(cand), std::move(rows), graph});
    }
    if (retrieves_all) return {};  // static + retrieved = every entry: dense attention
    // Query heads in parallel, each writing only its own sets and count (same bits at any thread count).
    std::vector<int64_t> reads(static_cast<size_t>(hq_), 0);
#pragma omp parallel for schedule(static)
    for (int qh = 0; qh < hq_; ++qh) {
      const GroupPart& p = gp[size_t(qh / group)];
      sel.sets[size_t(qh)] = p.fixed;
      if (p.graph) {
        std::vector<int32_t> found =
            p.graph->index.search(q + qh * D, p.rows.keys(), p.cand.data(), top_k, index_.ef, &reads[size_t(qh)]);
        for (int32_t& r : found) r = p.cand[size_t(r)];  // graph rows -> cache entries (both ascending)
        sel.second[size_t(qh)] = std::move(found);
      } else {
        sel.second[size_t(qh)] = retrieval::flat_search(q + qh * D, p.rows.keys(), D, p.cand, top_k);
        reads[size_t(qh)] = int64_t(p.cand.size());
      }
    }
    for (int64_t r : reads) sel.index_reads += r;
    return sel;
  }

 private:
  struct Graph {
    retrieval::RoarGraphIndex index;
    std::vector<int32_t> positions;  // [C] the candidates it was built on (original positions)
  };

  // The graph of (layer, KV head g) over the candidate entries `cand`; built on first use from this
  // layer's recorded queries (every query head of the group), rebuilt if the candidates changed.
  const Graph& graph_for(int layer, int g, const HeadCache& h, const HeadRows& rows, const std::vector<int32_t>& cand,
                         int64_t D) {
    std::vector<int32_t> pos;
    for (int32_t j : cand) pos.push_back(h.positions()[size_t(j)]);
    std::vector<Graph>& per_head = graphs_[layer];
    per_head.resize(size_t(n_kv_));
    Graph& gr = per_head[size_t(g)];
    if (gr.index.size() > 0 && gr.positions == pos) return gr;
    const auto it = queries_.find(layer);
    const int64_t qd = int64_t(hq_) * D;
    KVB_CHECK(it != queries_.end() && !it->second.empty(),
              "retrieval_attention index=graph: no prefill queries were recorded for layer {} (build_queries={})",
              layer, index_.build_queries);
    const int64_t W = int64_t(it->second.size()) / qd, group = hq_ / n_kv_;
    // Keys [C, D] of the candidates; build queries [W * group, D] of the group's query heads.
    std::vector<float> keys(cand.size() * size_t(D)), qs(size_t(W * group * D));
    for (size_t r = 0; r < cand.size(); ++r) std::copy(rows.key(cand[r]), rows.key(cand[r]) + D, keys.begin() + int64_t(r) * D);
    for (int64_t w = 0; w < W; ++w)
      for (int64_t i = 0; i < group; ++i) {
        const float* src = it->second.data() + w * qd + (g * group + i) * D;
        std::copy(src, src + D, qs.begin() + (w * group + i) * D);
      }
    gr.index = retrieval::RoarGraphIndex::build(keys.data(), int64_t(cand.size()), qs.data(), W * group, D,
                                                index_.build);
    gr.positions = std::move(pos);
    return gr;
  }
  int64_t n_sink_, n_local_;
  int hq_, n_kv_;
  IndexOptions index_;
  std::map<int, std::vector<float>> queries_;   // layer -> [W, Hq*D] build queries
  std::map<int, std::vector<Graph>> graphs_;    // layer -> [Hkv]
};

KVB_REGISTER_METHOD(retrieval_attention, 1, "RetrievalAttention: Liu et al. 2024, arXiv:2409.10516",
                    "selector=static sinks + recent, plus per query head the top-k keys of the rest by inner product "
                    "(index=flat: exact scan; index=graph: best-first search of a RoarGraph-style key-key graph built "
                    "from prefill queries), the two partial attentions merged by log-sum-exp (--ratio/--budget = "
                    "entries of the compressed part read per step and query head, static part included), cache "
                    "untouched",
                    MethodRoles{.selects = true, .budget = Budget::ReadsPerStep},
                    {{"n_sink", "32", "first entries in the static set (paper: 128; scaled for 1K-8K contexts)"},
                     {"n_local", "128", "newest entries in the static set (paper: 512; scaled for 1K-8K contexts)"},
                     {"index", "flat", "flat (exact scan of every candidate) or graph (RoarGraph-style ANN index)"},
                     {"build_queries", "256", "index=graph: last prefill queries per query head the graph is built from"},
                     {"knn", "16", "index=graph: exact nearest keys of each build query projected onto the graph"},
                     {"max_degree", "32", "index=graph: out-edges per key from the projection (plus 2 position links)"},
                     {"ef", "0", "index=graph: search beam width (0: top-k)"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      const int64_t sink = ctx.params.get_int("n_sink"), local = ctx.params.get_int("n_local");
                      KVB_CHECK(sink >= 0 && local >= 0, "retrieval_attention: n_sink {} and n_local {} must be >= 0",
                                sink, local);
                      const std::string index = ctx.params.get_string("index");
                      KVB_CHECK(index == "flat" || index == "graph",
                                "retrieval_attention: index '{}' is not one of flat, graph", index);
                      IndexOptions o;
                      o.graph = index == "graph";
                      o.build_queries = ctx.params.get_int("build_queries");
                      o.build.knn = ctx.params.get_int("knn");
                      o.build.max_degree = ctx.params.get_int("max_degree");
                      o.ef = ctx.params.get_int("ef");
                      KVB_CHECK(o.build_queries >= 1 && o.build.knn >= 2 && o.build.max_degree >= 1 && o.ef >= 0,
                                "retrieval_attention: build_queries {} must be >= 1, knn {} >= 2, max_degree {} >= 1, "
                                "ef {} >= 0",
                                o.build_queries, o.build.knn, o.build.max_degree, o.ef);
                      return std::make_unique<RetrievalAttention>(sink, local, ctx.config->n_heads,
                                                                  ctx.config->n_kv_heads, o);
                    });

}  // namespace
}  // namespace kvb
