// minference: MInference 1.0 (Jiang et al. 2024, arXiv:2407.02490; reference microsoft/MInference
// minference/modules/minference_forward.py, ops/pit_sparse_flash_attention_v2.py,
// ops/block_sparse_flash_attention.py). The prefill of the compressed part is sparse, with one
// pattern per query head chosen offline (`pattern`: MInference's best_pattern JSON, written by
// `kvbench calibrate minference`; without one every head is vertical-slash, the paper's default
// VS(1000, 6096)) and estimated online for each prefill chunk from that chunk's queries: A-shape
// (sink + local), vertical-slash (from the chunk's last `last_q` queries) or block-sparse (pooled
// blocks). Decoding is dense and the cache keeps every entry. --ratio r / --budget k set the entries
// each prefill row attends (methods/minference.h, row_budget_for_ratio / scaled_choice).
// `kvbench eval --method minference --ratio 0.5 [--param pattern=FILE]`.
#include "methods/minference.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "backends/cpu/ops.h"
#include "core/error.h"
#include "core/file.h"
#include "kv/method.h"
#include "kv/read_selection.h"

namespace kvb::minference {

std::string type_name(PatternType t) {
  switch (t) {
    case PatternType::AShape: return "stream_llm";
    case PatternType::VerticalSlash: return "vertical_and_slash";
    case PatternType::BlockSparse: return "block_sparse";
  }
  return "?";
}

PatternConfig read_pattern_file(const std::string& path, int n_layers, int n_heads) {
  using nlohmann::json;
  std::string text;
  try {
    text = read_text_file(path);
  } catch (const std::exception& e) {
    KVB_FAIL("minference: pattern file '{}': cannot be read ({})", path, e.what());
  }
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    KVB_FAIL("minference: pattern file '{}': not JSON ({})", path, e.what());
  }
  KVB_CHECK(j.is_array(), "minference: pattern file '{}': expected a JSON array of layers (MInference's "
            "best_pattern format: [{{\"0\": [\"vertical_and_slash\", 1000, 6096, 0.9], ...}}, ...])", path);
  KVB_CHECK(int(j.size()) == n_layers, "minference: pattern file '{}': {} layers, the model has {}", path, j.size(),
            n_layers);
  PatternConfig cfg(size_t(n_layers), std::vector<HeadChoice>(static_cast<size_t>(n_heads)));
  for (int l = 0; l < n_layers; ++l) {
    const json& layer = j[size_t(l)];
    KVB_CHECK(layer.is_object(), "minference: pattern file '{}': layer {} is not an object of heads", path, l);
    for (const auto& [key, entry] : layer.items()) {
      int h = -1;
      try {
        size_t used = 0;
        h = std::stoi(key, &used);
        if (used != key.size()) h = -1;
      } catch (const std::exception&) {
      }
      KVB_CHECK(h >= 0 && h < n_heads, "minference: pattern file '{}': layer {}: head '{}' is not a query head index "
                "0..{}", path, l, key, n_heads - 1);
      KVB_CHECK(entry.is_array() && entry.size() >= 3 && entry[0].is_string() && entry[1].is_number_integer() &&
                    entry[2].is_number_integer() && (entry.size() < 4 || entry[3].is_number()),
                "minference: pattern file '{}': layer {} head {}: expected [type, v, s, score], got {}", path, l, h,
                entry.dump());
      const std::string type = entry[0].get<std::string>();
      HeadChoice c;
      if (type == "vertical_and_slash" || type == "vertical_slash")
        c.type = PatternType::VerticalSlash;
      else if (type == "stream_llm" || type == "a_shape")
        c.type = PatternType::AShape;
      else if (type == "block_sparse")
        c.type = PatternType::BlockSparse;
      else
        KVB_FAIL("minference: pattern file '{}': layer {} head {}: unknown pattern type '{}' (vertical_and_slash, "
                 "stream_llm / a_shape, block_sparse)", path, l, h, type);
      c.v = entry[1].get<int64_t>();
      c.s = entry[2].get<int64_t>();
      c.score = entry.size() >= 4 ? entry[3].get<double>() : 0.0;
      KVB_CHECK(c.v >= (c.type == PatternType::VerticalSlash ? 0 : 1) && c.s >= (c.type == PatternType::BlockSparse ? 0 : 1) &&
                    c.v + c.s >= 1,
                "minference: pattern file '{}': layer {} head {}: sizes v {} s {} out of range", path, l, h, c.v, c.s);
      cfg[size_t(l)][size_t(h)] = c;
    }
  }
  return cfg;
}

void write_pattern_file(const std::string& path, const PatternConfig& config) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& layer : config) {
    nlohmann::json o = nlohmann::json::object();
    for (size_t h = 0; h < layer.size(); ++h)
      o[std::to_string(h)] = {type_name(layer[h].type), layer[h].v, layer[h].s, layer[h].score};
    j.push_back(o);
  }
  std::ofstream f(path);
  KVB_CHECK(f.good(), "minference: cannot write pattern file '{}'", path);
  f << j.dump() << "\n";
  KVB_CHECK(f.good(), "minference: writing pattern file '{}' failed", path);
}

int64_t row_budget_for_ratio(double ratio, int64_t T, int64_t n) {
  if (ratio <= 0.0) return T;
  const double target = (1.0 - ratio) * double(causal_pairs(T, n));
  // pairs(k) = sum over rows e = T-n..T-1 of min(e + 1, k), non-decreasing in k.
  auto pairs = [&](int64_t k) {
    const int64_t lo = T - n + 1, hi = T;  // e + 1 ranges over [lo, hi]
    if (k <= lo) return double(k) * double(n);
    if (k >= hi) return double(causal_pairs(T, n));
    return double(lo + k) * double(k - lo + 1) / 2.0 + double(hi - k) * double(k);  // rows up to k, then k each
  };
  int64_t a = 1, b = T;
  while (a < b) {
    const int64_t mid = a + (b - a) / 2;
    if (pairs(mid) >= target)
      b = mid;
    else
      a = mid + 1;
  }
  return a;
}

HeadChoice scaled_choice(const HeadChoice& c, int64_t k, int64_t block_size) {
  HeadChoice out = c;
  if (c.type == PatternType::BlockSparse) {
    out.v = std::max<int64_t>(1, (k + block_size - 1) / block_size);
    out.s = 0;
    return out;
  }
  const double share = double(c.v) / double(c.v + c.s);
  out.v = int64_t(std::llround(double(k) * share));
  if (c.type == PatternType::AShape) out.v = std::clamp<int64_t>(out.v, 1, std::max<int64_t>(1, k - 1));
  out.s = std::max<int64_t>(1, k - out.v);
  return out;
}

HeadPrefillPattern a_shape(int64_t n_init, int64_t n_local) {
  HeadPrefillPattern p;
  for (int64_t j = 0; j < n_init; ++j) p.columns.push_back(int32_t(j));
  for (int64_t o = 0; o < n_local; ++o) p.diagonals.push_back(int32_t(o));
  return p;
}

HeadPrefillPattern VsEstimate::lines(int64_t v, int64_t s) const {
  const int64_t T = int64_t(vertical.size());
  HeadPrefillPattern p;
  p.columns = top_k_stable(vertical, std::min(T, std::max<int64_t>(v, 30)));
  p.diagonals = top_k_stable(slash, std::min(T, std::max<int64_t>(s, 50)));
  return p;
}

VsEstimate vertical_slash(const float* q_last, int64_t m, int64_t q_stride, const float* keys, int64_t T, int64_t D,
                          float scale, int64_t n_forced_columns, int64_t n_forced_diagonals) {
  VsEstimate est;
  est.vertical.assign(size_t(T), 0.0f);
  est.slash.assign(size_t(T), 0.0f);
  std::vector<float> p(static_cast<size_t>(T));
  for (int64_t i = 0; i < m; ++i) {
    const int64_t e = T - m + i;  // this query's entry: it sees entries 0..e (causal inside the last m)
    const float* q = q_last + i * q_stride;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j <= e; ++j) mx = std::max(mx, p[size_t(j)] = cpu::dot(q, keys + j * D, D) * scale);
    double sum = 0.0;
    for (int64_t j = 0; j <= e; ++j) sum += (p[size_t(j)] = std::exp(p[size_t(j)] - mx));
    const float inv = float(1.0 / sum);
    for (int64_t j = 0; j <= e; ++j) {
      const float w = p[size_t(j)] * inv;
      est.vertical[size_t(j)] += w;
      est.slash[size_t(e - j)] += w;
    }
  }
  const float inf = std::numeric_limits<float>::infinity();
  std::fill(est.vertical.begin(), est.vertical.begin() + std::min(T, n_forced_columns), inf);
  std::fill(est.slash.begin(), est.slash.begin() + std::min(T, n_forced_diagonals), inf);
  return est;
}

HeadPrefillPattern block_sparse(const float* q, int64_t n, int64_t q_stride, const float* keys, int64_t T, int64_t D,
                                int64_t block_size, int64_t top_k) {
  const int64_t B = block_size, first = (T - n) / B, last = (T - 1) / B;
  // Mean-pooled keys per block [kb][D] and the chunk's queries per query block.
  std::vector<float> kpool(size_t((last + 1) * D), 0.0f), qpool(static_cast<size_t>(D));
  for (int64_t kb = 0; kb <= last; ++kb) {
    const int64_t j0 = kb * B, j1 = std::min(T, j0 + B);
    float* o = kpool.data() + kb * D;
    for (int64_t j = j0; j < j1; ++j)
      for (int64_t d = 0; d < D; ++d) o[d] += keys[j * D + d];
    for (int64_t d = 0; d < D; ++d) o[d] /= float(j1 - j0);
  }
  HeadPrefillPattern p;
  p.block_size = int32_t(B);
  p.first_block = first;
  for (int64_t qb = first; qb <= last; ++qb) {
    const int64_t e0 = std::max(T - n, qb * B), e1 = std::min(T, (qb + 1) * B);
    std::fill(qpool.begin(), qpool.end(), 0.0f);
    for (int64_t e = e0; e < e1; ++e)
      for (int64_t d = 0; d < D; ++d) qpool[size_t(d)] += q[(e - (T - n)) * q_stride + d];
    for (float& x : qpool) x /= float(e1 - e0);
    std::vector<float> score(static_cast<size_t>(qb + 1));  // causal key blocks 0..qb
    for (int64_t kb = 0; kb <= qb; ++kb) score[size_t(kb)] = cpu::dot(qpool.data(), kpool.data() + kb * D, D);
    p.key_blocks.push_back(top_k_stable(score, top_k));
  }
  return p;
}

HeadPrefillPattern head_pattern(const HeadChoice& c, const float* q, int64_t n, int64_t q_stride, const float* keys,
                                int64_t T, int64_t D, int64_t last_q, int64_t block_size) {
  switch (c.type) {
    case PatternType::AShape:
      return a_shape(std::min(c.v, T), std::min(c.s, T));
    case PatternType::VerticalSlash: {
      const int64_t m = std::min(last_q, n);
      const float scale = 1.0f / std::sqrt(float(D));
      return vertical_slash(q + (n - m) * q_stride, m, q_stride, keys, T, D, scale).lines(c.v, c.s);
    }
    case PatternType::BlockSparse:
      return block_sparse(q, n, q_stride, keys, T, D, block_size, c.v);
  }
  return {};
}

namespace {

class MInference final : public Method {
 public:
  MInference(PatternConfig config, double ratio, int64_t budget, bool scaled, int64_t last_q, int64_t block_size,
             bool slash_tiles, int hq)
      : config_(std::move(config)), ratio_(ratio), budget_(budget), scaled_(scaled), last_q_(last_q),
        block_(block_size), slash_tiles_(slash_tiles), hq_(hq) {}

  PrefillPattern prefill_pattern(int layer, const float* q, int64_t n, const KVCache& cache) override {
    const int64_t T = cache.head(layer, 0).size(), D = cache.head_dim(), Hkv = cache.n_kv_heads();
    const int64_t group = hq_ / Hkv, stride = int64_t(hq_) * D;
    // Per-row budget: --budget k, or the k that computes about 1 - ratio of the chunk's causal pairs.
    const int64_t k = budget_ > 0 ? budget_ : row_budget_for_ratio(ratio_, T, n);
    if (scaled_ && k >= T) return {};  // every row may read all it sees: dense, bit for bit
    PrefillPattern out;
    out.heads.resize(size_t(hq_));
    for (int qh = 0; qh < hq_; ++qh) {
      const HeadChoice base = config_.empty() ? HeadChoice{} : config_[size_t(layer)][size_t(qh)];
      const HeadChoice c = scaled_ ? scaled_choice(base, k, block_) : base;
      const HeadRows rows = cache.rows(layer, int(qh / group));
      out.heads[size_t(qh)] = head_pattern(c, q + int64_t(qh) * D, n, stride, rows.keys(), T, D, last_q_, block_);
      if (slash_tiles_ && c.type == PatternType::VerticalSlash) out.heads[size_t(qh)].slash_tile = int32_t(block_);
    }
    return out;
  }

 private:
  PatternConfig config_;  // [L][Hq]; empty: every head the default VS
  double ratio_;
  int64_t budget_;
  bool scaled_;
  int64_t last_q_, block_;
  bool slash_tiles_;
  int hq_;
};

KVB_REGISTER_METHOD(minference, 1, "MInference 1.0: Jiang et al. 2024, arXiv:2407.02490",
                    "sparse prefill per query head (A-shape sink + local, vertical-slash estimated from the chunk's "
                    "last queries, block-sparse by pooled 64-token blocks; --ratio/--budget = entries each prefill row "
                    "attends), decode dense, cache untouched",
                    MethodRoles{.budget = Budget::PrefillAttended, .changes_prefill = true},
                    {{"pattern", "",
                      "MInference best_pattern JSON (layer -> head -> [type, v, s, score]; `kvbench calibrate "
                      "minference`); empty: every head vertical_and_slash (1000, 6096), the paper's default"},
                     {"sizes", "scaled",
                      "scaled: each head's (v, s) proportion scaled to the --ratio / --budget row budget; file: the "
                      "file's absolute sizes (the paper's, dense below ~8K tokens), ratio ignored"},
                     {"last_q", "64", "queries (the chunk's last) that estimate the vertical-slash lines"},
                     {"block_size", "64",
                      "block-sparse block (query and key blocks, mean-pooled); the row / column tile of slash=tiles"},
                     {"slash", "lines",
                      "lines: vertical-slash rows attend exactly their slash lines; tiles: the column ranges the lines "
                      "pass through in each block of block_size rows, merged as the reference's kernel does (more "
                      "entries at the same sizes)"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      const ModelConfig& c = *ctx.config;
                      const std::string sizes = ctx.params.get_string("sizes");
                      KVB_CHECK(sizes == "scaled" || sizes == "file", "minference: sizes '{}' must be scaled or file",
                                sizes);
                      const int64_t last_q = ctx.params.get_int("last_q"), block = ctx.params.get_int("block_size");
                      KVB_CHECK(last_q >= 1 && block >= 1, "minference: last_q {} and block_size {} must be >= 1",
                                last_q, block);
                      const std::string slash = ctx.params.get_string("slash");
                      KVB_CHECK(slash == "lines" || slash == "tiles", "minference: slash '{}' must be lines or tiles",
                                slash);
                      const std::string path = ctx.params.get_string("pattern");
                      PatternConfig cfg = path.empty() ? PatternConfig{} : read_pattern_file(path, c.n_layers, c.n_heads);
                      return std::make_unique<MInference>(std::move(cfg), ctx.compression_ratio, ctx.token_budget,
                                                          sizes == "scaled", last_q, block, slash == "tiles",
                                                          c.n_heads);
                    });

}  // namespace
}  // namespace kvb::minference
