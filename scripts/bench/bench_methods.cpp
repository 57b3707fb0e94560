// Compression overhead of every registered method for one layer with SmolLM2-135M's attention shape
// (Hq = 9, Hkv = 3, D = 64) at 2K / 8K / 32K cached tokens: scoring + keep-set application
// (compress_prefill + KVCache::keep + encode), and for quest one decode step's page selection.
// Run: cmake -DKVB_BUILD_BENCH=ON ... && build/scripts/bench/kvb_bench_methods --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <cstddef>

#include "core/random.h"
#include "kv/method.h"

namespace kvb {
namespace {

ModelConfig shape() {
  ModelConfig c;
  c.n_layers = 1;
  c.n_heads = 9;
  c.n_kv_heads = 3;
  c.head_dim = 64;
  c.n_embd = 576;
  c.rope_theta = 100000.0f;
  c.rope_neox = false;
  return c;
}

struct Inputs {
  KVCache cache{1, 3, 64};
  std::vector<float> queries;                 // [W, Hq*D]
  std::vector<int32_t> positions;             // [W]
  std::vector<std::vector<float>> mass;       // [Hq][T]
  QueryStats stats;
};

Inputs make_inputs(int64_t T, int W) {
  Inputs in;
  Rng rng(T);
  std::vector<float> k(static_cast<size_t>(T * 64)), v(k.size());
  std::vector<int32_t> pos(static_cast<size_t>(T));
  for (int h = 0; h < 3; ++h) {
    for (auto& x : k) x = float(rng.unit() * 2 - 1);
    for (auto& x : v) x = float(rng.unit() * 2 - 1);
    for (int64_t i = 0; i < T; ++i) pos[size_t(i)] = int32_t(i);
    in.cache.append(0, h, k.data(), v.data(), 64, pos.data(), T);
  }
  in.cache.advance(int32_t(T));
  in.queries.resize(size_t(W * 9 * 64));
  for (auto& x : in.queries) x = float(rng.unit() * 2 - 1);
  for (int i = 0; i < W; ++i) in.positions.push_back(int32_t(T - W + i));
  in.mass.assign(9, std::vector<float>(size_t(T)));
  for (auto& row : in.mass)
    for (auto& x : row) x = float(rng.unit());
  in.stats.n = T;
  in.stats.sum.resize(9 * 64);
  in.stats.outer.resize(9 * 64 * 64);
  for (auto& x : in.stats.sum) x = rng.unit();
  for (auto& x : in.stats.outer) x = rng.unit();
  return in;
}

MethodSpec spec_for(const std::string& id) {
  MethodSpec s;
  s.id = id;
  s.compression_ratio = 0.5;
  if (id == "duo_attention") s.params.set("head_scores", "0.9,0.1,0.5");
  if (id == "kivi") s.compression_ratio = 0.0;
  if (id == "decoding") s.params.set("target_size", "1024");
  return s;
}

void BM_compress_layer(benchmark::State& state, std::string id) {
  const int64_t T = state.range(0);
  const ModelConfig c = shape();
  Inputs in = make_inputs(T, 64);
  for (auto _ : state) {
    state.PauseTiming();
    KVCache cache = in.cache;  // fresh uncompressed copy, not timed
    std::unique_ptr<Method> m = make_method(spec_for(id), c);
    LayerView v;
    v.layer = 0;
    v.config = &c;
    v.cache = &cache;
    v.window_queries = in.queries.data();
    v.window_positions = in.positions.data();
    v.window = 64;
    v.attn_mass = &in.mass;
    v.query_stats = &in.stats;
    v.n_context = T;
    MethodContext budget;
    budget.compression_ratio = spec_for(id).compression_ratio;
    v.n_kept = budget.kept_for(T);
    state.ResumeTiming();
    KeepSets keep = m->compress_prefill(v);
    if (!keep.empty())
      for (int h = 0; h < 3; ++h) cache.keep(0, h, keep[size_t(h)]);
    auto channels = m->prune_key_channels(v);
    for (size_t h = 0; h < channels.size(); ++h) cache.zero_key_channels(0, int(h), channels[h]);
    m->encode(cache);
    if (m->has_selector()) benchmark::DoNotOptimize(m->select(0, in.queries.data(), cache));
    benchmark::DoNotOptimize(cache.resident_bytes());
  }
  state.counters["tokens"] = double(T);
}

int register_all() {
  for (const MethodInfo* m : list_methods()) {
    if (m->id == "full") continue;
    benchmark::RegisterBenchmark(("compress_layer/" + m->id).c_str(), BM_compress_layer, m->id)
        ->Arg(2048)
        ->Arg(8192)
        ->Arg(32768)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  return 0;
}
}  // namespace
}  // namespace kvb

int main(int argc, char** argv) {
  kvb::register_all();  // after static initialisation: the methods have registered themselves
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
