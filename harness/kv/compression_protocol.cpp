// The compression protocol; see compression_protocol.h.
#include "kv/compression_protocol.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/timer.h"
#include "model/rope.h"

namespace kvb {

PrefillRecorder::PrefillRecorder(const ModelConfig& c, std::span<const PrefillNeeds> needs, int64_t n_tokens)
    : config_(c), n_tokens_(n_tokens), row_(size_t(c.n_layers), 0) {
  qd_ = int64_t(c.n_heads) * c.head_dim;
  for (const PrefillNeeds& n : needs) {
    window_ = std::max(window_, int(std::min<int64_t>(n.window, n_tokens)));
    attention_mass_ |= n.attention_mass;
    surprisal_ |= n.token_surprisal;
    if (n.query_stats_from < 0) continue;
    bool have = false;
    for (const StatsSet& s : stats_) have |= s.from == n.query_stats_from && s.covariance == n.query_covariance;
    if (have) continue;
    StatsSet s{n.query_stats_from, n.query_covariance, std::vector<QueryStats>(size_t(c.n_layers))};
    for (auto& st : s.layers) {
      st.sum.assign(size_t(qd_), 0.0);
      if (n.query_covariance) st.outer.assign(size_t(qd_ * c.head_dim), 0.0);
    }
    stats_.push_back(std::move(s));
  }
  queries_.assign(size_t(c.n_layers), std::vector<float>(size_t(window_ * qd_)));
  positions_.assign(size_t(c.n_layers), std::vector<int32_t>(size_t(window_)));
  if (attention_mass_) mass_.assign(size_t(c.n_layers), {});
  if (!stats_.empty()) inv_freq_ = rope_inv_freq(c);
  if (surprisal_) surprisal_of_.assign(size_t(n_tokens), std::numeric_limits<float>::quiet_NaN());
}

void PrefillRecorder::on_logits(const int32_t* tokens, int64_t n, const float* logits) {
  const int64_t V = config_.vocab_size;
  // log p of `token` under the log-softmaxed row that predicts it, stored as the token's surprisal.
  auto record = [&](int64_t row, double log_p) {
    if (row < n_tokens_) surprisal_of_[size_t(row)] = float(-log_p);
  };
  if (!last_row_.empty() && n > 0) record(logit_rows_, last_row_[size_t(tokens[0])]);
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits + i * V;
    const float mx = *std::max_element(row, row + V);
    double sum = 0.0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - mx);
    const double lse = double(mx) + std::log(sum);
    if (i + 1 < n) {
      record(logit_rows_ + i + 1, double(row[tokens[i + 1]]) - lse);
    } else {  // the next token arrives with the next block (the compressed part's last row predicts none)
      last_row_.resize(size_t(V));
      for (int64_t v = 0; v < V; ++v) last_row_[size_t(v)] = float(double(row[v]) - lse);
    }
  }
  logit_rows_ += n;
}

void PrefillRecorder::on_layer(const LayerObservation& obs) {
  const size_t l = size_t(obs.layer);
  // Rows [row_, row_ + n) of the compressed part; keep those in its last `window_` rows.
  const int64_t first_window_row = n_tokens_ - window_;
  for (int64_t i = 0; i < obs.n; ++i) {
    const int64_t r = row_[l] + i - first_window_row;
    if (r < 0 || r >= window_) continue;
    std::copy(obs.queries + i * qd_, obs.queries + (i + 1) * qd_, queries_[l].begin() + r * qd_);
    positions_[l][size_t(r)] = obs.positions[i];
  }
  row_[l] += obs.n;
  if (!stats_.empty()) accumulate_query_stats(obs);
  if (obs.attn_mass) {
    auto& m = mass_[l];
    m.resize(obs.attn_mass->size());
    for (size_t qh = 0; qh < m.size(); ++qh) {
      const auto& add = (*obs.attn_mass)[qh];
      m[qh].resize(add.size(), 0.0f);
      for (size_t j = 0; j < add.size(); ++j) m[qh][j] += add[j];
    }
  }
}

const PrefillPattern* PrefillRecorder::prefill_pattern(int layer, const float* q, int64_t n, const KVCache& cache) {
  if (!pattern_source_) return nullptr;
  Stopwatch sw;
  pattern_ = pattern_source_->prefill_pattern(layer, q, n, cache);
  const int64_t T = cache.head(layer, 0).size(), Hq = config_.n_heads;
  check_prefill_pattern(pattern_, layer, int(Hq), T, n);
  const int64_t causal = causal_pairs(T, n);
  pattern_stats_.causal += Hq * causal;
  if (pattern_.dense())
    pattern_stats_.attended += Hq * causal;
  else
    for (const HeadPrefillPattern& h : pattern_.heads) pattern_stats_.attended += allowed_pairs(h, T, n);
  pattern_stats_.seconds += sw.seconds();
  return pattern_.dense() ? nullptr : &pattern_;
}

LayerView PrefillRecorder::view(int layer, const KVCache& cache, const PrefillNeeds& needs) const {
  LayerView v;
  v.layer = layer;
  v.config = &config_;
  v.cache = &cache;
  v.score_memo = &score_memo_;
  // The last w of the recorded window_ rows: what a recorder of this window alone holds.
  const int w = int(std::min<int64_t>(needs.window, n_tokens_));
  KVB_CHECK(w <= window_, "prefill recorder: a window of {} queries was asked for, {} were recorded", w, window_);
  v.window = w;
  v.window_queries = w > 0 ? queries_[size_t(layer)].data() + int64_t(window_ - w) * qd_ : nullptr;
  v.window_positions = w > 0 ? positions_[size_t(layer)].data() + (window_ - w) : nullptr;
  KVB_CHECK(!needs.attention_mass || attention_mass_, "prefill recorder: attention mass was not recorded");
  v.attn_mass = needs.attention_mass ? &mass_[size_t(layer)] : nullptr;
  if (needs.query_stats_from >= 0) {
    for (const StatsSet& s : stats_)
      if (s.from == needs.query_stats_from && s.covariance == needs.query_covariance) v.query_stats = &s.layers[size_t(layer)];
    KVB_CHECK(v.query_stats != nullptr, "prefill recorder: query statistics from position {} were not recorded",
              needs.query_stats_from);
  }
  KVB_CHECK(!needs.token_surprisal || surprisal_, "prefill recorder: token surprisal was not recorded");
  KVB_CHECK(!needs.token_surprisal || logit_rows_ == n_tokens_,
            "prefill recorder: token surprisal covers {} of {} rows (the backend gave no logits to the observer)",
            logit_rows_, n_tokens_);
  v.token_surprisal = needs.token_surprisal ? &surprisal_of_ : nullptr;
  v.n_context = n_tokens_;
  return v;
}

size_t PrefillRecorder::recorded_bytes() const {
  size_t b = 0;
  for (const auto& q : queries_) b += q.capacity() * sizeof(float);
  for (const auto& p : positions_) b += p.capacity() * sizeof(int32_t);
  for (const auto& layer : mass_)
    for (const auto& h : layer) b += h.capacity() * sizeof(float);
  for (const StatsSet& s : stats_)
    for (const QueryStats& st : s.layers) b += (st.sum.capacity() + st.outer.capacity()) * sizeof(double);
  b += (surprisal_of_.capacity() + last_row_.capacity()) * sizeof(float);
  return b;
}

void PrefillRecorder::accumulate_query_stats(const LayerObservation& obs) {
  const int64_t Hq = config_.n_heads, D = config_.head_dim;
  std::vector<float> q(static_cast<size_t>(qd_));
  for (int64_t i = 0; i < obs.n; ++i) {
    bool rotated = false;
    for (StatsSet& set : stats_) {
      if (obs.positions[i] < set.from) continue;
      if (!rotated) {
        std::copy(obs.queries + i * qd_, obs.queries + (i + 1) * qd_, q.begin());
        const int32_t back = -obs.positions[i];
        rope(q.data(), 1, Hq, D, qd_, &back, inv_freq_, config_.rope_neox);
        rotated = true;
      }
      QueryStats& st = set.layers[size_t(obs.layer)];
      ++st.n;
      for (int64_t k = 0; k < qd_; ++k) st.sum[size_t(k)] += q[size_t(k)];
      if (st.outer.empty()) continue;
      for (int64_t h = 0; h < Hq; ++h) {
        const float* qh = q.data() + h * D;
        double* o = st.outer.data() + h * D * D;
        for (int64_t a = 0; a < D; ++a)
          for (int64_t b = 0; b < D; ++b) o[a * D + b] += double(qh[a]) * double(qh[b]);
      }
    }
  }
}

void apply_keep(KVCache& cache, int layer, const KeepSets& keep) {
  if (keep.empty()) return;
  KVB_CHECK(int(keep.size()) == cache.n_kv_heads(), "layer {}: method returned keep sets for {} heads, cache has {}",
            layer, keep.size(), cache.n_kv_heads());
  for (int h = 0; h < cache.n_kv_heads(); ++h) cache.keep(layer, h, keep[size_t(h)]);
}

void apply_prefill_decisions(Method& method, const PrefillRecorder& recorder, int n_layers, int64_t n_kept,
                             KVCache& cache) {
  const PrefillNeeds needs = method.prefill_needs();
  for (int l = 0; l < n_layers; ++l) {
    LayerView v = recorder.view(l, cache, needs);
    v.n_kept = n_kept;
    const KeepSets keep = method.compress_prefill(v);
    const auto comp = method.compensation(v, keep);  // computed before the dropped entries are freed
    apply_keep(cache, l, keep);
    for (size_t h = 0; h < comp.size(); ++h)
      if (comp[h].present)
        cache.append_compensation(l, int(h), comp[h].key.data(), comp[h].value.data(), comp[h].position,
                                  comp[h].logit_bias);
    const auto channels = method.prune_key_channels(v);
    for (size_t h = 0; h < channels.size(); ++h) cache.zero_key_channels(l, int(h), channels[h]);
  }
  method.encode(cache);
}

const ReadSelection* DecodeHooks::read_sets(int layer, const float* q, int64_t n, const KVCache& cache) {
  if (n != 1) return nullptr;
  const ReadSelection* sel = nullptr;
  if (m_.has_selector()) {
    Stopwatch sw;
    read_ = m_.select(layer, q, cache);
    method_seconds_ += sw.seconds();
    check_selection(read_, cache, layer, c_.n_heads);
    sel = &read_;
    if (reads_) reads_->index_reads_sum += double(read_.index_reads);
  }
  if (reads_) {
    const LayerRead r = layer_read(sel, cache, layer, c_.n_heads);
    step_read_.entries += r.entries;
    step_read_.bytes += r.bytes;
    if (layer + 1 == c_.n_layers) {
      reads_->add_step(step_read_.entries, step_read_.bytes);
      step_read_ = {};
    }
  }
  return sel;
}

void DecodeHooks::on_layer(const LayerObservation& obs) {
  if (!m_.decode_hooks()) return;
  Stopwatch sw;
  peak_ = std::max(peak_, cache_.resident_bytes());
  LayerView v;
  v.layer = obs.layer;
  v.config = &c_;
  v.cache = &cache_;
  v.window_queries = obs.queries;
  v.window_positions = obs.positions;
  v.window = int(obs.n);
  v.attn_mass = obs.attn_mass;
  apply_keep(cache_, obs.layer, m_.on_decode_step(v, step_));
  if (obs.layer + 1 == c_.n_layers) ++step_;
  method_seconds_ += sw.seconds();
}

bool calibrates_attention(const Method& m, int n_layers) {
  for (int l = 0; l < n_layers; ++l)
    if (const AttentionCalibration* c = m.attention_calibration(l); c && c->any()) return true;
  return false;
}

}  // namespace kvb
