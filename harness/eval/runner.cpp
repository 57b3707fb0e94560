// Case runner and score summary; see runner.h. A case runs as kvpress runs it: the compressed part
// (the context, or context + question in query-aware mode) is prefilled while the method's needs
// are recorded, the method decides per layer which entries each KV head keeps, the cache applies
// that, then the question (query-agnostic mode) and greedy decoding run on the compressed cache.
#include "eval/runner.h"

#include <algorithm>

#include "backends/cpu/ops.h"
#include "core/timer.h"
#include "datasets/random.h"
#include "eval/prompt.h"
#include "eval/scorers.h"
#include "eval/symbolic_runner.h"
#include "model/generate.h"

namespace kvb {
namespace {

// Records, per layer, the queries of the last W prefilled tokens and (optionally) the attention
// mass each cached entry received, while the compressed part is prefilled in chunks.
class PrefillRecorder final : public ForwardObserver {
 public:
  PrefillRecorder(const ModelConfig& c, PrefillNeeds needs, int64_t n_tokens)
      : needs_(needs), n_tokens_(n_tokens), row_(size_t(c.n_layers), 0) {
    window_ = int(std::min<int64_t>(needs.window, n_tokens));
    qd_ = int64_t(c.n_heads) * c.head_dim;
    queries_.assign(size_t(c.n_layers), std::vector<float>(size_t(window_ * qd_)));
    positions_.assign(size_t(c.n_layers), std::vector<int32_t>(size_t(window_)));
    if (needs.attention_mass) mass_.assign(size_t(c.n_layers), {});
    if (needs.query_stats_from >= 0) {
      stats_.assign(size_t(c.n_layers), {});
      for (auto& st : stats_) {
        st.sum.assign(size_t(qd_), 0.0);
        if (needs.query_covariance) st.outer.assign(size_t(qd_ * c.head_dim), 0.0);
      }
      inv_freq_ = cpu::rope_inv_freq(c);
    }
    config_ = &c;
  }
  bool wants_attention_mass(int layer) const override { return needs_.attention_mass; }
  void on_layer(const LayerObservation& obs) override {
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
    if (needs_.query_stats_from >= 0) accumulate_query_stats(obs);
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
  LayerView view(int layer, const ModelConfig& c, const KVCache& cache) const {
    LayerView v;
    v.layer = layer;
    v.config = &c;
    v.cache = &cache;
    v.window = window_;
    v.window_queries = window_ > 0 ? queries_[size_t(layer)].data() : nullptr;
    v.window_positions = window_ > 0 ? positions_[size_t(layer)].data() : nullptr;
    v.attn_mass = needs_.attention_mass ? &mass_[size_t(layer)] : nullptr;
    v.query_stats = needs_.query_stats_from >= 0 ? &stats_[size_t(layer)] : nullptr;
    v.n_context = n_tokens_;
    return v;
  }

 private:
  // Pre-RoPE queries (the post-RoPE ones rotated back by their position) summed, and their outer
  // products when asked for.
  void accumulate_query_stats(const LayerObservation& obs) {
    const int64_t Hq = config_->n_heads, D = config_->head_dim;
    QueryStats& st = stats_[size_t(obs.layer)];
    std::vector<float> q(static_cast<size_t>(qd_));
    for (int64_t i = 0; i < obs.n; ++i) {
      if (obs.positions[i] < needs_.query_stats_from) continue;
      std::copy(obs.queries + i * qd_, obs.queries + (i + 1) * qd_, q.begin());
      const int32_t back = -obs.positions[i];
      cpu::rope(q.data(), 1, Hq, D, qd_, &back, inv_freq_, config_->rope_neox);
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

  const ModelConfig* config_ = nullptr;
  std::vector<QueryStats> stats_;  // [L]
  std::vector<float> inv_freq_;
  PrefillNeeds needs_;
  int64_t n_tokens_;
  int window_ = 0;
  int64_t qd_ = 0;
  std::vector<int64_t> row_;
  std::vector<std::vector<float>> queries_;                       // [L][W * Hq*D]
  std::vector<std::vector<int32_t>> positions_;                   // [L][W]
  std::vector<std::vector<std::vector<float>>> mass_;             // [L][Hq][T]
};

void apply_keep(KVCache& cache, int layer, const KeepSets& keep) {
  if (keep.empty()) return;
  KVB_CHECK(int(keep.size()) == cache.n_kv_heads(), "layer {}: method returned keep sets for {} heads, cache has {}",
            layer, keep.size(), cache.n_kv_heads());
  for (int h = 0; h < cache.n_kv_heads(); ++h) cache.keep(layer, h, keep[size_t(h)]);
}

// Decode-time hooks: page selection before attention, decode-step compression after it.
class DecodeHooks final : public ForwardObserver {
 public:
  DecodeHooks(Method& m, const ModelConfig& c, KVCache& cache, double& method_seconds, size_t& peak)
      : m_(m), c_(c), cache_(cache), method_seconds_(method_seconds), peak_(peak) {}
  bool wants_attention_mass(int) const override { return m_.decode_hooks() && m_.decode_wants_mass(); }
  const std::vector<std::vector<int32_t>>* read_sets(int layer, const float* q, int64_t n,
                                                      const KVCache& cache) override {
    if (!m_.has_selector() || n != 1) return nullptr;
    Stopwatch sw;
    read_ = m_.select(layer, q, cache);
    method_seconds_ += sw.seconds();
    return &read_;
  }
  void on_layer(const LayerObservation& obs) override {
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

 private:
  Method& m_;
  const ModelConfig& c_;
  KVCache& cache_;
  double& method_seconds_;
  size_t& peak_;
  ReadSets read_;
  int64_t step_ = 0;
};

}  // namespace

CompressedPrefill prefill_with_method(Transformer& model, const MethodSpec& spec, std::span<const int32_t> context,
                                      std::span<const int32_t> question, int max_new_tokens, CaseResult& r) {
  const ModelConfig& cfg = model.config();
  CompressedPrefill p{model.make_cache(), Tensor{}, make_method(spec, cfg, &model)};
  std::vector<int32_t> compressed(context.begin(), context.end());
  if (spec.query_aware) compressed.insert(compressed.end(), question.begin(), question.end());
  KVB_CHECK(!compressed.empty(), "the prompt has no context tokens to compress");
  r.context_tokens = int64_t(compressed.size());

  KVCache& cache = p.cache;
  cache.reserve(int64_t(compressed.size()));
  Stopwatch prefill;
  PrefillRecorder recorder(cfg, p.method->prefill_needs(), int64_t(compressed.size()));
  p.logits = model.forward(compressed, cache, spec.query_aware ? LogitRows::Last : LogitRows::None, &recorder);
  r.kv_peak_bytes = cache.resident_bytes();
  {
    Stopwatch sw;
    MethodContext budget;
    budget.compression_ratio = spec.compression_ratio;
    budget.token_budget = spec.token_budget;
    const int64_t n_kept = budget.kept_for(int64_t(compressed.size()));
    for (int l = 0; l < cfg.n_layers; ++l) {
      LayerView v = recorder.view(l, cfg, cache);
      v.n_kept = n_kept;
      const KeepSets keep = p.method->compress_prefill(v);
      const auto comp = p.method->compensation(v, keep);  // computed before the dropped entries are freed
      apply_keep(cache, l, keep);
      for (size_t h = 0; h < comp.size(); ++h)
        if (comp[h].present)
          cache.append_compensation(l, int(h), comp[h].key.data(), comp[h].value.data(), comp[h].position,
                                    comp[h].logit_bias);
      const auto channels = p.method->prune_key_channels(v);
      for (size_t h = 0; h < channels.size(); ++h) cache.zero_key_channels(l, int(h), channels[h]);
    }
    p.method->encode(cache);
    r.method_seconds += sw.seconds();
  }
  r.kept_tokens = cache.cached_tokens();
  r.kv_resident_bytes = cache.resident_bytes();
  r.kv_nominal_bytes = cache.nominal_bytes();
  cache.reserve_additional(int64_t(spec.query_aware ? 0 : question.size()) + max_new_tokens);
  if (!spec.query_aware && !question.empty()) p.logits = model.forward(question, cache, LogitRows::Last);
  r.prefill_seconds = prefill.seconds();
  r.kv_peak_bytes = std::max(r.kv_peak_bytes, cache.resident_bytes());
  return p;
}

GenerationResult generate_with_method(Transformer& model, CompressedPrefill& p, const Tokenizer& tok,
                                      GenerationOptions opt, CaseResult& r) {
  DecodeHooks hooks(*p.method, model.config(), p.cache, r.method_seconds, r.kv_peak_bytes);
  opt.observer = &hooks;
  GenerationResult g = generate_greedy(model, tok, p.cache, p.logits.data, opt);
  r.kv_peak_bytes = std::max(r.kv_peak_bytes, p.cache.resident_bytes());
  r.generated_tokens = int(g.tokens.size());
  r.decode_seconds = g.decode_seconds;
  r.decode_step_seconds = g.step_seconds;
  return g;
}

namespace {

// A symbolic case (token ids + labels, e.g. niah_* / mqar form=symbolic on the oracle model), run as
// text cases are: query-agnostic, the context is compressed and the whole question teacher-forced
// after it; query-aware (kvpress's convention), the question up to the first scored row is prefilled
// with the context, that row's target is scored from the prefill's logits (before compression, as a
// text answer's first token is), and the rest is teacher-forced on the compressed cache.
CaseResult run_symbolic_with_method(Transformer& model, const Case& c, const TaskEnv& env, const MethodSpec& spec) {
  const int64_t V = model.config().vocab_size;
  const SymbolicPrompt sp = split_symbolic_case(c, env.tokenizer, int(V));
  CaseResult r;
  r.case_id = c.id;
  r.prompt_tokens = int(sp.size());
  const bool aware = spec.query_aware && !sp.targets.empty();
  const int64_t ahead = aware ? sp.targets.front().question_index + 1 : 0;
  const std::span<const int32_t> prefix(sp.question.data(), size_t(ahead));
  SymbolicPrompt rest;
  rest.question.assign(sp.question.begin() + ahead, sp.question.end());
  for (size_t i = aware ? 1 : 0; i < sp.targets.size(); ++i) {
    SymbolicPrompt::Target t = sp.targets[i];
    t.question_index -= ahead;
    rest.targets.push_back(std::move(t));
  }
  CompressedPrefill p = prefill_with_method(model, spec, sp.context, prefix, 0, r);
  SymbolicScore first;
  if (aware) score_symbolic_target(p.logits.ptr(), V, sp.targets.front(), env.tokenizer, first);
  DecodeHooks hooks(*p.method, model.config(), p.cache, r.method_seconds, r.kv_peak_bytes);
  const bool per_token = p.method->decode_hooks() || p.method->has_selector();
  const SymbolicScore s = answer_symbolic(model, p.cache, rest, env.tokenizer, &hooks, per_token ? 1 : 256);
  r.kv_peak_bytes = std::max(r.kv_peak_bytes, p.cache.resident_bytes());
  const int targets = first.targets + s.targets, hits = first.hits + s.hits;
  r.score = targets > 0 ? 100.0 * hits / targets : 0.0;
  r.prediction = first.prediction;
  if (!r.prediction.empty() && !s.prediction.empty()) r.prediction += ' ';
  r.prediction += s.prediction;
  r.decode_seconds = s.seconds;
  r.generated_tokens = int(rest.question.size());
  return r;
}

}  // namespace

CaseResult run_case(Transformer& model, const Case& c, const TaskEnv& env, const MethodSpec& spec) {
  KVB_CHECK(env.tokenizer != nullptr, "case {}: running a case needs the model's tokenizer", c.id);
  if (!c.input_ids.empty()) return run_symbolic_with_method(model, c, env, spec);
  PromptTokens prompt = encode_prompt(c, env);
  CaseResult r;
  r.case_id = c.id;
  r.prompt_tokens = int(prompt.size());
  CompressedPrefill p = prefill_with_method(model, spec, prompt.context, prompt.question, c.max_new_tokens, r);
  GenerationOptions opt;
  opt.max_new_tokens = c.max_new_tokens;
  GenerationResult g = generate_with_method(model, p, *env.tokenizer, opt, r);
  r.prediction = g.text;
  r.score = score_prediction(c.scorer, r.prediction, c.answers);
  r.extra_scores = score_extra(c, r.prediction);
  return r;
}

ScoreSummary summarize_scores(const std::vector<double>& scores, int resamples) {
  ScoreSummary s;
  s.n = int(scores.size());
  if (scores.empty()) return s;
  double sum = 0;
  for (double v : scores) sum += v;
  s.mean = sum / double(scores.size());
  Rng rng(0x5eedULL);
  std::vector<double> means(static_cast<size_t>(resamples), 0.0);
  for (auto& m : means) {
    double acc = 0;
    for (size_t i = 0; i < scores.size(); ++i) acc += scores[rng.below(scores.size())];
    m = acc / double(scores.size());
  }
  std::sort(means.begin(), means.end());
  s.ci_low = means[size_t(0.025 * (resamples - 1))];
  s.ci_high = means[size_t(0.975 * (resamples - 1))];
  return s;
}

}  // namespace kvb
