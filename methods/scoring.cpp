// Scorer / budget-policy building blocks (see scoring.h).
#include "methods/scoring.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "backends/cpu/ops.h"
#include "core/error.h"

namespace kvb {

std::vector<int32_t> torch_topk_order(const std::vector<float>& x, int64_t k) {
  const int64_t n = int64_t(x.size());
  k = std::clamp<int64_t>(k, 0, n);
  if (k == 0) return {};
  // ATen's CPU top-k (TopKImpl.h): (value, index) pairs in index order, a comparator on values only,
  // partial_sort when k * 64 <= n, else nth_element then a sort of the first k - 1.
  std::vector<std::pair<double, int64_t>> q(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) q[size_t(j)] = {double(x[size_t(j)]), j};
  auto cmp = [](const std::pair<double, int64_t>& a, const std::pair<double, int64_t>& b) {
    return (std::isnan(a.first) && !std::isnan(b.first)) || a.first > b.first;
  };
  if (k * 64 <= n) {
    std::partial_sort(q.begin(), q.begin() + k, q.end(), cmp);
  } else {
    std::nth_element(q.begin(), q.begin() + (k - 1), q.end(), cmp);
    std::sort(q.begin(), q.begin() + (k - 1), cmp);
  }
  std::vector<int32_t> out(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) out[size_t(i)] = int32_t(q[size_t(i)].second);
  return out;
}

std::vector<int32_t> top_k_indices(const std::vector<float>& scores, int64_t k) {
  std::vector<int32_t> idx = torch_topk_order(scores, k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

KeepSets top_k_per_head(const Scores& scores, int64_t k) {
  KeepSets keep(scores.size());
  for (size_t h = 0; h < scores.size(); ++h) keep[h] = top_k_indices(scores[h], k);
  return keep;
}

BudgetPolicy uniform_budget() {
  return {[](const LayerView& v, const Scores& s) { return top_k_per_head(s, v.n_kept); }};
}

namespace {

class ScoredMethod final : public Method {
 public:
  ScoredMethod(Scorer scorer, BudgetPolicy policy) : scorer_(std::move(scorer)), policy_(std::move(policy)) {}
  PrefillNeeds prefill_needs() const override { return scorer_.needs; }
  KeepSets compress_prefill(const LayerView& v) override {
    if (v.n_kept >= v.n_context) return {};
    Scores computed;
    const Scores& s = scores(v, computed);
    KVB_CHECK(int64_t(s.size()) == v.cache->n_kv_heads(), "scorer returned {} heads, the cache has {}", s.size(),
              v.cache->n_kv_heads());
    for (size_t h = 0; h < s.size(); ++h)
      KVB_CHECK(int64_t(s[h].size()) == v.cache->head(v.layer, int(h)).size(),
                "scorer returned {} scores for layer {} head {}, which holds {} entries", s[h].size(), v.layer, h,
                v.cache->head(v.layer, int(h)).size());
    return policy_.select(v, s);
  }

 private:
  // The layer's scores: from the prefill's memo when this scorer's are there, else computed (and
  // memoized when the scorer allows it).
  const Scores& scores(const LayerView& v, Scores& computed) {
    if (!v.score_memo || scorer_.memo_key.empty()) return computed = scorer_.score(v);
    const auto key = std::make_pair(scorer_.memo_key, v.layer);
    auto it = v.score_memo->scores.find(key);
    if (it == v.score_memo->scores.end()) it = v.score_memo->scores.emplace(key, scorer_.score(v)).first;
    return it->second;
  }

  Scorer scorer_;
  BudgetPolicy policy_;
};

}  // namespace

std::unique_ptr<Method> make_scored_method(Scorer scorer, BudgetPolicy policy) {
  return std::make_unique<ScoredMethod>(std::move(scorer), std::move(policy));
}

std::vector<std::vector<float>> window_attention(const LayerView& v, int window) {
  const ModelConfig& c = *v.config;
  const int Hq = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim, group = Hq / Hkv;
  KVB_CHECK(window <= v.window && v.window_queries, "layer {}: window attention over {} queries, {} recorded",
            v.layer, window, v.window);
  const float* q0 = v.window_queries + int64_t(v.window - window) * Hq * D;  // last `window` rows
  const float scale = 1.0f / std::sqrt(float(D));
  std::vector<std::vector<float>> out(static_cast<size_t>(Hq));
  // Query heads in parallel (OpenBLAS runs single-threaded inside the region); a head's values do
  // not depend on the thread count.
#pragma omp parallel for schedule(dynamic)
  for (int qh = 0; qh < Hq; ++qh) {
    const HeadRows h = v.cache->rows(v.layer, qh / group);
    const int64_t T = h.size();
    std::vector<float>& a = out[size_t(qh)];
    a.resize(size_t(window * T));
    // a[window, T] = scale * Q_w[window, D] . K[T, D]^T, then a causal softmax per row.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, window, int(T), D, scale, q0 + int64_t(qh) * D, Hq * D,
                h.keys(), D, 0.0f, a.data(), int(T));
    for (int i = 0; i < window; ++i) {
      float* row = a.data() + int64_t(i) * T;
      const int64_t visible = T - window + i + 1;  // causal inside the window
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < visible; ++j) mx = std::max(mx, row[j]);
      double sum = 0;
      for (int64_t j = 0; j < visible; ++j) {
        row[j] = cpu::exp_nonpositive(row[j] - mx);
        sum += row[j];
      }
      const float inv = float(1.0 / sum);
      for (int64_t j = 0; j < visible; ++j) row[j] *= inv;
      std::fill(row + visible, row + T, 0.0f);
    }
  }
  return out;
}

std::vector<std::vector<float>> mean_over_window(const std::vector<std::vector<float>>& attn, int window,
                                                 int64_t n_cols) {
  std::vector<std::vector<float>> out(attn.size(), std::vector<float>(size_t(n_cols), 0.0f));
  for (size_t qh = 0; qh < attn.size(); ++qh) {
    const int64_t T = int64_t(attn[qh].size()) / window;
    float* m = out[qh].data();
    // Row by row (contiguous reads); each column still sums its rows in order 0..window-1.
    for (int i = 0; i < window; ++i) {
      const float* row = attn[qh].data() + int64_t(i) * T;
      for (int64_t j = 0; j < n_cols; ++j) m[j] += row[j];
    }
    for (int64_t j = 0; j < n_cols; ++j) m[j] /= float(window);
  }
  return out;
}

Scores mean_over_group(const std::vector<std::vector<float>>& per_query_head, int n_kv_heads) {
  const int n_heads = int(per_query_head.size()), group = n_heads / n_kv_heads;
  const size_t T = per_query_head.empty() ? 0 : per_query_head[0].size();
  Scores s(size_t(n_kv_heads), std::vector<float>(T, 0.0f));
  for (int kh = 0; kh < n_kv_heads; ++kh)
    for (size_t j = 0; j < T; ++j) {
      float m = 0;
      for (int g = 0; g < group; ++g) m += per_query_head[size_t(kh * group + g)][j];
      s[size_t(kh)][j] = m / float(group);
    }
  return s;
}

std::vector<float> avg_pool1d_same(const std::vector<float>& x, int kernel) {
  const int64_t n = int64_t(x.size()), pad = kernel / 2, out_n = n + 2 * pad - kernel + 1;
  std::vector<float> out(size_t(std::max<int64_t>(out_n, 0)));
  for (int64_t i = 0; i < out_n; ++i) {
    float acc = 0;
    for (int k = 0; k < kernel; ++k) {
      int64_t j = i - pad + k;
      if (j >= 0 && j < n) acc += x[size_t(j)];
    }
    out[size_t(i)] = acc / float(kernel);
  }
  return out;
}

std::vector<float> max_pool1d_same(const std::vector<float>& x, int kernel) {
  const int64_t n = int64_t(x.size()), pad = kernel / 2, out_n = n + 2 * pad - kernel + 1;
  std::vector<float> out(size_t(std::max<int64_t>(out_n, 0)));
  for (int64_t i = 0; i < out_n; ++i) {
    float m = -std::numeric_limits<float>::infinity();
    for (int k = 0; k < kernel; ++k) {
      int64_t j = i - pad + k;
      if (j >= 0 && j < n) m = std::max(m, x[size_t(j)]);
    }
    out[size_t(i)] = m;
  }
  return out;
}

float max_score(const Scores& s) {
  float m = -std::numeric_limits<float>::infinity();
  for (const auto& h : s)
    for (float x : h) m = std::max(m, x);
  return m;
}

bool scores_entries_only(const Scorer& s) {
  return s.needs.window == 0 && !s.needs.attention_mass && s.needs.query_stats_from < 0;
}

Scores score_entry_subset(const Scorer& s, const LayerView& v, const std::vector<std::vector<int32_t>>& rows,
                          const std::function<int64_t(int64_t)>& kept) {
  const int Hkv = v.cache->n_kv_heads();
  const int64_t D = v.cache->head_dim();
  KVB_CHECK(int64_t(rows.size()) == Hkv, "score_entry_subset: {} row lists for {} heads", rows.size(), Hkv);
  // A cache whose layer v.layer holds only the chosen rows of each head (earlier layers empty).
  KVCache sub(v.layer + 1, Hkv, int(D));
  for (int h = 0; h < Hkv; ++h) {
    const HeadRows all = v.cache->rows(v.layer, h);
    const auto& pos = v.cache->head(v.layer, h).positions();
    const std::vector<int32_t>& r = rows[size_t(h)];
    std::vector<float> k(r.size() * size_t(D)), val(r.size() * size_t(D));
    std::vector<int32_t> p(r.size());
    for (size_t i = 0; i < r.size(); ++i) {
      std::copy_n(all.key(r[i]), D, k.data() + i * size_t(D));
      std::copy_n(all.value(r[i]), D, val.data() + i * size_t(D));
      p[i] = pos[size_t(r[i])];
    }
    sub.append(v.layer, h, k.data(), val.data(), D, p.data(), int64_t(r.size()));
  }
  LayerView w = v;
  w.cache = &sub;
  w.window_queries = nullptr;
  w.window_positions = nullptr;
  w.window = 0;
  w.attn_mass = nullptr;
  w.query_stats = nullptr;
  w.score_memo = nullptr;
  w.n_context = int64_t(rows[0].size());
  w.n_kept = kept(w.n_context);
  return s.score(w);
}

double effective_ratio(const MethodContext& ctx, int64_t n) {
  if (ctx.token_budget > 0) return n > 0 ? 1.0 - double(std::min(ctx.token_budget, n)) / double(n) : 0.0;
  return ctx.compression_ratio;
}

}  // namespace kvb
