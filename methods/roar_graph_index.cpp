// retrieval_attention's RoarGraph-style key-key graph index; see roar_graph_index.h.
#include "methods/roar_graph_index.h"

#include <cblas.h>

#include <algorithm>
#include <queue>

#include "backends/cpu/ops.h"
#include "core/error.h"

namespace kvb::retrieval {

namespace {

// A key with its inner product with the current query; "better" = larger product, then lower row.
struct Scored {
  float s;
  int32_t row;
};
bool better(const Scored& a, const Scored& b) { return a.s > b.s || (a.s == b.s && a.row < b.row); }
struct WorseFirst {  // priority_queue comparator: top() is the best
  bool operator()(const Scored& a, const Scored& b) const { return better(b, a); }
};
struct BetterFirst {  // top() is the worst
  bool operator()(const Scored& a, const Scored& b) const { return better(a, b); }
};

// Rows of the k largest scores of s [T] (ties: the lower row), best first.
std::vector<int32_t> top_rows(const float* s, int64_t T, int64_t k) {
  std::vector<int32_t> idx(static_cast<size_t>(T));
  for (int64_t j = 0; j < T; ++j) idx[size_t(j)] = int32_t(j);
  k = std::min(k, T);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int32_t a, int32_t b) { return better({s[a], a}, {s[b], b}); });
  idx.resize(size_t(k));
  return idx;
}

}  // namespace

RoarGraphIndex RoarGraphIndex::build(const float* keys, int64_t T, const float* queries, int64_t N, int64_t D,
                                     const GraphBuildOptions& opt) {
  KVB_CHECK(T >= 1 && N >= 1 && D >= 1, "graph index: needs keys and build queries (T {}, N {}, D {})", T, N, D);
  KVB_CHECK(opt.knn >= 2 && opt.max_degree >= 1 && opt.n_entry >= 1,
            "graph index: knn {} must be >= 2, max_degree {} and n_entry {} >= 1", opt.knn, opt.max_degree, opt.n_entry);
  RoarGraphIndex g;
  g.D_ = D;
  g.neighbors_.assign(size_t(T), {});
  // 1 + 2: each query's exact kNN keys (scores [Nb, T] per block of queries), projected as
  // pivot <-> other kNN key links; linked[j] collects the keys linked to j, once per query.
  std::vector<std::vector<int32_t>> linked(static_cast<size_t>(T));
  std::vector<int64_t> hits(static_cast<size_t>(T), 0);  // how many queries have key j among their kNN
  constexpr int64_t kQueryBlock = 128;
  std::vector<float> s(size_t(std::min(kQueryBlock, N) * T));
  for (int64_t i0 = 0; i0 < N; i0 += kQueryBlock) {
    const int64_t nb = std::min(kQueryBlock, N - i0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(nb), int(T), int(D), 1.0f, queries + i0 * D, int(D), keys,
                int(D), 0.0f, s.data(), int(T));
    for (int64_t i = 0; i < nb; ++i) {
      const std::vector<int32_t> nn = top_rows(s.data() + i * T, T, opt.knn);  // best first
      for (int32_t j : nn) ++hits[size_t(j)];
      for (size_t r = 1; r < nn.size(); ++r) {
        linked[size_t(nn[0])].push_back(nn[r]);
        linked[size_t(nn[r])].push_back(nn[0]);
        if (r + 1 < nn.size()) {  // consecutive ranks: the query's neighbourhood as a path too
          linked[size_t(nn[r])].push_back(nn[r + 1]);
          linked[size_t(nn[r + 1])].push_back(nn[r]);
        }
      }
    }
  }
  // Per key: candidates by (link count desc, key-key inner product desc, row asc), cut at max_degree.
  struct Cand {
    int32_t row;
    int64_t count;
    float ip;
  };
  for (int64_t j = 0; j < T; ++j) {
    std::vector<int32_t>& l = linked[size_t(j)];
    std::sort(l.begin(), l.end());
    std::vector<Cand> c;
    for (size_t a = 0; a < l.size();) {
      size_t b = a;
      while (b < l.size() && l[b] == l[a]) ++b;
      if (l[a] != j) c.push_back({l[a], int64_t(b - a), cpu::dot(keys + j * D, keys + int64_t(l[a]) * D, D)});
      a = b;
    }
    std::sort(c.begin(), c.end(), [](const Cand& x, const Cand& y) {
      if (x.count != y.count) return x.count > y.count;
      if (x.ip != y.ip) return x.ip > y.ip;
      return x.row < y.row;
    });
    if (int64_t(c.size()) > opt.max_degree) c.resize(size_t(opt.max_degree));
    std::vector<int32_t>& out = g.neighbors_[size_t(j)];
    for (const Cand& x : c) out.push_back(x.row);
    // 3: position links (connectivity).
    for (int64_t p : {j - 1, j + 1})
      if (p >= 0 && p < T && std::find(out.begin(), out.end(), int32_t(p)) == out.end()) out.push_back(int32_t(p));
    std::vector<int32_t>().swap(l);
  }
  // Entry points: the keys most often among the queries' kNN (ties: the lower row).
  std::vector<int32_t> order(static_cast<size_t>(T));
  for (int64_t j = 0; j < T; ++j) order[size_t(j)] = int32_t(j);
  const int64_t ne = std::min(opt.n_entry, T);
  std::partial_sort(order.begin(), order.begin() + ne, order.end(), [&](int32_t a, int32_t b) {
    return hits[size_t(a)] != hits[size_t(b)] ? hits[size_t(a)] > hits[size_t(b)] : a < b;
  });
  g.entry_.assign(order.begin(), order.begin() + ne);
  return g;
}

std::vector<int32_t> RoarGraphIndex::search(const float* q, const float* keys, const int32_t* row_map, int64_t k,
                                            int64_t ef, int64_t* n_dist) const {
  const int64_t T = size();
  if (T == 0 || k <= 0) return {};
  ef = std::max(ef, k);
  std::vector<char> visited(static_cast<size_t>(T), 0);
  std::priority_queue<Scored, std::vector<Scored>, WorseFirst> frontier;  // best unexpanded on top
  std::priority_queue<Scored, std::vector<Scored>, BetterFirst> beam;     // the ef best seen, worst on top
  int64_t computed = 0;
  auto visit = [&](int32_t row) {
    visited[size_t(row)] = 1;
    const Scored x{cpu::dot(q, keys + int64_t(row_map ? row_map[row] : row) * D_, D_), row};
    ++computed;
    if (int64_t(beam.size()) < ef || better(x, beam.top())) {
      frontier.push(x);
      beam.push(x);
      if (int64_t(beam.size()) > ef) beam.pop();
    }
  };
  for (int32_t e : entry_)
    if (!visited[size_t(e)]) visit(e);
  while (!frontier.empty()) {
    const Scored c = frontier.top();
    frontier.pop();
    if (int64_t(beam.size()) >= ef && better(beam.top(), c)) break;  // nothing left can enter the beam
    for (int32_t nb : neighbors_[size_t(c.row)])
      if (!visited[size_t(nb)]) visit(nb);
  }
  if (n_dist) *n_dist += computed;
  std::vector<Scored> found;
  while (!beam.empty()) {
    found.push_back(beam.top());
    beam.pop();
  }
  std::sort(found.begin(), found.end(), better);
  if (int64_t(found.size()) > k) found.resize(size_t(k));
  std::vector<int32_t> out;
  for (const Scored& x : found) out.push_back(x.row);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace kvb::retrieval
