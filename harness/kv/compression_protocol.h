// The compression protocol, owned by the kv layer (methods decide, the cache applies):
//  1. PrefillRecorder: while the compressed part is prefilled, records what the method asked for
//     (PrefillNeeds: the last W queries, attention mass, pre-RoPE query statistics, token surprisal).
//  2. apply_prefill_decisions: per layer, the method's keep sets, compensation entries and pruned
//     key channels are applied to the cache, then its codec encodes the cache.
//  3. DecodeHooks: per decode step, the method's page selection before attention (read sets) and
//     its decode-time eviction after it.
// The runner (eval/runner.cpp) only drives forward passes through these observers.
// Shapes: L layers, Hq/Hkv heads, T cached entries, W window, D head dim.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "kv/forward_observer.h"
#include "kv/kv_cache.h"
#include "kv/method.h"
#include "model/config.h"

namespace kvb {

// Step 1: records, per layer, the queries of the last W prefilled tokens and (optionally) the
// attention mass each cached entry received, while the compressed part is prefilled in chunks.
// Given several methods' needs (one prefill shared by several methods, kvpress's protocol: the
// prefill runs with full attention and compression follows it), it records their union, and the
// view for each method's needs holds exactly what a recorder of those needs alone would hold.
class PrefillRecorder final : public ForwardObserver {
 public:
  PrefillRecorder(const ModelConfig& c, std::span<const PrefillNeeds> needs, int64_t n_tokens);
  PrefillRecorder(const ModelConfig& c, PrefillNeeds needs, int64_t n_tokens)
      : PrefillRecorder(c, std::span<const PrefillNeeds>(&needs, 1), n_tokens) {}
  bool wants_attention_mass(int layer) const override { return attention_mass_; }
  void on_layer(const LayerObservation& obs) override;
  bool wants_logits() const override { return surprisal_; }
  // Token surprisal (PrefillNeeds::token_surprisal): row r's logits give -log p of token r + 1.
  void on_logits(const int32_t* tokens, int64_t n, const float* logits) override;
  // What a method with these needs sees of layer `layer` (views valid while this recorder and
  // `cache` live); `needs` must be among those the recorder was built with (or covered by them).
  LayerView view(int layer, const KVCache& cache, const PrefillNeeds& needs) const;
  // Bytes of what was recorded (queries, attention mass, query statistics).
  size_t recorded_bytes() const;
  // (scorer, layer) score sets computed from this prefill so far (views carry the memo).
  size_t memoized_scores() const { return score_memo_.scores.size(); }
  // The prefill runs with this method's attention calibration (act; a method that sets it changes
  // the prefill, so its prefill is its own). Null: none.
  void calibrate_with(const Method* m) { calibrating_ = m; }
  const AttentionCalibration* attention_calibration(int layer) override {
    return calibrating_ ? calibrating_->attention_calibration(layer) : nullptr;
  }

  // Sparse prefill (seam (f)): asks `m` for each chunk's pattern (Method::prefill_pattern) and counts
  // the (layer, query head, query, key) pairs attended against the causal ones. Null: dense.
  void set_pattern_source(Method* m) { pattern_source_ = m; }
  const PrefillPattern* prefill_pattern(int layer, const float* q, int64_t n, const KVCache& cache) override;
  struct PatternStats {
    int64_t attended = 0, causal = 0;  // pairs, summed over layers, query heads and chunks
    double seconds = 0.0;              // time inside the method's prefill_pattern
  };
  const PatternStats& pattern_stats() const { return pattern_stats_; }

 private:
  // One set of pre-RoPE query statistics: queries at positions >= from, second moments or not.
  struct StatsSet {
    int from = 0;
    bool covariance = false;
    std::vector<QueryStats> layers;  // [L]
  };
  // Pre-RoPE queries (the post-RoPE ones rotated back by their position) summed, and their outer
  // products when asked for, into every statistics set whose start they have reached.
  void accumulate_query_stats(const LayerObservation& obs);

  const ModelConfig& config_;
  int64_t n_tokens_;
  int window_ = 0;                                     // the largest window asked for (<= n_tokens)
  bool attention_mass_ = false;
  int64_t qd_ = 0;                                     // Hq * D
  std::vector<StatsSet> stats_;
  std::vector<float> inv_freq_;                        // [D/2]
  std::vector<int64_t> row_;                           // [L] rows of the compressed part seen so far
  std::vector<std::vector<float>> queries_;            // [L][W * Hq*D]
  std::vector<std::vector<int32_t>> positions_;        // [L][W]
  std::vector<std::vector<std::vector<float>>> mass_;  // [L][Hq][T]
  mutable ScoreMemo score_memo_;                       // filled by the methods that read the views
  bool surprisal_ = false;
  std::vector<float> surprisal_of_;                    // [T] -log p(x_t | x_<t), NaN at t = 0
  int64_t logit_rows_ = 0;                             // rows of logits seen so far
  std::vector<float> last_row_;                        // [V] log-softmax of the last row seen (its next token comes later)
  Method* pattern_source_ = nullptr;
  PrefillPattern pattern_;                             // the current chunk's, per layer call
  PatternStats pattern_stats_;
  const Method* calibrating_ = nullptr;
};

// Keeps entries keep[h] of each KV head of `layer` (empty: nothing to do); kvb::Error when the
// method returned sets for another number of heads.
void apply_keep(KVCache& cache, int layer, const KeepSets& keep);

// Step 2: the method's prefill decisions, layer by layer, with `n_kept` entries per head as the
// uniform budget; compensation entries are computed before the dropped entries are freed.
void apply_prefill_decisions(Method& method, const PrefillRecorder& recorder, int n_layers, int64_t n_kept,
                             KVCache& cache);

// Step 3: decode-time hooks: page selection before attention, decode-step compression after it.
// Adds the time spent in the method to `method_seconds`, tracks the resident-bytes peak and, when
// `reads` is given, what each decode step read (kv/read_selection.h: every method; a step without
// a selector reads every entry).
class DecodeHooks final : public ForwardObserver {
 public:
  DecodeHooks(Method& m, const ModelConfig& c, KVCache& cache, double& method_seconds, size_t& peak_bytes,
              DecodeReadStats* reads = nullptr)
      : m_(m), c_(c), cache_(cache), method_seconds_(method_seconds), peak_(peak_bytes), reads_(reads) {}
  bool wants_attention_mass(int) const override { return m_.decode_hooks() && m_.decode_wants_mass(); }
  const ReadSelection* read_sets(int layer, const float* q, int64_t n, const KVCache& cache) override;
  void on_layer(const LayerObservation& obs) override;
  const AttentionCalibration* attention_calibration(int layer) override { return m_.attention_calibration(layer); }

 private:
  Method& m_;
  const ModelConfig& c_;
  KVCache& cache_;
  double& method_seconds_;
  size_t& peak_;
  DecodeReadStats* reads_;
  ReadSelection read_;
  int64_t step_ = 0;
  LayerRead step_read_;  // summed over the layers of the current decode step
};

// A forward pass outside the protocol's steps (the question prefilled on the compressed cache) that
// still runs with the method's attention calibration (act).
class CalibrationObserver final : public ForwardObserver {
 public:
  explicit CalibrationObserver(const Method& m) : m_(m) {}
  const AttentionCalibration* attention_calibration(int layer) override { return m_.attention_calibration(layer); }

 private:
  const Method& m_;
};
// Whether `m` recalibrates the attention of any of the model's layers.
bool calibrates_attention(const Method& m, int n_layers);

}  // namespace kvb
