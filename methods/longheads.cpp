// longheads: LongHeads, per-head chunk selection at decode (Lu et al. 2024, arXiv:2402.10685;
// reference LuLuLuyi/LongHeads modeling_longheads/modeling_llama.py). The cache keeps every entry.
// After the compressed prefill each layer computes, per query head, a key feature c_k for every whole
// chunk of w tokens of the compressed part (methods/longheads.h). Each decode step, every query head
// scores the chunks between the first and the last whole chunk by q . c_k (q rotated back to
// pre-RoPE, as the reference scores its unrotated query; unscaled) and reads the first chunk, its top
// chunks, the last whole chunk and the partial newest chunk, plus every entry after the compressed
// part (question, generated tokens); the read entries attend at compact positions 0..R-1
// (ReadSelection::compact_positions, the reference's re-rotation; CPU backend only). The prefill
// stays dense (the reference also streams the prefill past atten_length; kvbench's is dense).
// `kvbench eval --method longheads --ratio 0.5 --param chunk_size=64`.
#include "methods/longheads.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/ops.h"
#include "core/error.h"
#include "methods/token_selection.h"
#include "model/rope.h"

namespace kvb {

namespace {

// softmax(scores) in place over n entries (max-shifted, double sum).
void softmax_in_place(float* s, int64_t n) {
  float mx = s[0];
  for (int64_t j = 1; j < n; ++j) mx = std::max(mx, s[j]);
  double sum = 0.0;
  for (int64_t j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - mx));
  for (int64_t j = 0; j < n; ++j) s[j] = float(s[j] / sum);
}

}  // namespace

std::vector<std::vector<float>> longheads_chunk_keys(const LayerView& v, int64_t w, bool causal) {
  const ModelConfig& c = *v.config;
  const int64_t T = v.n_context, D = c.head_dim, Hq = c.n_heads, Hkv = c.n_kv_heads, group = Hq / Hkv;
  const int64_t QD = Hq * D, GD = group * D, g = T / w;
  KVB_CHECK(v.window == T, "longheads: layer {}: the queries of {} of the {} prompt tokens were recorded", v.layer,
            v.window, T);
  std::vector<HeadRows> rows;
  for (int64_t kh = 0; kh < Hkv; ++kh) {
    const std::vector<int32_t>& pos = v.cache->head(v.layer, int(kh)).positions();
    KVB_CHECK(int64_t(pos.size()) == T, "longheads: layer {} head {} holds {} entries, not the compressed part's {}",
              v.layer, kh, pos.size(), T);
    for (int64_t j = 0; j < T; ++j)
      KVB_CHECK(v.window_positions[j] == pos[size_t(j)], "longheads: layer {}: query row {} is at position {}, entry "
                "{} of head {} at {}", v.layer, j, v.window_positions[j], j, kh, pos[size_t(j)]);
    rows.push_back(v.cache->rows(v.layer, int(kh)));
  }
  const std::vector<float> inv_freq = rope_inv_freq(c);
  const float scale = 1.0f / std::sqrt(float(D));
  std::vector<std::vector<float>> ck(size_t(Hq), std::vector<float>(size_t(g * D), 0.0f));
  // One (KV head, chunk) per iteration; each writes its own c_k rows only.
#pragma omp parallel
  {
    std::vector<int32_t> to_local(static_cast<size_t>(w));
    std::vector<float> q(static_cast<size_t>(w * GD)), k(static_cast<size_t>(w * D)), s(static_cast<size_t>(w)),
        cv(static_cast<size_t>(D));
#pragma omp for schedule(dynamic)
    for (int64_t at = 0; at < Hkv * g; ++at) {
      const int64_t kh = at / g, ch = at % g, first = ch * w;
      const std::vector<int32_t>& pos = v.cache->head(v.layer, int(kh)).positions();
      const HeadRows& r = rows[size_t(kh)];
      // Keys [w, D] and the group's queries [w, group*D] rotated from their positions to 0..w-1.
      for (int64_t i = 0; i < w; ++i) {
        to_local[size_t(i)] = int32_t(i) - pos[size_t(first + i)];
        const float* qi = v.window_queries + (first + i) * QD + kh * GD;
        std::copy(qi, qi + GD, q.begin() + i * GD);
      }
      std::copy(r.key(first), r.key(first) + w * D, k.begin());
      rope(k.data(), w, 1, D, D, to_local.data(), inv_freq, c.rope_neox);
      rope(q.data(), w, group, D, GD, to_local.data(), inv_freq, c.rope_neox);
      for (int64_t hg = 0; hg < group; ++hg) {
        // c_v: the mean over the chunk's queries of their attention output inside the chunk.
        std::fill(cv.begin(), cv.end(), 0.0f);
        for (int64_t i = 0; i < w; ++i) {
          const int64_t n = causal ? i + 1 : w;
          for (int64_t j = 0; j < n; ++j) s[size_t(j)] = cpu::dot(q.data() + i * GD + hg * D, k.data() + j * D, D) * scale;
          softmax_in_place(s.data(), n);
          for (int64_t j = 0; j < n; ++j)
            for (int64_t d = 0; d < D; ++d) cv[size_t(d)] += s[size_t(j)] * r.value(first + j)[d];
        }
        for (float& x : cv) x /= float(w);
        // c_k: the chunk's keys averaged by c_v's attention over them.
        for (int64_t j = 0; j < w; ++j) s[size_t(j)] = cpu::dot(cv.data(), k.data() + j * D, D) * scale;
        softmax_in_place(s.data(), w);
        float* out = ck[size_t(kh * group + hg)].data() + ch * D;
        for (int64_t j = 0; j < w; ++j)
          for (int64_t d = 0; d < D; ++d) out[d] += s[size_t(j)] * k[size_t(j * D + d)];
      }
    }
  }
  return ck;
}

namespace {

class LongHeads final : public selection::BudgetedSelector {
 public:
  LongHeads(const ModelConfig& c, int64_t chunk, bool causal, bool compact)
      : config_(c), w_(chunk), causal_(causal), compact_(compact), inv_freq_(rope_inv_freq(c)) {}

  PrefillNeeds prefill_needs() const override {
    PrefillNeeds n;
    n.window = std::numeric_limits<int>::max();  // the queries of every prompt token (clamped to T)
    return n;
  }

  KeepSets compress_prefill(const LayerView& v) override {
    BudgetedSelector::compress_prefill(v);
    if (chunk_keys_.empty()) chunk_keys_.resize(size_t(config_.n_layers));
    if (!budget_.covers_context()) chunk_keys_[size_t(v.layer)] = longheads_chunk_keys(v, w_, causal_);
    return {};
  }

  ReadSelection select(int layer, const float* q, const KVCache& cache) override {
    if (budget_.covers_context()) return {};
    const int64_t T = budget_.n_context, g = T / w_, tail = T % w_;
    // Whole chunks the budget reads besides the partial newest chunk (which takes one chunk's slot).
    const int64_t whole = budget_.n_kept / w_ - (tail > 0 ? 1 : 0);
    // Every chunk fits, or there are no candidates between the first and the last whole chunk (always
    // read): the step reads everything.
    if (whole >= g || g <= 2) return {};
    KVB_CHECK(whole >= 2,
              "longheads: a read budget of {} entries holds {} whole chunks of chunk_size {} (besides the partial "
              "newest chunk of {}); the first and the local chunk need 2 (lower chunk_size or raise the budget)",
              budget_.n_kept, std::max<int64_t>(whole, 0), w_, tail);
    const int Hq = config_.n_heads, Hkv = cache.n_kv_heads();
    const int64_t D = cache.head_dim(), group = Hq / Hkv;
    // The step's query rotated back to pre-RoPE (its position: the newest entry's).
    std::vector<float> q_pre(q, q + int64_t(Hq) * D);
    const int32_t back = -cache.head(layer, 0).positions().back();
    rope(q_pre.data(), 1, Hq, D, int64_t(Hq) * D, &back, inv_freq_, config_.rope_neox);
    const std::vector<std::vector<float>>& ck = chunk_keys_[size_t(layer)];
    ReadSelection sel;
    sel.per_query_head = true;
    sel.compact_positions = compact_;
    sel.sets.resize(size_t(Hq));
    std::vector<float> score(size_t(g - 2));
    std::vector<char> chosen(static_cast<size_t>(g));
    for (int qh = 0; qh < Hq; ++qh) {
      // Candidates: whole chunks 1..g-2; the first and the last whole chunk are always read.
      for (int64_t ch = 1; ch + 1 < g; ++ch)
        score[size_t(ch - 1)] = cpu::dot(q_pre.data() + qh * D, ck[size_t(qh)].data() + ch * D, D);
      std::fill(chosen.begin(), chosen.end(), 0);
      chosen[0] = chosen[size_t(g - 1)] = 1;
      for (int32_t i : top_k_stable(score, whole - 2)) chosen[size_t(i + 1)] = 1;
      const std::vector<int32_t>& pos = cache.head(layer, int(qh / group)).positions();
      std::vector<int32_t>& set = sel.sets[size_t(qh)];
      for (size_t j = 0; j < pos.size(); ++j)  // by position: an evicting part may have dropped entries
        if (pos[j] >= g * w_ || chosen[size_t(pos[j] / w_)]) set.push_back(int32_t(j));
    }
    return sel;
  }

 private:
  const ModelConfig& config_;
  int64_t w_;
  bool causal_, compact_;
  std::vector<float> inv_freq_;
  std::vector<std::vector<std::vector<float>>> chunk_keys_;  // [L][Hq][g * D]
};

KVB_REGISTER_METHOD(longheads, 1, "LongHeads: Lu et al. 2024, arXiv:2402.10685",
                    "selector=per query head, chunks of chunk_size scored by pre-RoPE q . c_k (chunk key features "
                    "computed once after the prefill with RoPE inside the chunk); reads the first chunk, the top "
                    "chunks, the last whole chunk and the partial newest one (--ratio/--budget = entries of the "
                    "compressed part read per step, in whole chunks), compact positions; cache untouched, prefill "
                    "dense",
                    MethodRoles{.selects = true, .budget = Budget::ReadsPerStep},
                    {{"chunk_size", "64", "tokens per chunk (reference window_size 256, scaled 1/4 for 1K-8K contexts)"},
                     {"chunk_attention", "bidirectional",
                      "attention inside a chunk for c_v: bidirectional (the reference's FlashSelfAttention("
                      "causal=False)) or causal (the paper's text)"},
                     {"position_mode", "compact",
                      "compact: the read entries attend at positions 0..R-1 (the reference; cpu backend only); "
                      "original: at their own positions"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      const int64_t chunk = ctx.params.get_int("chunk_size");
                      KVB_CHECK(chunk >= 1, "longheads: chunk_size {} must be >= 1", chunk);
                      const std::string attn = ctx.params.get_string("chunk_attention");
                      KVB_CHECK(attn == "bidirectional" || attn == "causal",
                                "longheads: chunk_attention '{}' must be bidirectional or causal", attn);
                      const std::string mode = ctx.params.get_string("position_mode");
                      KVB_CHECK(mode == "compact" || mode == "original",
                                "longheads: position_mode '{}' must be compact or original", mode);
                      return std::make_unique<LongHeads>(*ctx.config, chunk, attn == "causal", mode == "compact");
                    });

}  // namespace
}  // namespace kvb
