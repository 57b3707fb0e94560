// Symbolic case runner; see symbolic_runner.h. Scoring follows Zoology's MQAR accuracy (argmax of the
// next-token logits at every labelled position, inputs teacher-forced); label sets score by top-k.
// Exercised by `kvbench oracle-check` and tests/test_oracle_tasks.cpp.
#include "eval/symbolic_runner.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/timer.h"

namespace kvb {

SymbolicPrompt split_symbolic_case(const Case& c, const Tokenizer* tokenizer, int vocab_size) {
  KVB_CHECK(!c.input_ids.empty(), "case {}: not a symbolic case (no input_ids)", c.id);
  KVB_CHECK(c.labels.size() == c.input_ids.size(), "case {}: {} labels for {} input ids", c.id, c.labels.size(),
            c.input_ids.size());
  for (int32_t x : c.input_ids)
    KVB_CHECK(x >= 0 && x < vocab_size, "case {}: token id {} is outside the model's vocabulary of {}", c.id, x,
              vocab_size);
  const bool add_bos = tokenizer && tokenizer->spec().add_bos && tokenizer->bos_id() >= 0 &&
                       c.input_ids.front() != tokenizer->bos_id();
  int64_t first_label = -1;
  for (size_t i = 0; i < c.labels.size(); ++i)
    if (c.labels[i] != -100) {
      first_label = int64_t(i);
      break;
    }
  const nlohmann::json sets = c.meta.extra.value("label_sets", nlohmann::json::array());
  for (const auto& s : sets) {
    const int64_t pos = s.at("position").get<int64_t>();
    if (first_label < 0 || pos < first_label) first_label = pos;
  }
  KVB_CHECK(first_label >= 0, "case {}: no labelled position to score", c.id);
  int64_t ctx = c.meta.extra.contains("context_tokens") ? c.meta.extra["context_tokens"].get<int64_t>() : first_label;
  KVB_CHECK(ctx >= 1 && ctx <= first_label, "case {}: context_tokens {} must be in 1..{} (the first labelled position)",
            c.id, ctx, first_label);

  SymbolicPrompt p;
  if (add_bos) p.context.push_back(tokenizer->bos_id());
  p.context.insert(p.context.end(), c.input_ids.begin(), c.input_ids.begin() + ctx);
  p.question.assign(c.input_ids.begin() + ctx, c.input_ids.end());
  // Targets in position order: labels, then sets merged in.
  std::vector<std::pair<int64_t, std::vector<int32_t>>> all;
  for (size_t i = 0; i < c.labels.size(); ++i)
    if (c.labels[i] != -100) {
      KVB_CHECK(c.labels[i] >= 0 && c.labels[i] < vocab_size, "case {}: label {} at {} is outside the vocabulary",
                c.id, c.labels[i], i);
      all.push_back({int64_t(i), {c.labels[i]}});
    }
  for (const auto& s : sets) {
    auto ids = s.at("ids").get<std::vector<int32_t>>();
    KVB_CHECK(!ids.empty(), "case {}: empty label set", c.id);
    for (int32_t x : ids) KVB_CHECK(x >= 0 && x < vocab_size, "case {}: label-set id {} is outside the vocabulary", c.id, x);
    all.push_back({s.at("position").get<int64_t>(), ids});
  }
  std::stable_sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first < b.first; });
  for (auto& [pos, ids] : all) {
    KVB_CHECK(pos >= ctx && pos < int64_t(c.input_ids.size()), "case {}: labelled position {} is not in the question part", c.id, pos);
    p.targets.push_back({pos - ctx, std::move(ids)});
  }
  return p;
}

void score_symbolic_target(const float* row, int64_t V, const SymbolicPrompt::Target& t, const Tokenizer* tokenizer,
                           SymbolicScore& s) {
  const int64_t k = int64_t(t.ids.size());
  std::vector<int32_t> order(static_cast<size_t>(V));
  for (int64_t v = 0; v < V; ++v) order[size_t(v)] = int32_t(v);
  // Top k by logit, ties to the lower id.
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
    return row[a] != row[b] ? row[a] > row[b] : a < b;
  });
  s.predicted.push_back(order[0]);
  bool all = true;
  for (int32_t id : t.ids) {
    ++s.targets;
    const bool hit = std::find(order.begin(), order.begin() + k, id) != order.begin() + k;
    s.hits += hit;
    all &= hit;
  }
  s.target_hits.push_back(all);
  // -log softmax at the target id, in double: log-sum-exp shifted by the largest logit.
  double nll = std::numeric_limits<double>::quiet_NaN();
  if (k == 1) {
    const double top = row[order[0]];
    double sum = 0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - top);
    nll = top + std::log(sum) - double(row[t.ids[0]]);
  }
  s.target_nll.push_back(nll);
  if (!s.prediction.empty()) s.prediction += ' ';
  if (k == 1) {
    s.prediction += tokenizer ? tokenizer->token_bytes(order[0]) : std::to_string(order[0]);
  } else {
    s.prediction += '{';
    for (int64_t i = 0; i < k; ++i)
      s.prediction += (i ? "," : "") + (tokenizer ? tokenizer->token_bytes(order[size_t(i)]) : std::to_string(order[size_t(i)]));
    s.prediction += '}';
  }
}

SymbolicScore answer_symbolic(Transformer& model, KVCache& cache, const SymbolicPrompt& p, const Tokenizer* tokenizer,
                              ForwardObserver* observer, int chunk) {
  KVB_CHECK(chunk >= 1, "answer_symbolic: chunk must be >= 1");
  SymbolicScore s;
  Stopwatch sw;
  const int64_t V = model.config().vocab_size;
  const int64_t n = int64_t(p.question.size());
  cache.reserve_additional(n);
  size_t next = 0;
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t len = std::min<int64_t>(chunk, n - start);
    const bool scored = next < p.targets.size() && p.targets[next].question_index < start + len;
    Tensor logits = model.forward(std::span<const int32_t>(p.question.data() + start, size_t(len)), cache,
                                  scored ? LogitRows::All : LogitRows::None, observer);
    while (next < p.targets.size() && p.targets[next].question_index < start + len) {
      const auto& t = p.targets[next++];
      score_symbolic_target(logits.ptr() + (t.question_index - start) * V, V, t, tokenizer, s);
    }
  }
  s.seconds = sw.seconds();
  s.score = s.targets > 0 ? 100.0 * s.hits / s.targets : 0.0;
  return s;
}

SymbolicRun run_symbolic_case(Transformer& model, const Case& c, const Tokenizer* tokenizer) {
  SymbolicPrompt p = split_symbolic_case(c, tokenizer, model.config().vocab_size);
  SymbolicRun r;
  r.prompt_tokens = int(p.size());
  r.context_tokens = int64_t(p.context.size());
  KVCache cache = model.make_cache();
  cache.reserve(int64_t(p.size()));
  Stopwatch sw;
  model.forward(p.context, cache, LogitRows::None);
  r.prefill_seconds = sw.seconds();
  r.result = answer_symbolic(model, cache, p, tokenizer);
  return r;
}

}  // namespace kvb
