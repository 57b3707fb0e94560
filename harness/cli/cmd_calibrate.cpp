// `kvbench calibrate duo --model M --out DIR [--length N --n K --seed S --sink 64 --recent 256]` —
// estimates DuoAttention head scores on synthetic passkey cases (niah_single, noise haystack) and
// writes DuoAttention's pattern format: DIR/full_attention_heads.tsv (rows = layers, one value per KV
// head in [0, 1]) and DIR/config.json (sink_size, recent_size), read by
// `--method duo_attention --param pattern=DIR`. The score of a head is the share of the question's
// attention that falls outside the sink + recent window (max over the GQA group, mean over cases):
// a heuristic, not the paper's gate training (methods/README.md).
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/engine_options.h"
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
});

}  // namespace
}  // namespace kvb::cli
