// `kvbench bench --model M` — prefill tokens/s at several prompt lengths and decode tokens/s
// at a given context, on the CPU (or --backend cuda), printed as a table and optionally written as JSON.
// Compared with llama.cpp by scripts/bench/vs_llamacpp.sh; results in docs/performance.md.
#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "core/log.h"
#include "core/threads.h"
#include "core/timer.h"
#include "model/model_path.h"
#include "engine/transformer.h"
#include "backends/cpu/ops.h"
#include "backends/cpu/runtime_env.h"
#include "kvb_git_commit.h"  // generated at build time: KVB_GIT_COMMIT

namespace kvb::cli {
namespace {

struct BenchArgs {
  std::string model;
  std::vector<int> prefill_lengths = {512, 2048, 8192};
  int decode_context = 2048;
  int decode_tokens = 64;
  EngineOptions engine;
  std::string weights = "native";
  int repeats = 1;
  std::string json_path;
};

// Deterministic prompt of `n` ordinary (non-special) token ids.
std::vector<int32_t> bench_prompt(const TokenizerSpec& spec, int vocab, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> ids;
  while (int(ids.size()) < n) {
    int32_t id = dist(rng);
    bool special = id < int32_t(spec.types.size()) && spec.types[id] != TokenType::Normal;
    for (int32_t s : spec.special_ids) special |= (s == id);
    if (!special) ids.push_back(id);
  }
  return ids;
}

void run_bench(const BenchArgs& a) {
  set_num_threads(a.engine.threads);
  Checkpoint ck = load_checkpoint(resolve_model_path(a.model));
  if (a.weights == "f32") ck.weights.dequantize_all();
  Transformer model(ck.config, ck.weights, a.engine);
  const int V = ck.config.vocab_size;
  {  // warm-up
    KVCache cache = model.make_cache();
    auto warm = bench_prompt(ck.tokenizer, V, 64, 1);
    model.forward(warm, cache);
  }
  nlohmann::json out = {{"model", ck.path.string()}, {"threads", num_threads()},
                        {"backend", a.engine.backend}, {"device", model.device()},
                        {"prefill_chunk", a.engine.prefill_chunk}, {"openmp_wait", cpu::openmp_wait_description()},
                        {"weights", a.weights}, {"weight_bytes", ck.weights.bytes()}, {"commit", KVB_GIT_COMMIT}};
  fmt::print("model {} | backend {} ({}) | threads {} | OpenMP waiting: {}\n", ck.name(), a.engine.backend, model.device(),
             num_threads(), cpu::openmp_wait_description());
  fmt::print("| test | tokens | seconds | tokens/s |\n|---|---:|---:|---:|\n");
  for (int len : a.prefill_lengths) {
    double best = 1e30;
    for (int r = 0; r < a.repeats; ++r) {
      KVCache cache = model.make_cache();
      auto prompt = bench_prompt(ck.tokenizer, V, len, 42);
      Stopwatch sw;
      model.forward(prompt, cache);
      best = std::min(best, sw.seconds());
    }
    fmt::print("| prefill | {} | {:.3f} | {:.1f} |\n", len, best, len / best);
    out["prefill_tps"][std::to_string(len)] = len / best;
  }
  if (a.decode_tokens > 0) {
    KVCache cache = model.make_cache();
    auto prompt = bench_prompt(ck.tokenizer, V, a.decode_context, 43);
    Tensor logits = model.forward(prompt, cache);
    int32_t next = int32_t(cpu::argmax(logits.ptr(), V));
    Stopwatch sw;
    for (int i = 0; i < a.decode_tokens; ++i) {
      const int32_t one[1] = {next};
      logits = model.forward(one, cache);
      next = int32_t(cpu::argmax(logits.ptr(), V));
    }
    const double s = sw.seconds();
    fmt::print("| decode @ {} | {} | {:.3f} | {:.1f} |\n", a.decode_context, a.decode_tokens, s, a.decode_tokens / s);
    out["decode_tps"][std::to_string(a.decode_context)] = a.decode_tokens / s;
  }
  if (a.engine.backend != "cpu") {
    const DeviceMemory m = model.device_memory();
    fmt::print("device memory: {:.1f} MiB now, {:.1f} MiB peak\n", double(m.current_bytes) / 1048576.0,
               double(m.peak_bytes) / 1048576.0);
    out["device_peak_bytes"] = m.peak_bytes;
  }
  if (!a.json_path.empty()) {
    std::ofstream f(a.json_path);
    KVB_CHECK(f.good(), "{}: cannot write", a.json_path);
    f << out.dump(2) << "\n";
  }
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand("bench", "Prefill and decode throughput of a model on this machine");
  cmd->add_option("-m,--model", args->model, "Model path or name")->required();
  cmd->add_option("--prefill", args->prefill_lengths, "Prompt lengths to time")->delimiter(',');
  cmd->add_option("--decode-context", args->decode_context, "Context length before timing decode");
  cmd->add_option("--decode-tokens", args->decode_tokens, "Tokens to decode (0 = skip)");
  cmd->add_option("--repeats", args->repeats, "Repeat each prefill and keep the fastest");
  add_engine_options(cmd, args->engine, &args->weights);
  cmd->add_option("--json", args->json_path, "Also write the results as JSON");
  cmd->callback([args] { run_bench(*args); });
});

}  // namespace
}  // namespace kvb::cli
