// `kvbench calibrate duo --model M --out DIR [--length N --n K --seed S --sink 64 --recent 256]` —
// estimates DuoAttention head scores on synthetic passkey cases (niah_single, noise haystack) and
// writes DuoAttention's pattern format: DIR/full_attention_heads.tsv (rows = layers, one value per KV
// head in [0, 1]) and DIR/config.json (sink_size, recent_size), read by
// `--method duo_attention --param pattern=DIR`. The score of a head is the share of the question's
// attention that falls outside the sink + recent window (max over the GQA group, mean over cases):
// a heuristic, not the paper's gate training (methods/README.md).
// `kvbench calibrate loki --model M --out FILE [--length N --n K --seed S --text-dir DIR]` — the PCA
// basis of the post-RoPE keys per (layer, KV head) for `--method loki --param basis=FILE`
// (kv/pca_basis.h): K sequences of N tokens of the procedural essay (or the *.txt files of DIR, e.g.
// WikiText as in the paper) are prefilled and every cached key is accumulated.
// `kvbench calibrate minference --model M --out FILE [--length N --n K --seed S --ratio R]` — MInference's
// offline per-head pattern search (v1 objective: recall of the dense attention mass) on synthetic
// passkey cases (niah_single, noise haystack, the whole prompt): per query head, every candidate of
// methods-wave2 §1 (A-shape, six vertical-slash sizes, block-sparse), scaled to the row budget of
// --ratio as `--method minference` scales it, is estimated online and scored by the mean over rows
// of the dense attention it keeps; the best (first on ties) is written in MInference's
// best_pattern JSON, read by `--method minference --param pattern=FILE`.
// `kvbench calibrate act --model M --out FILE [--length N --n K --seed S --tau 0.1 --beta 0.4
// --candidates C]` — ACT's head list (kv/act_heads.h) for `--method act --param heads=FILE`: a greedy
// forward selection on synthetic passkey cases (niah_single, noise haystack) by the answer's NLL.
#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "datasets/text_sources.h"
#include "kv/act_heads.h"
#include "kv/pca_basis.h"
#include "methods/minference.h"
#include "core/log.h"
#include "core/threads.h"
#include "eval/prompt.h"
#include "eval/task.h"
#include "model/model_path.h"
#include "engine/transformer.h"

namespace kvb::cli {
namespace {

struct CalibrateArgs {
  std::string model, out;
  EngineOptions engine;
  int length = 2048, n = 8;
  int64_t sink = 64, recent = 256;
  uint64_t seed = 0;
};

// Attention mass the question's queries give each cached entry, per layer: [L][Hq][T].
struct QuestionMass final : ForwardObserver {
  std::vector<std::vector<std::vector<float>>> mass;
  bool wants_attention_mass(int) const override { return true; }
  void on_layer(const LayerObservation& o) override {
    auto& m = mass[size_t(o.layer)];
    m.resize(o.attn_mass->size());
    for (size_t qh = 0; qh < m.size(); ++qh) {
      m[qh].resize((*o.attn_mass)[qh].size(), 0.0f);
      for (size_t j = 0; j < m[qh].size(); ++j) m[qh][j] += (*o.attn_mass)[qh][j];
    }
  }
};

void run_calibrate(const CalibrateArgs& a) {
  set_num_threads(a.engine.threads);
  KVB_CHECK(a.sink >= 0 && a.recent >= 1, "calibrate duo: --sink must be >= 0 and --recent >= 1");
  Checkpoint ck = load_checkpoint(resolve_model_path(a.model));
  auto tok = make_tokenizer(ck.tokenizer);
  TaskEnv env{tok.get(), resolve_chat_format("auto", ck.chat_template)};
  TaskParams p{{"haystack", "noise"}, {"value_type", "number"}, {"length", std::to_string(a.length)},
               {"num_samples", std::to_string(a.n)}, {"max_new_tokens", "16"}};
  std::vector<Case> cases = generate_cases("niah_single", p, a.seed, env);
  Transformer model(ck.config, ck.weights, a.engine);
  const ModelConfig& c = ck.config;
  const int group = c.n_heads / c.n_kv_heads;
  std::vector<double> score(size_t(c.n_layers * c.n_kv_heads), 0.0);
  for (size_t i = 0; i < cases.size(); ++i) {
    PromptTokens prompt = encode_prompt(cases[i], env);
    KVCache cache = model.make_cache();
    model.forward(prompt.context, cache, LogitRows::None);
    QuestionMass obs;
    obs.mass.resize(size_t(c.n_layers));
    model.forward(prompt.question, cache, LogitRows::None, &obs);
    const int64_t T = int64_t(prompt.context.size());  // the window is judged over the context
    for (int l = 0; l < c.n_layers; ++l)
      for (int g = 0; g < c.n_kv_heads; ++g) {
        double best = 0;
        for (int qh = g * group; qh < (g + 1) * group; ++qh) {
          const auto& m = obs.mass[size_t(l)][size_t(qh)];
          double total = 0, outside = 0;
          for (int64_t j = 0; j < T; ++j) {
            total += m[size_t(j)];
            if (j >= a.sink && j < T - a.recent) outside += m[size_t(j)];
          }
          best = std::max(best, total > 0 ? outside / total : 0.0);
        }
        score[size_t(l * c.n_kv_heads + g)] += best / double(cases.size());
      }
    log_info("calibrate duo: case {}/{} ({} context tokens)", i + 1, cases.size(), T);
  }
  std::filesystem::create_directories(a.out);
  std::ofstream tsv(std::filesystem::path(a.out) / "full_attention_heads.tsv");
  KVB_CHECK(tsv.good(), "{}: cannot write", a.out);
  for (int l = 0; l < c.n_layers; ++l) {
    for (int g = 0; g < c.n_kv_heads; ++g)
      tsv << (g ? "\t" : "") << fmt::format("{:.6f}", std::clamp(score[size_t(l * c.n_kv_heads + g)], 0.0, 1.0));
    tsv << "\n";
  }
  std::ofstream cfg(std::filesystem::path(a.out) / "config.json");
  cfg << nlohmann::json{{"sink_size", a.sink},
                        {"recent_size", a.recent},
                        {"calibration", "kvbench calibrate duo: share of question attention outside sink+recent"},
                        {"model", ck.name()},
                        {"cases", cases.size()},
                        {"length", a.length}}
             .dump(2)
      << "\n";
  fmt::print("wrote {}/full_attention_heads.tsv ({} layers x {} KV heads) and config.json\n", a.out, c.n_layers,
             c.n_kv_heads);
}

struct LokiArgs {
  std::string model, out, text_dir;
  EngineOptions engine;
  int length = 2048, n = 4;
  uint64_t seed = 0;
};

void run_calibrate_loki(const LokiArgs& a) {
  set_num_threads(a.engine.threads);
  KVB_CHECK(a.length >= 16 && a.n >= 1, "calibrate loki: --length must be >= 16 and --n >= 1");
  Checkpoint ck = load_checkpoint(resolve_model_path(a.model));
  auto tok = make_tokenizer(ck.tokenizer);
  Transformer model(ck.config, ck.weights, a.engine);
  const ModelConfig& c = ck.config;
  std::vector<KeyMoments> moments;
  for (int i = 0; i < a.n; ++i) {
    datasets::UnitStream text = a.text_dir.empty() ? datasets::essay_stream(a.seed + uint64_t(i))
                                                   : datasets::corpus_stream(a.text_dir);
    // Sequence i of a corpus starts at unit i * 4096 (distinct text per sequence); the essay differs by seed.
    size_t unit = a.text_dir.empty() ? 0 : size_t(i) * 4096, chars = size_t(a.length) * 4;
    std::string joined;
    std::vector<int32_t> ids;
    while (true) {
      while (joined.size() < chars) joined += text.unit(unit++);
      ids = tok->encode(joined);
      if (int64_t(ids.size()) >= a.length) break;
      KVB_CHECK(chars < size_t(a.length) * 64, "calibrate loki: {} characters of text gave only {} tokens", chars,
                ids.size());
      chars *= 2;
    }
    ids.resize(size_t(a.length));
    KVCache cache = model.make_cache();
    model.forward(ids, cache, LogitRows::None);
    add_cache_keys(cache, moments);
    log_info("calibrate loki: sequence {}/{} ({} tokens)", i + 1, a.n, ids.size());
  }
  PcaBasis b = pca_basis_from(moments, c.n_layers, c.n_kv_heads, c.head_dim, ck.name());
  write_pca_basis(a.out, b);
  // Explained variance of the first D/4 components, mean over heads (the paper's d_f = 0.25).
  const int r = std::max(1, c.head_dim / 4);
  double explained = 0;
  for (int l = 0; l < c.n_layers; ++l)
    for (int g = 0; g < c.n_kv_heads; ++g) {
      const float* ev = b.eigenvalues_of(l, g);
      double top = 0, all = 0;
      for (int d = 0; d < c.head_dim; ++d) (d < r ? top : all) += ev[d];
      explained += top / (top + all) / double(c.n_layers * c.n_kv_heads);
    }
  fmt::print("wrote {} ({} layers x {} KV heads x head dim {}, {} keys per head); first {} components explain {:.1f}% "
             "of the key variance (mean over heads)\n",
             a.out, c.n_layers, c.n_kv_heads, c.head_dim, moments.empty() ? 0 : moments[0].n, r, 100.0 * explained);
}

struct MInferenceArgs {
  std::string model, out;
  EngineOptions engine;
  int length = 2048, n = 1;
  uint64_t seed = 0;
  double ratio = 0.5;
};

// Every layer's post-RoPE queries of a prefill: [L][T * Hq*D].
struct AllQueries final : ForwardObserver {
  std::vector<std::vector<float>> q;
  int64_t row_floats = 0;  // Hq * D
  void on_layer(const LayerObservation& o) override {
    auto& dst = q[size_t(o.layer)];
    dst.insert(dst.end(), o.queries, o.queries + o.n * row_floats);
  }
};

void run_calibrate_minference(const MInferenceArgs& a) {
  using namespace minference;
  set_num_threads(a.engine.threads);
  KVB_CHECK(a.length >= 16 && a.n >= 1, "calibrate minference: --length must be >= 16 and --n >= 1");
  KVB_CHECK(a.ratio > 0.0 && a.ratio < 1.0, "calibrate minference: --ratio {} must be in (0, 1)", a.ratio);
  Checkpoint ck = load_checkpoint(resolve_model_path(a.model));
  auto tok = make_tokenizer(ck.tokenizer);
  TaskEnv env{tok.get(), resolve_chat_format("auto", ck.chat_template)};
  TaskParams p{{"haystack", "noise"}, {"value_type", "number"}, {"length", std::to_string(a.length)},
               {"num_samples", std::to_string(a.n)}, {"max_new_tokens", "16"}};
  std::vector<Case> cases = generate_cases("niah_single", p, a.seed, env);
  Transformer model(ck.config, ck.weights, a.engine);
  const ModelConfig& c = ck.config;
  const int64_t Hq = c.n_heads, D = c.head_dim, group = Hq / c.n_kv_heads, QD = Hq * D;
  constexpr int64_t kLastQ = 64, kBlock = 64;
  // The spec's candidates at the paper's sizes (methods-wave2 §1; search v1 + v2's two VS sizes).
  const std::vector<HeadChoice> candidates = {
      {PatternType::AShape, 128, 3968},         {PatternType::VerticalSlash, 30, 800},
      {PatternType::VerticalSlash, 100, 750},   {PatternType::VerticalSlash, 500, 700},
      {PatternType::VerticalSlash, 3500, 100},  {PatternType::VerticalSlash, 100, 800},
      {PatternType::VerticalSlash, 1000, 4096}, {PatternType::BlockSparse, 100, 0}};
  std::vector<double> recall(size_t(c.n_layers * Hq) * candidates.size(), 0.0);  // [L][Hq][candidate]
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    PromptTokens prompt = encode_prompt(cases[ci], env);
    std::vector<int32_t> ids = prompt.context;
    ids.insert(ids.end(), prompt.question.begin(), prompt.question.end());
    const int64_t T = int64_t(ids.size());
    KVCache cache = model.make_cache();
    AllQueries obs;
    obs.q.resize(size_t(c.n_layers));
    obs.row_floats = QD;
    model.forward(ids, cache, LogitRows::None, &obs);
    const int64_t k = row_budget_for_ratio(a.ratio, T, T);
    std::vector<float> P(size_t(T * T));
    std::vector<uint8_t> allowed;
    for (int l = 0; l < c.n_layers; ++l)
      for (int64_t h = 0; h < Hq; ++h) {
        const HeadRows rows = cache.rows(l, int(h / group));
        const float* q = obs.q[size_t(l)].data() + h * D;
        // Dense causal attention P [T, T] (row e over entries 0..e).
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(T), int(D), 1.0f / std::sqrt(float(D)), q,
                    int(QD), rows.keys(), int(D), 0.0f, P.data(), int(T));
        for (int64_t e = 0; e < T; ++e) {
          float* row = P.data() + e * T;
          const float mx = *std::max_element(row, row + e + 1);
          double sum = 0;
          for (int64_t j = 0; j <= e; ++j) sum += (row[j] = std::exp(row[j] - mx));
          for (int64_t j = 0; j <= e; ++j) row[j] = float(row[j] / sum);
        }
        const int64_t m = std::min(kLastQ, T);
        const VsEstimate vs = vertical_slash(q + (T - m) * QD, m, QD, rows.keys(), T, D, 1.0f / std::sqrt(float(D)));
        for (size_t cand = 0; cand < candidates.size(); ++cand) {
          const HeadChoice sc = scaled_choice(candidates[cand], k, kBlock);
          const HeadPrefillPattern pat = sc.type == PatternType::VerticalSlash
                                             ? vs.lines(sc.v, sc.s)
                                             : head_pattern(sc, q, T, QD, rows.keys(), T, D, kLastQ, kBlock);
          double kept = 0;
          for (int64_t e = 0; e < T; ++e) {
            allowed_entries(pat, e, allowed);
            const float* row = P.data() + e * T;
            for (int64_t j = 0; j <= e; ++j) kept += allowed[size_t(j)] ? row[j] : 0.0f;
          }
          recall[size_t((l * Hq + h) * int64_t(candidates.size())) + cand] += kept / double(T) / double(cases.size());
        }
      }
    log_info("calibrate minference: case {}/{} ({} tokens, row budget {})", ci + 1, cases.size(), T, k);
  }
  PatternConfig cfg(size_t(c.n_layers), std::vector<HeadChoice>(static_cast<size_t>(Hq)));
  std::map<std::string, int> chosen;
  double mean_best = 0;
  for (int l = 0; l < c.n_layers; ++l)
    for (int64_t h = 0; h < Hq; ++h) {
      const double* r = recall.data() + (l * Hq + h) * int64_t(candidates.size());
      const size_t best = size_t(std::max_element(r, r + candidates.size()) - r);  // first of equals
      HeadChoice pick = candidates[best];
      pick.score = std::round(r[best] * 1e6) / 1e6;
      cfg[size_t(l)][size_t(h)] = pick;
      ++chosen[fmt::format("{}({},{})", type_name(pick.type), pick.v, pick.s)];
      mean_best += r[best] / double(c.n_layers * Hq);
    }
  write_pattern_file(a.out, cfg);
  std::string summary;
  for (const auto& [name, count] : chosen) summary += fmt::format("{}{} x{}", summary.empty() ? "" : ", ", name, count);
  fmt::print("wrote {} ({} layers x {} query heads; ratio {}): {}; mean recall of dense attention mass {:.4f}\n", a.out,
             c.n_layers, Hq, a.ratio, summary, mean_best);
}

struct ActArgs {
  std::string model, out;
  EngineOptions engine;
  int length = 512, n = 2, candidates = 12;
  double tau = 0.1, beta = 0.4;
  uint64_t seed = 0;
};

// Per chunk of a forward pass, the hidden-sink weight of every (layer, query head): the summed mean
// attention of the columns over tau, the first one excepted (backends/cpu/attention_calibration.h's
// rule on the recorded attention mass). [L][Hq]
struct HiddenSinkMass final : ForwardObserver {
  std::vector<std::vector<double>> score;
  double tau = 0.1;
  bool wants_attention_mass(int) const override { return true; }
  void on_layer(const LayerObservation& o) override {
    for (size_t qh = 0; qh < o.attn_mass->size(); ++qh) {
      const std::vector<float>& m = (*o.attn_mass)[qh];
      const int64_t T = int64_t(m.size()), past = T - o.n;
      bool first = true;
      for (int64_t j = 0; j < T; ++j) {
        const double mean = double(m[size_t(j)]) / double(j <= past ? o.n : T - j);
        if (!(mean > tau)) continue;
        if (!first) score[size_t(o.layer)][qh] += mean;
        first = false;
      }
    }
  }
};

// The forward passes of an evaluation run with these heads calibrated.
struct ActHeadsObserver final : ForwardObserver {
  std::vector<AttentionCalibration> layers;  // [L]
  ActHeadsObserver(const ModelConfig& c, const ActHeads& heads, float tau, float beta) : layers(size_t(c.n_layers)) {
    for (auto& a : layers) {
      a.heads.assign(size_t(c.n_heads), 0);
      a.tau = tau;
      a.beta = beta;
    }
    for (const auto& [l, h] : heads) layers[size_t(l)].heads[size_t(h)] = 1;
  }
  const AttentionCalibration* attention_calibration(int layer) override {
    return layers[size_t(layer)].any() ? &layers[size_t(layer)] : nullptr;
  }
};

void run_calibrate_act(const ActArgs& a) {
  set_num_threads(a.engine.threads);
  KVB_CHECK(a.length >= 64 && a.n >= 1 && a.candidates >= 1, "calibrate act: --length must be >= 64, --n and "
            "--candidates >= 1");
  KVB_CHECK(a.tau > 0 && a.tau < 1 && a.beta >= 0 && a.beta <= 1, "calibrate act: --tau {} must be in (0, 1) and "
            "--beta {} in [0, 1]", a.tau, a.beta);
  Checkpoint ck = load_checkpoint(resolve_model_path(a.model));
  auto tok = make_tokenizer(ck.tokenizer);
  TaskEnv env{tok.get(), resolve_chat_format("auto", ck.chat_template)};
  TaskParams p{{"haystack", "noise"}, {"value_type", "number"}, {"length", std::to_string(a.length)},
               {"num_samples", std::to_string(a.n)}, {"max_new_tokens", "16"}};
  const std::vector<Case> cases = generate_cases("niah_single", p, a.seed, env);
  Transformer model(ck.config, ck.weights, a.engine);
  const ModelConfig& c = ck.config;
  // Each dev case: prompt + " answer" teacher-forced; the objective is the answer tokens' NLL.
  struct Dev {
    std::vector<int32_t> tokens;
    size_t answer_from;
  };
  std::vector<Dev> dev;
  for (const Case& cs : cases) {
    const PromptTokens prompt = encode_prompt(cs, env);
    Dev d{prompt.context, 0};
    d.tokens.insert(d.tokens.end(), prompt.question.begin(), prompt.question.end());
    d.answer_from = d.tokens.size();
    const std::vector<int32_t> ans = tok->encode(" " + cs.answers.at(0), false, false);
    d.tokens.insert(d.tokens.end(), ans.begin(), ans.end());
    dev.push_back(std::move(d));
  }
  const int64_t V = c.vocab_size;
  auto nll = [&](ForwardObserver* obs) {
    double total = 0;
    for (const Dev& d : dev) {
      KVCache cache = model.make_cache();
      const Tensor logits = model.forward(d.tokens, cache, LogitRows::All, obs);
      for (size_t t = d.answer_from; t < d.tokens.size(); ++t) {  // row t - 1 predicts token t
        const float* row = logits.ptr() + int64_t(t - 1) * V;
        const float top = *std::max_element(row, row + V);
        double sum = 0;
        for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v] - top));
        total += double(top) + std::log(sum) - double(row[d.tokens[t]]);
      }
    }
    return total / double(dev.size());
  };
  // Candidates: the heads with the most hidden-sink weight in the dev cases.
  HiddenSinkMass sinks;
  sinks.tau = a.tau;
  sinks.score.assign(size_t(c.n_layers), std::vector<double>(size_t(c.n_heads), 0.0));
  double best = nll(&sinks);
  std::vector<std::pair<double, std::pair<int, int>>> ranked;
  for (int l = 0; l < c.n_layers; ++l)
    for (int h = 0; h < c.n_heads; ++h)
      if (sinks.score[size_t(l)][size_t(h)] > 0) ranked.push_back({-sinks.score[size_t(l)][size_t(h)], {l, h}});
  std::sort(ranked.begin(), ranked.end());
  if (int64_t(ranked.size()) > a.candidates) ranked.resize(size_t(a.candidates));
  const double baseline = best;
  log_info("calibrate act: {} dev cases, answer NLL {:.6f} without calibration; {} candidate heads with hidden sinks",
           dev.size(), baseline, ranked.size());
  // Greedy forward selection: a candidate joins when the answer NLL with it is lower than without.
  ActHeads chosen;
  for (const auto& [neg_score, head] : ranked) {
    ActHeads trial = chosen;
    trial.push_back(head);
    ActHeadsObserver obs(c, trial, float(a.tau), float(a.beta));
    const double v = nll(&obs);
    const bool keep = v < best;
    log_info("calibrate act: head {}:{} (hidden-sink weight {:.2f}): NLL {:.6f} -> {}", head.first, head.second,
             -neg_score, v, keep ? "kept" : "dropped");
    if (keep) {
      chosen = std::move(trial);
      best = v;
    }
  }
  std::sort(chosen.begin(), chosen.end());
  write_act_heads(a.out, chosen,
                  {fmt::format("kvbench calibrate act: model {}, {} niah_single cases of {} tokens (seed {}), tau {} "
                               "beta {}", ck.name(), dev.size(), a.length, a.seed, a.tau, a.beta),
                   fmt::format("greedy forward selection over {} candidates by answer NLL: {:.4f} -> {:.4f}",
                               ranked.size(), baseline, best)});
  fmt::print("wrote {} ({} heads; answer NLL {:.4f} -> {:.4f} on {} dev cases)\n", a.out, chosen.size(), baseline,
             best, dev.size());
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<CalibrateArgs>();
  auto* cal = app.add_subcommand("calibrate", "Estimate per-head calibration artifacts for methods");
  cal->require_subcommand(1);
  auto* duo = cal->add_subcommand("duo", "DuoAttention head scores from synthetic passkey cases");
  duo->add_option("-m,--model", a->model, "Model")->required();
  duo->add_option("--out", a->out, "Output directory (full_attention_heads.tsv + config.json)")->required();
  duo->add_option("--length", a->length, "Case length in tokens")->capture_default_str();
  duo->add_option("--n", a->n, "Cases")->capture_default_str();
  duo->add_option("--seed", a->seed, "Task seed")->capture_default_str();
  duo->add_option("--sink", a->sink, "Sink tokens of a streaming head")->capture_default_str();
  duo->add_option("--recent", a->recent, "Recent tokens of a streaming head")->capture_default_str();
  add_engine_options(duo, a->engine);
  duo->callback([a] { run_calibrate(*a); });
  auto l = std::make_shared<LokiArgs>();
  auto* loki = cal->add_subcommand("loki", "Loki: PCA basis of the post-RoPE keys per layer and KV head");
  loki->add_option("-m,--model", l->model, "Model")->required();
  loki->add_option("--out", l->out, "Output file (read by --method loki --param basis=FILE)")->required();
  loki->add_option("--length", l->length, "Tokens per sequence")->capture_default_str();
  loki->add_option("--n", l->n, "Sequences")->capture_default_str();
  loki->add_option("--seed", l->seed, "Seed of the procedural essay text")->capture_default_str();
  loki->add_option("--text-dir", l->text_dir, "Directory of *.txt files to use instead of the essay (e.g. WikiText)");
  add_engine_options(loki, l->engine);
  loki->callback([l] { run_calibrate_loki(*l); });
  auto mi = std::make_shared<MInferenceArgs>();
  auto* minf = cal->add_subcommand("minference", "MInference: per-query-head sparse prefill pattern search");
  minf->add_option("-m,--model", mi->model, "Model")->required();
  minf->add_option("--out", mi->out, "Output pattern file (read by --method minference --param pattern=FILE)")
      ->required();
  minf->add_option("--length", mi->length, "Case length in tokens")->capture_default_str();
  minf->add_option("--n", mi->n, "Cases (recall averaged over them)")->capture_default_str();
  minf->add_option("--seed", mi->seed, "Task seed")->capture_default_str();
  minf->add_option("--ratio", mi->ratio, "Compression ratio the candidates are scaled to (as --method minference)")
      ->capture_default_str();
  add_engine_options(minf, mi->engine);
  minf->callback([mi] { run_calibrate_minference(*mi); });
  auto t = std::make_shared<ActArgs>();
  auto* act = cal->add_subcommand("act", "ACT: heads whose hidden attention sinks are recalibrated (greedy, by answer NLL)");
  act->add_option("-m,--model", t->model, "Model")->required();
  act->add_option("--out", t->out, "Output file (read by --method act --param heads=FILE)")->required();
  act->add_option("--length", t->length, "Dev case length in tokens")->capture_default_str();
  act->add_option("--n", t->n, "Dev cases (niah_single, noise haystack)")->capture_default_str();
  act->add_option("--seed", t->seed, "Task seed")->capture_default_str();
  act->add_option("--tau", t->tau, "Hidden-sink threshold")->capture_default_str();
  act->add_option("--beta", t->beta, "Weight a hidden sink keeps")->capture_default_str();
  act->add_option("--candidates", t->candidates, "Heads tried, most hidden-sink weight first")->capture_default_str();
  add_engine_options(act, t->engine);
  act->callback([t] { run_calibrate_act(*t); });
});

}  // namespace
}  // namespace kvb::cli
