// Case runner; see runner.h. A case runs as kvpress runs it: the compressed part (the context, or
// context + question in query-aware mode) is prefilled while the kv layer records the method's
// needs, the method decides per layer which entries each KV head keeps and the kv layer applies
// that (kv/compression_protocol.h), then the question (query-agnostic mode) and greedy decoding
// run on the compressed cache with the method's decode hooks. The runner only drives forward passes.
#include "eval/runner.h"

#include <algorithm>
#include <array>
#include <optional>

#include "core/timer.h"
#include "eval/prompt.h"
#include "eval/scorers.h"
#include "eval/symbolic_runner.h"
#include "engine/generate.h"
#include "kv/compression_protocol.h"

namespace kvb {

RecordedPrefill record_prefill(Transformer& model, std::vector<int32_t> compressed, std::span<const PrefillNeeds> needs,
                               bool want_logits, Method* pattern_source, const Method* calibrating) {
  KVB_CHECK(!compressed.empty(), "the prompt has no context tokens to compress");
  RecordedPrefill rp{model.make_cache(), Tensor{}, nullptr, std::move(compressed)};
  const int64_t T = int64_t(rp.tokens.size());
  rp.cache.reserve(T);
  Stopwatch sw;
  rp.recorder = std::make_unique<PrefillRecorder>(model.config(), needs, T);
  rp.recorder->set_pattern_source(pattern_source);
  rp.recorder->calibrate_with(calibrating);
  rp.logits = model.forward(rp.tokens, rp.cache, want_logits ? LogitRows::Last : LogitRows::None, rp.recorder.get());
  rp.seconds = sw.seconds();
  return rp;
}

size_t RecordedPrefill::bytes() const { return cache.resident_bytes() + recorder->recorded_bytes(); }

CompressedPrefill prefill_with_method(Transformer& model, const MethodSpec& spec, std::span<const int32_t> context,
                                      std::span<const int32_t> question, int max_new_tokens, CaseResult& r,
                                      const RecordedPrefill* shared) {
  const ModelConfig& cfg = model.config();
  std::unique_ptr<Method> method = make_method(spec, cfg, &model);
  std::vector<int32_t> compressed(context.begin(), context.end());
  if (spec.query_aware) compressed.insert(compressed.end(), question.begin(), question.end());
  r.context_tokens = int64_t(compressed.size());

  // The compressed part prefilled with full attention: this method's own prefill, or a copy of one
  // shared with other methods (its time is counted in every row that uses it).
  std::optional<RecordedPrefill> own;
  const bool changes_prefill = find_method(spec.id).roles.changes_prefill;
  if (shared) {
    KVB_CHECK(!changes_prefill, "shared prefill: method '{}' changes the prefill and needs its own", spec.id);
    KVB_CHECK(model.make_cache().mirror() == nullptr, "shared prefill: this backend keeps a device copy of the "
              "cache, which a copied cache would not follow; run the methods one by one");
    KVB_CHECK(shared->tokens == compressed, "shared prefill: its {} tokens are not this case's {} compressed tokens",
              shared->tokens.size(), compressed.size());
    KVB_CHECK(!calibrates_attention(*method, cfg.n_layers), "shared prefill: method {} recalibrates attention, so its "
              "prefill is its own (MethodRoles::changes_prefill)", spec.id);
  } else {
    const PrefillNeeds needs = method->prefill_needs();
    own.emplace(record_prefill(model, std::move(compressed), std::span<const PrefillNeeds>(&needs, 1), spec.query_aware,
                               changes_prefill ? method.get() : nullptr, method.get()));
    if (changes_prefill) {
      const PrefillRecorder::PatternStats& ps = own->recorder->pattern_stats();
      r.prefill_pairs_attended = ps.attended;
      r.prefill_pairs_causal = ps.causal;
      r.method_seconds += ps.seconds;
    }
  }
  CompressedPrefill p{shared ? KVCache(shared->cache) : std::move(own->cache),
                      shared ? shared->logits : std::move(own->logits), std::move(method)};
  const RecordedPrefill& base = shared ? *shared : *own;
  Stopwatch after_prefill;
  KVCache& cache = p.cache;
  r.kv_peak_bytes = cache.resident_bytes();
  {
    Stopwatch sw;
    MethodContext budget;
    budget.compression_ratio = spec.compression_ratio;
    budget.token_budget = spec.token_budget;
    apply_prefill_decisions(*p.method, *base.recorder, cfg.n_layers, budget.kept_for(int64_t(base.tokens.size())),
                            cache);
    r.method_seconds += sw.seconds();
  }
  r.kept_tokens = cache.cached_tokens();
  r.kv_resident_bytes = cache.resident_bytes();
  r.kv_nominal_bytes = cache.nominal_bytes();
  cache.reserve_additional(int64_t(spec.query_aware ? 0 : question.size()) + max_new_tokens);
  if (!spec.query_aware && !question.empty()) {
    CalibrationObserver calibration(*p.method);  // act: the question's attention is recalibrated too
    p.logits = model.forward(question, cache, LogitRows::Last,
                             calibrates_attention(*p.method, cfg.n_layers) ? &calibration : nullptr);
  }
  r.prefill_seconds = base.seconds + after_prefill.seconds();
  r.kv_peak_bytes = std::max(r.kv_peak_bytes, cache.resident_bytes());
  if (shared) r.shared_prefill_bytes = shared->bytes();
  return p;
}

GenerationResult generate_with_method(Transformer& model, CompressedPrefill& p, const Tokenizer& tok,
                                      GenerationOptions opt, CaseResult& r) {
  DecodeHooks hooks(*p.method, model.config(), p.cache, r.method_seconds, r.kv_peak_bytes, &r.decode_reads);
  opt.observer = &hooks;
  GenerationResult g = generate_greedy(model, tok, p.cache, p.logits.data, opt);
  record_generation(g, p.cache, r);
  return g;
}

void record_generation(const GenerationResult& g, const KVCache& cache, CaseResult& r) {
  r.kv_peak_bytes = std::max(r.kv_peak_bytes, cache.resident_bytes());
  r.generated_tokens = int(g.tokens.size());
  r.decode_seconds = g.decode_seconds;
  r.decode_step_seconds = g.step_seconds;
  r.prediction = g.text;
}

void score_case(const Case& c, CaseResult& r) {
  r.score = score_prediction(c.scorer, r.prediction, c.answers);
  r.extra_scores = score_extra(c, r.prediction);
  r.score_detail = score_detail(c.scorer, r.prediction, c.answers);
}

namespace {

// A symbolic case (token ids + labels, e.g. niah_* / mqar form=symbolic on the oracle model), run as
// text cases are: query-agnostic, the context is compressed and the whole question teacher-forced
// after it; query-aware (kvpress's convention), the question up to the first scored row is prefilled
// with the context, that row's target is scored from the prefill's logits (before compression, as a
// text answer's first token is), and the rest is teacher-forced on the compressed cache.
// The symbolic prompt split for `query_aware`: the context, the question prefix prefilled with it
// (query-aware: up to the first scored row), and the rest of the question with its targets.
struct SymbolicSplit {
  SymbolicPrompt sp;
  bool aware = false;
  int64_t ahead = 0;
};
SymbolicSplit split_symbolic(const Case& c, const TaskEnv& env, int64_t V, bool query_aware) {
  SymbolicSplit s{split_symbolic_case(c, env.tokenizer, int(V))};
  s.aware = query_aware && !s.sp.targets.empty();
  s.ahead = s.aware ? s.sp.targets.front().question_index + 1 : 0;
  return s;
}

CaseResult run_symbolic_with_method(Transformer& model, const Case& c, const TaskEnv& env, const MethodSpec& spec,
                                    const RecordedPrefill* shared) {
  const int64_t V = model.config().vocab_size;
  const SymbolicSplit split = split_symbolic(c, env, V, spec.query_aware);
  const SymbolicPrompt& sp = split.sp;
  CaseResult r;
  r.case_id = c.id;
  r.prompt_tokens = int(sp.size());
  const bool aware = split.aware;
  const int64_t ahead = split.ahead;
  const std::span<const int32_t> prefix(sp.question.data(), size_t(ahead));
  SymbolicPrompt rest;
  rest.question.assign(sp.question.begin() + ahead, sp.question.end());
  for (size_t i = aware ? 1 : 0; i < sp.targets.size(); ++i) {
    SymbolicPrompt::Target t = sp.targets[i];
    t.question_index -= ahead;
    rest.targets.push_back(std::move(t));
  }
  CompressedPrefill p = prefill_with_method(model, spec, sp.context, prefix, 0, r, shared);
  SymbolicScore first;
  if (aware) score_symbolic_target(p.logits.ptr(), V, sp.targets.front(), env.tokenizer, first);
  DecodeHooks hooks(*p.method, model.config(), p.cache, r.method_seconds, r.kv_peak_bytes, &r.decode_reads);
  const bool per_token = p.method->decode_hooks() || p.method->has_selector();
  const SymbolicScore s = answer_symbolic(model, p.cache, rest, env.tokenizer, &hooks, per_token ? 1 : 256);
  r.kv_peak_bytes = std::max(r.kv_peak_bytes, p.cache.resident_bytes());
  const int targets = first.targets + s.targets, hits = first.hits + s.hits;
  r.score = targets > 0 ? 100.0 * hits / targets : 0.0;
  // Per-target facts in question order: hop correctness (needle_threading), token NLL (perplexity).
  const std::array<const SymbolicScore*, 2> parts{&first, &s};
  if (c.meta.extra.contains("hops_per_path")) {
    nlohmann::json hops = nlohmann::json::array();
    for (const SymbolicScore* part : parts)
      for (bool h : part->target_hits) hops.push_back(h ? 1 : 0);
    r.score_detail = {{"hops", hops}};
  }
  if (c.meta.extra.value("token_nll", false))
    for (const SymbolicScore* part : parts) r.token_nll.insert(r.token_nll.end(), part->target_nll.begin(), part->target_nll.end());
  r.prediction = first.prediction;
  if (!r.prediction.empty() && !s.prediction.empty()) r.prediction += ' ';
  r.prediction += s.prediction;
  r.decode_seconds = s.seconds;
  r.generated_tokens = int(rest.question.size());
  return r;
}

}  // namespace

std::vector<int32_t> compressed_part(const Case& c, const TaskEnv& env, const ModelConfig& config, bool query_aware) {
  KVB_CHECK(env.tokenizer != nullptr, "case {}: running a case needs the model's tokenizer", c.id);
  std::vector<int32_t> out;
  if (!c.input_ids.empty()) {
    const SymbolicSplit s = split_symbolic(c, env, config.vocab_size, query_aware);
    out = s.sp.context;
    out.insert(out.end(), s.sp.question.begin(), s.sp.question.begin() + s.ahead);
    return out;
  }
  const PromptTokens prompt = encode_prompt(c, env);
  out = prompt.context;
  if (query_aware) out.insert(out.end(), prompt.question.begin(), prompt.question.end());
  return out;
}

CaseResult run_case(Transformer& model, const Case& c, const TaskEnv& env, const MethodSpec& spec,
                    const RecordedPrefill* shared) {
  KVB_CHECK(env.tokenizer != nullptr, "case {}: running a case needs the model's tokenizer", c.id);
  if (!c.input_ids.empty()) return run_symbolic_with_method(model, c, env, spec, shared);
  PromptTokens prompt = encode_prompt(c, env);
  CaseResult r;
  r.case_id = c.id;
  r.prompt_tokens = int(prompt.size());
  CompressedPrefill p = prefill_with_method(model, spec, prompt.context, prompt.question, c.max_new_tokens, r, shared);
  GenerationOptions opt;
  opt.max_new_tokens = c.max_new_tokens;
  generate_with_method(model, p, *env.tokenizer, opt, r);
  score_case(c, r);
  return r;
}

std::vector<BatchedRow> run_case_batch(Transformer& model, const Case& c, const TaskEnv& env,
                                       std::span<const MethodSpec> methods, const RecordedPrefill& shared) {
  std::vector<BatchedRow> rows(methods.size());
  auto fail = [&](size_t i, const std::exception& e) {
    rows[i].result = CaseResult{};
    rows[i].error = e.what();
  };
  if (!c.input_ids.empty()) {
    for (size_t i = 0; i < methods.size(); ++i) {
      try {
        rows[i].result = run_case(model, c, env, methods[i], &shared);
      } catch (const std::exception& e) {
        fail(i, e);
      }
    }
    return rows;
  }
  KVB_CHECK(env.tokenizer != nullptr, "case {}: running a case needs the model's tokenizer", c.id);
  const PromptTokens prompt = encode_prompt(c, env);
  // Compression and question prefill, row by row; the rows that got there decode together.
  std::vector<std::optional<CompressedPrefill>> prefills(methods.size());
  std::vector<std::unique_ptr<DecodeHooks>> hooks(methods.size());
  std::vector<size_t> decoding;
  for (size_t i = 0; i < methods.size(); ++i) {
    CaseResult& r = rows[i].result;
    r.case_id = c.id;
    r.prompt_tokens = int(prompt.size());
    try {
      prefills[i].emplace(
          prefill_with_method(model, methods[i], prompt.context, prompt.question, c.max_new_tokens, r, &shared));
      hooks[i] = std::make_unique<DecodeHooks>(*prefills[i]->method, model.config(), prefills[i]->cache,
                                               r.method_seconds, r.kv_peak_bytes, &r.decode_reads);
      decoding.push_back(i);
    } catch (const std::exception& e) {
      fail(i, e);
    }
  }
  std::vector<KVCache*> caches;
  std::vector<std::span<const float>> logits;
  std::vector<GenerationOptions> opts;
  for (size_t i : decoding) {
    caches.push_back(&prefills[i]->cache);
    logits.push_back(prefills[i]->logits.data);
    GenerationOptions o;
    o.max_new_tokens = c.max_new_tokens;
    o.observer = hooks[i].get();
    opts.push_back(o);
  }
  std::vector<GenerationResult> gens;
  try {
    gens = generate_greedy_batch(model, *env.tokenizer, caches, logits, opts);
  } catch (const std::exception& e) {
    for (size_t i : decoding) fail(i, e);
    return rows;
  }
  for (size_t k = 0; k < decoding.size(); ++k) {
    const size_t i = decoding[k];
    record_generation(gens[k], prefills[i]->cache, rows[i].result);
    try {
      score_case(c, rows[i].result);
    } catch (const std::exception& e) {
      fail(i, e);
    }
  }
  return rows;
}

}  // namespace kvb
