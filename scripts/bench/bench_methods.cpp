// Compression overhead of every registered method for one layer with SmolLM2-135M's attention shape
// (Hq = 9, Hkv = 3, D = 64) at 2K / 8K / 32K cached tokens: scoring + keep-set application
// (compress_prefill + KVCache::keep + encode), and for quest one decode step's page selection.
// decode_step/<id>: one decode step of every decode-time selector (and full attention) over 4 layers
// of that shape at 2K / 8K / 32K cached tokens, reading 1/8 of them: the method's selection plus the
// CPU attention over what it selected (kv/read_selection.h), per step after the first (first_step_ms: the
// first step, which holds one-off work such as retrieval_attention's graph build).
// Run: cmake -DKVB_BUILD_BENCH=ON ... && build/scripts/bench/kvb_bench_methods --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <cstddef>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>

#include "backends/cpu/attention.h"
#include "core/random.h"
#include "kv/method.h"
#include "kv/pca_basis.h"
#include "model/rope.h"

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
  std::vector<float> surprisal;               // [T] -log p of each token (sirllm)
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
  in.surprisal.resize(size_t(T));
  for (auto& x : in.surprisal) x = float(rng.unit() * 10);
  return in;
}

// A Loki basis for `layers` layers of this shape from random keys (written once per shape).
std::string loki_basis(int layers) {
  static std::map<int, std::string> written;
  if (written.count(layers)) return written[layers];
  const std::string path =
      (std::filesystem::temp_directory_path() / ("kvb_bench_loki_" + std::to_string(layers) + ".pca")).string();
  KVCache c(layers, 3, 64);
  Rng rng(7);
  std::vector<float> k(256 * 64), v(k.size());
  std::vector<int32_t> pos(256);
  for (int i = 0; i < 256; ++i) pos[size_t(i)] = i;
  for (int l = 0; l < layers; ++l)
    for (int h = 0; h < 3; ++h) {
      for (auto& x : k) x = float(rng.unit() * 2 - 1);
      c.append(l, h, k.data(), v.data(), 64, pos.data(), 256);
    }
  std::vector<KeyMoments> m;
  add_cache_keys(c, m);
  write_pca_basis(path, pca_basis_from(m, layers, 3, 64, "bench"));
  return written[layers] = path;
}

// `id` is a method id, or "retrieval_attention:graph" (its graph index).
MethodSpec spec_for(const std::string& id, int layers = 1) {
  MethodSpec s;
  s.id = id;
  if (id == "retrieval_attention:graph") {
    s.id = "retrieval_attention";
    s.params.set("index", "graph");
  }
  s.compression_ratio = 0.5;
  if (id == "duo_attention") s.params.set("head_scores", "0.9,0.1,0.5");
  if (id == "kivi") s.compression_ratio = 0.0;
  if (id == "decoding") s.params.set("target_size", "1024");
  if (id == "loki") s.params.set("basis", loki_basis(layers));
  if (id == "tidaldecode") s.params = Params{{"sparse_layer_start", "1"}, {"correction_layer", "99"}};
  return s;
}

// One decode step over 4 layers: select, then attend over the selection (as the CPU backend does).
void BM_decode_step(benchmark::State& state, std::string id) {
  const int64_t T = state.range(0);
  const int L = 4;
  ModelConfig c = shape();
  c.n_layers = L;
  KVCache cache(L, 3, 64);
  Rng rng(T);
  std::vector<float> k(static_cast<size_t>(T * 64)), v(k.size()), q(static_cast<size_t>(L * 9 * 64)), out(9 * 64);
  std::vector<int32_t> pos(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) pos[size_t(i)] = int32_t(i);
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < 3; ++h) {
      for (auto& x : k) x = float(rng.unit() * 2 - 1);
      for (auto& x : v) x = float(rng.unit() * 2 - 1);
      cache.append(l, h, k.data(), v.data(), 64, pos.data(), T);
    }
  cache.advance(int32_t(T));
  for (auto& x : q) x = float(rng.unit() * 2 - 1);
  MethodSpec spec = id == "full" ? MethodSpec{} : spec_for(id, L);
  spec.compression_ratio = 0.875;
  std::unique_ptr<Method> m = make_method(spec, c);
  MethodContext budget;
  budget.compression_ratio = spec.compression_ratio;
  // The prefill queries a method asks for (longheads: every token's; retrieval_attention's graph: the
  // last build_queries), random like the keys: [L][W, Hq*D].
  const int64_t W = std::min<int64_t>(T, m->prefill_needs().window);
  std::vector<std::vector<float>> window_q(size_t(L), std::vector<float>(size_t(W * 9 * 64)));
  for (auto& wq : window_q)
    for (auto& x : wq) x = float(rng.unit() * 2 - 1);
  const std::vector<int32_t> window_pos(pos.end() - W, pos.end());
  for (int l = 0; l < L; ++l) {
    LayerView view;
    view.layer = l;
    view.config = &c;
    view.cache = &cache;
    view.window_queries = W > 0 ? window_q[size_t(l)].data() : nullptr;
    view.window_positions = W > 0 ? window_pos.data() : nullptr;
    view.window = int(W);
    view.n_context = T;
    view.n_kept = budget.kept_for(T);
    m->compress_prefill(view);
  }
  const float scale = 1.0f / std::sqrt(64.0f);
  const std::vector<float> inv_freq = rope_inv_freq(c);  // tokenselect's compact positions re-rotate keys
  const auto step = [&] {
    for (int l = 0; l < L; ++l) {
      const float* ql = q.data() + size_t(l) * 9 * 64;
      const ReadSelection sel = m->has_selector() ? m->select(l, ql, cache) : ReadSelection{};
      cpu::attention(ql, 1, cache, l, 9, scale, out.data(), nullptr, sel, cpu::MatmulMode::F32, &inv_freq, c.rope_neox);
      benchmark::DoNotOptimize(out.data());
    }
  };
  // The first step, untimed: it holds one-off work a selector defers to its first select
  // (retrieval_attention's graph build, quest's page bounds); reported as first_step_ms.
  const auto t0 = std::chrono::steady_clock::now();
  step();
  const double first_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  for (auto _ : state) step();
  state.counters["tokens"] = double(T);
  state.counters["first_step_ms"] = first_ms;
}

void BM_compress_layer(benchmark::State& state, std::string id) {
  const int64_t T = state.range(0);
  const ModelConfig c = shape();
  // A 64-query window, or the whole context for a method that asks for more (longheads).
  const int W = int(std::clamp<int64_t>(make_method(spec_for(id), c)->prefill_needs().window, 64, T));
  Inputs in = make_inputs(T, W);
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
    v.window = W;
    v.attn_mass = &in.mass;
    v.query_stats = &in.stats;
    v.token_surprisal = &in.surprisal;
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
  std::vector<std::string> selectors;
  for (const MethodInfo* m : list_methods())
    if (m->roles.selects || m->id == "full") selectors.push_back(m->id);
  selectors.push_back("retrieval_attention:graph");
  for (const std::string& id : selectors) {
    benchmark::RegisterBenchmark(("decode_step/" + id).c_str(), BM_decode_step, id)
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
