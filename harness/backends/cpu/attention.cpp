// CPU reference attention; see attention.h.
#include "backends/cpu/attention.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "backends/cpu/decode_attention.h"
#include "backends/cpu/partial_attention.h"
#include "core/error.h"

namespace kvb::cpu {

namespace {

// One query against a subset of one head's entries (sorted indices `read`).
void attend_subset(const float* q, const float* K, const float* V, const float* bias, const std::vector<int32_t>& read,
                   int64_t D, float scale, float* out, float* probs, float* mass) {
  const int64_t R = int64_t(read.size());
  dot_rows(q, K, read.data(), R, D, scale, bias, probs);
  masked_softmax(probs, R, R);
  if (mass)
    for (int64_t r = 0; r < R; ++r) mass[read[r]] += probs[r];
  std::fill(out, out + D, 0.0f);
  for (int64_t r = 0; r < R; ++r) {
    const float p = probs[r];
    const float* v = V + int64_t(read[r]) * D;
    for (int64_t d = 0; d < D; ++d) out[d] += p * v[d];
  }
}

}  // namespace

void attention(const float* q, int64_t n, const KVCache& cache, int layer, int n_heads, float scale, float* out,
               std::vector<std::vector<float>>* attn_mass, const std::vector<std::vector<int32_t>>* read,
               MatmulMode mode, const PrefillPattern* pattern) {
  const int64_t D = cache.head_dim(), Hkv = cache.n_kv_heads(), group = n_heads / Hkv, stride = n_heads * D;
  if (pattern && pattern->dense()) pattern = nullptr;
  KVB_CHECK(!pattern || !read || read->empty(), "layer {}: a prefill pattern and a read selection in one call", layer);
  if (pattern) check_prefill_pattern(*pattern, layer, n_heads, cache.head(layer, 0).size(), n);
  if (attn_mass) {
    attn_mass->resize(n_heads);
    for (int qh = 0; qh < n_heads; ++qh) (*attn_mass)[qh].resize(cache.head(layer, qh / group).size(), 0.0f);
  }
  // Dense fp32 rows per KV head (KIVI-encoded heads are dequantized once per call).
  std::vector<std::vector<float>> kbuf(static_cast<size_t>(Hkv)), vbuf(static_cast<size_t>(Hkv));
  std::vector<KVCache::DenseRows> rows;
  for (int64_t g = 0; g < Hkv; ++g) rows.push_back(cache.dense_rows(layer, int(g), kbuf[size_t(g)], vbuf[size_t(g)]));
  if (n == 1 && read && !read->empty()) {
    // Decode with page selection: one query per head against its KV head's selected entries.
#pragma omp parallel
    {
      std::vector<float> probs;
#pragma omp for schedule(static)
      for (int qh = 0; qh < n_heads; ++qh) {
        const HeadCache& h = cache.head(layer, qh / group);
        probs.resize(h.size());
        const KVCache::DenseRows& kv = rows[size_t(qh / group)];
        attend_subset(q + qh * D, kv.keys, kv.values, h.logit_bias().empty() ? nullptr : h.logit_bias().data(),
                      (*read)[qh / group], D, scale, out + qh * D, probs.data(),
                      attn_mass ? (*attn_mass)[qh].data() : nullptr);
      }
    }
    return;
  }
  if (n == 1 && !pattern) {
    // Decode: the `group` query heads of each KV head together (each key / value row loaded once),
    // keys in chunks of kDecodeChunk: scores per (KV head, chunk), softmax per query head, P.V per
    // (KV head, chunk) into a partial sum, partial sums added in chunk order. The chunking is fixed,
    // so any thread count gives the same bits.
    constexpr int64_t kDecodeChunk = 256;
    struct Chunk {
      int64_t g, j0, j1;
    };
    std::vector<Chunk> chunks;
    std::vector<size_t> first_chunk(size_t(Hkv) + 1);
    for (int64_t g = 0; g < Hkv; ++g) {
      first_chunk[size_t(g)] = chunks.size();
      const int64_t T = cache.head(layer, int(g)).size();
      for (int64_t j0 = 0; j0 < T; j0 += kDecodeChunk) chunks.push_back({g, j0, std::min(T, j0 + kDecodeChunk)});
    }
    first_chunk[size_t(Hkv)] = chunks.size();
    std::vector<std::vector<float>> probs(static_cast<size_t>(n_heads));
    for (int qh = 0; qh < n_heads; ++qh) probs[size_t(qh)].resize(size_t(cache.head(layer, qh / group).size()));
    std::vector<float> partial(chunks.size() * size_t(group * D), 0.0f);  // [chunk][group, D]
#pragma omp parallel
    {
      std::vector<float*> s(static_cast<size_t>(group));
      std::vector<const float*> pr(static_cast<size_t>(group));
#pragma omp for schedule(static)
      for (size_t c = 0; c < chunks.size(); ++c) {
        const Chunk& ch = chunks[c];
        const HeadCache& h = cache.head(layer, int(ch.g));
        for (int64_t i = 0; i < group; ++i) s[size_t(i)] = probs[size_t(ch.g * group + i)].data() + ch.j0;
        group_scores(q + ch.g * group * D, int(group), rows[size_t(ch.g)].keys + ch.j0 * D, ch.j1 - ch.j0, D, scale,
                     h.logit_bias().empty() ? nullptr : h.logit_bias().data() + ch.j0, s.data());
      }
#pragma omp for schedule(static)
      for (int qh = 0; qh < n_heads; ++qh) {
        std::vector<float>& p = probs[size_t(qh)];
        const int64_t T = int64_t(p.size());
        masked_softmax(p.data(), T, T);
        if (attn_mass)
          for (int64_t j = 0; j < T; ++j) (*attn_mass)[size_t(qh)][size_t(j)] += p[size_t(j)];
      }
#pragma omp for schedule(static)
      for (size_t c = 0; c < chunks.size(); ++c) {
        const Chunk& ch = chunks[c];
        for (int64_t i = 0; i < group; ++i) pr[size_t(i)] = probs[size_t(ch.g * group + i)].data() + ch.j0;
        group_weighted_values(pr.data(), int(group), rows[size_t(ch.g)].values + ch.j0 * D, ch.j1 - ch.j0, D,
                              partial.data() + c * size_t(group * D));
      }
#pragma omp for schedule(static)
      for (int qh = 0; qh < n_heads; ++qh) {
        const int64_t g = qh / group, i = qh % group;
        float* o = out + qh * D;
        std::fill(o, o + D, 0.0f);
        for (size_t c = first_chunk[size_t(g)]; c < first_chunk[size_t(g) + 1]; ++c) {
          const float* part = partial.data() + c * size_t(group * D) + i * D;
          for (int64_t d = 0; d < D; ++d) o[d] += part[d];
        }
      }
    }
    return;
  }
  KVB_CHECK(!read || read->empty(), "layer {}: page selection applies to decode steps only ({} queries given)", layer, n);
  // Prefill chunk, per query head, in blocks of kQueryBlock queries (blocks in parallel, one GEMM
  // thread each): S[b, C] = Q_b·K^T over the C entries the block's last query can see, masked
  // softmax while S is in cache, O_b[b, D] = P·V (GEMM). Attention mass is summed per block, then
  // over blocks in order (deterministic).
  constexpr int64_t kQueryBlock = 64;
  const int64_t blocks = (n + kQueryBlock - 1) / kQueryBlock;
  // Int8 scores: the scaled queries quantized once, each KV head's keys once.
  const bool int8_scores_on = mode == MatmulMode::Int8 && D % 32 == 0;
  Q8Activations q8;
  std::vector<Int8Keys> keys8(int8_scores_on ? size_t(Hkv) : 0);
  if (int8_scores_on) {
    std::vector<float> scaled(size_t(n * stride));
#pragma omp parallel for schedule(static) if (n > 4)
    for (int64_t i = 0; i < n * stride; ++i) scaled[size_t(i)] = q[i] * scale;
    quantize_q8(scaled.data(), n, stride, q8);
    for (int64_t g = 0; g < Hkv; ++g) keys8[size_t(g)].quantize(rows[size_t(g)].keys, cache.head(layer, int(g)).size(), D);
  }
  std::vector<float> block_mass;
  for (int qh = 0; qh < n_heads; ++qh) {
    const HeadCache& h = cache.head(layer, qh / group);
    const int64_t T = h.size(), past = T - n;
    const float* K = rows[size_t(qh / group)].keys;
    const float* V = rows[size_t(qh / group)].values;
    if (attn_mass) block_mass.assign(size_t(blocks * T), 0.0f);
    const HeadPrefillPattern* hp = pattern && !pattern->heads[size_t(qh)].dense ? &pattern->heads[size_t(qh)] : nullptr;
#pragma omp parallel
    {
      std::vector<float> scores;
      std::vector<uint8_t> allowed;
#pragma omp for schedule(dynamic)
      for (int64_t rb = 0; rb < blocks; ++rb) {
        const int64_t b = blocks - 1 - rb;  // the longest (last) blocks first: threads finish together
        const int64_t i0 = b * kQueryBlock, m = std::min(kQueryBlock, n - i0), C = past + i0 + m;
        scores.resize(size_t(m * C));
        if (int8_scores_on)
          int8_scores(q8, i0, m, qh * D / 32, keys8[size_t(qh / group)], C, scores.data());
        else
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m), int(C), int(D), scale, q + i0 * stride + qh * D,
                      int(stride), K, int(D), 0.0f, scores.data(), int(C));
        for (int64_t i = 0; i < m; ++i) {
          float* row = scores.data() + i * C;
          const int64_t visible = past + i0 + i + 1;
          if (!h.logit_bias().empty())
            for (int64_t j = 0; j < visible; ++j) row[j] += h.logit_bias()[size_t(j)];
          if (hp) {  // sparse prefill: entries outside the head's pattern get no weight
            allowed_entries(*hp, visible - 1, allowed);
            for (int64_t j = 0; j < visible; ++j)
              if (!allowed[size_t(j)]) row[j] = -INFINITY;
          }
          masked_softmax(row, visible, C);
        }
        if (attn_mass) {
          float* mass = block_mass.data() + b * T;
          for (int64_t i = 0; i < m; ++i) {
            const float* p = scores.data() + i * C;
            for (int64_t j = 0; j < C; ++j) mass[j] += p[j];
          }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(D), int(C), 1.0f, scores.data(), int(C), V,
                    int(D), 0.0f, out + i0 * stride + qh * D, int(stride));
      }
    }
    if (attn_mass) {
      float* mass = (*attn_mass)[qh].data();
      for (int64_t b = 0; b < blocks; ++b)
        for (int64_t j = 0; j < T; ++j) mass[j] += block_mass[size_t(b * T + j)];
    }
  }
}

void attention(const float* q, int64_t n, const KVCache& cache, int layer, int n_heads, float scale, float* out,
               std::vector<std::vector<float>>* attn_mass, const ReadSelection& read, MatmulMode mode,
               const std::vector<float>* inv_freq, bool neox) {
  if (read.reads_everything()) return attention(q, n, cache, layer, n_heads, scale, out, attn_mass, nullptr, mode);
  if (!read.per_query_head && read.second.empty() && !read.compact_positions)
    return attention(q, n, cache, layer, n_heads, scale, out, attn_mass, &read.sets, mode);
  KVB_CHECK(n == 1, "layer {}: per-query-head / two-part / compact reads apply to decode steps only ({} queries)", layer,
            n);
  KVB_CHECK(!read.compact_positions || inv_freq, "layer {}: compact positions need the model's RoPE frequencies",
            layer);
  const int64_t D = cache.head_dim(), Hkv = cache.n_kv_heads(), group = n_heads / Hkv;
  if (attn_mass) {
    attn_mass->resize(n_heads);
    for (int qh = 0; qh < n_heads; ++qh) (*attn_mass)[qh].assign(cache.head(layer, qh / group).size(), 0.0f);
  }
  std::vector<std::vector<float>> kbuf(static_cast<size_t>(Hkv)), vbuf(static_cast<size_t>(Hkv));
  std::vector<KVCache::DenseRows> rows;
  for (int64_t g = 0; g < Hkv; ++g) rows.push_back(cache.dense_rows(layer, int(g), kbuf[size_t(g)], vbuf[size_t(g)]));
  // Compact positions: per read set, copies of its R keys rotated from original position p_r to r,
  // relative to the query moved from P (the newest entry read) to R - 1: by (r - (R-1)) - (p_r - P).
  // Values gathered alongside; the set is then read as entries 0..R-1 of the copies.
  const size_t n_sets = read.sets.size();
  std::vector<std::vector<float>> ck(read.compact_positions ? n_sets : 0), cv(ck.size());
  std::vector<std::vector<int32_t>> iota_sets(ck.size());
  for (size_t h = 0; h < ck.size(); ++h) {
    const int g = int(read.per_query_head ? int64_t(h) / group : int64_t(h));
    const std::vector<int32_t>& idx = read.sets[h];
    const int64_t R = int64_t(idx.size());
    if (R == 0) continue;
    const std::vector<int32_t>& pos = cache.head(layer, g).positions();
    const int64_t P = pos[size_t(idx.back())];
    ck[h].resize(size_t(R * D));
    cv[h].resize(size_t(R * D));
    std::vector<int32_t> delta(static_cast<size_t>(R));
    for (int64_t r = 0; r < R; ++r) {
      std::copy(rows[size_t(g)].keys + int64_t(idx[size_t(r)]) * D, rows[size_t(g)].keys + (idx[size_t(r)] + 1) * D,
                ck[h].begin() + r * D);
      std::copy(rows[size_t(g)].values + int64_t(idx[size_t(r)]) * D,
                rows[size_t(g)].values + (idx[size_t(r)] + 1) * D, cv[h].begin() + r * D);
      delta[size_t(r)] = int32_t((r - (R - 1)) - (int64_t(pos[size_t(idx[size_t(r)])]) - P));
    }
    rope(ck[h].data(), R, 1, D, D, delta.data(), *inv_freq, neox);
    iota_sets[h].resize(size_t(R));
    std::iota(iota_sets[h].begin(), iota_sets[h].end(), 0);
  }
#pragma omp parallel
  {
    std::vector<float> pa, pb, ob(static_cast<size_t>(D));
#pragma omp for schedule(static)
    for (int qh = 0; qh < n_heads; ++qh) {
      const int64_t g = qh / group;
      const size_t set = read.per_query_head ? size_t(qh) : size_t(g);
      const HeadCache& h = cache.head(layer, int(g));
      const float* bias = h.logit_bias().empty() ? nullptr : h.logit_bias().data();
      const std::vector<int32_t>& a = read.sets[set];
      pa.resize(a.size());
      float* o = out + qh * D;
      float lse_a;
      if (read.compact_positions) {
        std::vector<float> cb;  // the logit biases in the copies' order
        if (bias)
          for (int32_t j : a) cb.push_back(bias[j]);
        lse_a = attend_partial(q + qh * D, ck[set].data(), cv[set].data(), bias ? cb.data() : nullptr, iota_sets[set],
                               D, scale, o, pa.data());
      } else {
        lse_a = attend_partial(q + qh * D, rows[size_t(g)].keys, rows[size_t(g)].values, bias, a, D, scale, o,
                               pa.data());
      }
      float wa = 1.0f, wb = 0.0f;
      if (!read.second.empty()) {
        const std::vector<int32_t>& b = read.second[set];
        pb.resize(b.size());
        const float lse_b = attend_partial(q + qh * D, rows[size_t(g)].keys, rows[size_t(g)].values, bias, b, D,
                                           scale, ob.data(), pb.data());
        lse_merge(o, lse_a, ob.data(), lse_b, D, o, &wa, &wb);
        if (attn_mass)
          for (size_t r = 0; r < b.size(); ++r) (*attn_mass)[size_t(qh)][size_t(b[r])] += wb * pb[r];
      }
      if (attn_mass)
        for (size_t r = 0; r < a.size(); ++r) (*attn_mass)[size_t(qh)][size_t(a[r])] += wa * pa[r];
    }
  }
}

}  // namespace kvb::cpu
