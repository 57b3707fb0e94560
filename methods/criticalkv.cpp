// criticalkv: two-stage selection weighting any scorer by how much each value perturbs the attention
// output (Feng et al. 2025, arXiv:2502.03805; kvpress CriticalKVPress). Stage 1 secures the scorer's
// best int((1 - ratio) * T * first_stage_ratio) entries per head; stage 2 ranks the rest by
// (score + critical_epsilon) * ||v W_o||_1 (mean over the GQA group); the uniform top-k follows.
// The head-adaptive form is criticaladakv. `kvbench eval --method criticalkv --param scorer=snapkv --ratio 0.5`.
#include "methods/criticalkv.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "engine/transformer.h"
#include "model/checkpoint.h"

namespace kvb {

Scores projected_value_l1(const LayerView& v, const WeightMatrix& wo) {
  const ModelConfig& c = *v.config;
  const int Hq = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim, group = Hq / Hkv;
  const int64_t E = wo.rows(), HD = wo.cols();
  KVB_CHECK(HD == int64_t(Hq) * D, "criticalkv: layer {}'s output projection has {} columns, not {} heads x {}", v.layer,
            HD, Hq, D);
  std::vector<float> w(size_t(E * HD));
  if (wo.dtype() == DType::F32)
    std::copy_n(wo.f32_data(), E * HD, w.data());
  else
    wo.dequantize_rows(0, E, w.data());
  Scores out(static_cast<size_t>(Hkv));
  for (int kh = 0; kh < Hkv; ++kh) {
    const HeadRows rows = v.cache->rows(v.layer, kh);
    const int64_t T = rows.size();
    std::vector<float> proj(size_t(T * E));
    std::vector<float> sum(size_t(T), 0.0f);
    for (int g = 0; g < group; ++g) {
      const int qh = kh * group + g;
      // proj[T, E] = V[T, D] . W_o[:, qh*D : (qh+1)*D]^T
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(E), D, 1.0f, rows.values(), D,
                  w.data() + int64_t(qh) * D, int(HD), 0.0f, proj.data(), int(E));
      for (int64_t t = 0; t < T; ++t) {
        double l1 = 0;
        for (int64_t e = 0; e < E; ++e) l1 += std::fabs(proj[size_t(t * E + e)]);
        sum[size_t(t)] += float(l1);
      }
    }
    out[size_t(kh)].resize(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) out[size_t(kh)][size_t(t)] = sum[size_t(t)] / float(group);
  }
  return out;
}

std::vector<const WeightMatrix*> output_projections(const MethodContext& ctx, const char* method) {
  KVB_CHECK(ctx.model != nullptr, "{}: needs the model's output projections; it was built without a model", method);
  std::vector<const WeightMatrix*> wo;
  for (const LayerWeights& l : ctx.model->weights().layers) wo.push_back(&l.wo);
  return wo;
}

namespace {

Scorer criticalkv_scorer(const MethodContext& ctx) {
  Scorer inner = make_wrapped_scorer(ctx);
  const double eps = ctx.params.get_double("critical_epsilon"), first = ctx.params.get_double("first_stage_ratio");
  KVB_CHECK(first >= 0.0 && first <= 1.0, "criticalkv: first_stage_ratio {} is outside [0, 1]", first);
  const std::vector<const WeightMatrix*> wo = output_projections(ctx, "criticalkv");
  Scorer s;
  s.needs = inner.needs;
  s.score = [inner, eps, first, wo, ctx](const LayerView& v) {
    Scores out = inner.score(v);
    const int64_t T = int64_t(out[0].size());
    const double ratio = effective_ratio(ctx, T);
    // Stage 1: int((1 - ratio) * T * first_stage_ratio), at least 1 when first_stage_ratio > 0.
    int64_t n_first = int64_t((1.0 - ratio) * double(T) * first);
    if (first > 0) n_first = std::max<int64_t>(1, n_first);
    std::vector<std::vector<int32_t>> secured;
    for (const auto& row : out) secured.push_back(torch_topk_order(row, n_first));
    // Stage 2: (score + eps) * ||v W_o||_1, stage 1's entries first.
    const Scores norm = projected_value_l1(v, *wo[size_t(v.layer)]);
    for (size_t h = 0; h < out.size(); ++h) {
      for (int64_t t = 0; t < T; ++t) out[h][size_t(t)] = (out[h][size_t(t)] + float(eps)) * norm[h][size_t(t)];
      for (int32_t j : secured[h]) out[h][size_t(j)] = std::numeric_limits<float>::max();
    }
    return out;
  };
  return s;
}

KVB_REGISTER_METHOD(criticalkv, 1, "CriticalKV: Feng et al. 2025, arXiv:2502.03805 (kvpress CriticalKVPress)",
                    "scorer=any (param scorer), re-weighted by ||v W_o||_1 after a first-stage top-k; budget=uniform, "
                    "schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::Uniform},
                    {{"scorer", "snapkv", "the scorer method of the first stage"},
                     {"critical_epsilon", "0.0001", "added to the scores before the ||v W_o||_1 weighting (kvpress epsilon)"},
                     {"first_stage_ratio", "0.5", "share of the kept entries chosen by the scorer alone"}},
                    [](const MethodContext& ctx) { return make_scored_method(criticalkv_scorer(ctx), uniform_budget()); },
                    nullptr, true);

}  // namespace
}  // namespace kvb
