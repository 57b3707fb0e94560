// GPU attention benchmark (built with the CUDA backend only; scripts/gpu-check.sh runs it):
// decode attention bandwidth in GB/s against the device's measured device-to-device copy
// bandwidth, for fp32 caches at several lengths and compression ratios and for KIVI-packed caches,
// and prefill attention time (optionally next to PyTorch SDPA times from scripts/bench/sdpa_bench.py).
// Shape: SmolLM2-135M (Hq=9, Hkv=3, D=64, 30 layers). Prints Markdown.
//   kvb_gpu_attention_bench [--tokens 8192,32768,131072] [--ratios 0,0.5,0.9] [--layers 30] [--reps 20]
//                           [--prefill-tokens 8192,32768,131072] [--kivi-bits 2,4] [--sdpa FILE]
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cuda/check.h"
#include "backends/cuda/device_info.h"
#include "backends/cuda/kv_cache_device.h"
#include "backends/cuda/memory.h"
#include "backends/cuda/ops.h"
#include "backends/cuda/timing.h"
#include "core/error.h"
#include "kv/kv_cache.h"

namespace {

using namespace kvb;

constexpr int kHq = 9, kHkv = 3, kD = 64;

struct Options {
  std::vector<int64_t> tokens = {8192, 32768, 131072};
  std::vector<double> ratios = {0.0, 0.5, 0.9};
  std::vector<int64_t> prefill_tokens = {8192, 32768, 131072};
  std::vector<int> kivi_bits = {2, 4};
  int layers = 30, reps = 20;
  std::string sdpa_file;
};

template <class T>
std::vector<T> parse_list(const std::string& s) {
  std::vector<T> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(T(std::stod(item)));
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      KVB_CHECK(i + 1 < argc, "{} needs a value", a);
      return argv[++i];
    };
    if (a == "--tokens") o.tokens = parse_list<int64_t>(value());
    else if (a == "--ratios") o.ratios = parse_list<double>(value());
    else if (a == "--prefill-tokens") o.prefill_tokens = parse_list<int64_t>(value());
    else if (a == "--kivi-bits") o.kivi_bits = parse_list<int>(value());
    else if (a == "--layers") o.layers = std::stoi(value());
    else if (a == "--reps") o.reps = std::stoi(value());
    else if (a == "--sdpa") o.sdpa_file = value();
    else KVB_FAIL("unknown option '{}' (see the header of scripts/bench/gpu_attention_bench.cpp)", a);
  }
  return o;
}

// One layer with T random tokens per KV head (keys and values ~ N(0, 1)).
KVCache random_layer(int64_t T, uint32_t seed) {
  KVCache c(1, kHkv, kD);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> k(size_t(T * kD)), v(size_t(T * kD));
  std::vector<int32_t> pos(static_cast<size_t>(T));
  std::iota(pos.begin(), pos.end(), 0);
  for (int g = 0; g < kHkv; ++g) {
    for (auto& x : k) x = nd(rng);
    for (auto& x : v) x = nd(rng);
    c.append(0, g, k.data(), v.data(), kD, pos.data(), T);
  }
  c.advance(int32_t(T));
  return c;
}

// Bytes one decode step reads from a layer of the device cache: K/V rows, packed codes and scales, bias.
size_t layer_read_bytes(const KVCache& c) {
  size_t b = 0;
  for (int g = 0; g < kHkv; ++g) {
    const HeadCache& h = c.head(0, g);
    b += (h.fp_keys().size() + h.fp_values().size() + h.logit_bias().size()) * sizeof(float);
    const KiviBlock& q = h.quantized();
    b += q.k_codes.size() + q.v_codes.size() +
         (q.k_scale.size() + q.k_min.size() + q.v_scale.size() + q.v_min.size()) * sizeof(float);
  }
  return b;
}

double copy_bandwidth_gbs() {
  const size_t bytes = size_t(1) << 30;
  cuda::DeviceBuffer a(bytes, "copy source"), b(bytes, "copy destination");
  a.zero();
  cuda::EventTimer t;
  for (int i = 0; i < 2; ++i) KVB_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice));
  const int reps = 10;
  t.start();
  for (int i = 0; i < reps; ++i) KVB_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice));
  const float ms = t.stop();
  return 2.0 * double(bytes) * reps / (double(ms) * 1e-3) / 1e9;  // read + write
}

struct DecodeRow {
  int64_t tokens;
  std::string cache;
  int64_t kept;
  size_t bytes;
  double us, gbs;
};

// Times `reps` decode steps (one decode_attention per layer) after two warm-up steps.
double time_decode_us(const cuda::DeviceKVCache& dc, int layers, int reps) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  std::vector<float> q(size_t(layers) * kHq * kD);
  for (auto& x : q) x = nd(rng);
  cuda::DeviceBuffer dq = cuda::to_device(q.data(), q.size(), "queries");
  cuda::DeviceBuffer dout(q.size() * sizeof(float), "outputs");
  cuda::Workspace ws;
  std::vector<cuda::KVLayerView> views;
  for (int l = 0; l < layers; ++l) views.push_back(dc.view(l));
  const float scale = 1.0f / std::sqrt(float(kD));
  auto step = [&] {
    for (int l = 0; l < layers; ++l)
      cuda::decode_attention(dq.as<float>() + size_t(l) * kHq * kD, views[size_t(l)], kHq, scale,
                             dout.as<float>() + size_t(l) * kHq * kD, ws);
  };
  step();
  step();
  cuda::EventTimer t;
  t.start();
  for (int r = 0; r < reps; ++r) step();
  return double(t.stop()) * 1e3 / reps;
}

std::vector<DecodeRow> bench_decode(const Options& o) {
  std::vector<DecodeRow> rows;
  for (int64_t T : o.tokens) {
    for (double ratio : o.ratios) {
      const KVCache host = random_layer(T, uint32_t(T));
      cuda::DeviceKVCache dc(o.layers, kHkv, kD);
      for (int l = 0; l < o.layers; ++l) dc.set_layer(l, host, 0);
      const int64_t kept = std::max<int64_t>(1, int64_t(std::llround(double(T) * (1.0 - ratio))));
      KVCache compacted = host;
      if (kept < T) {
        // Evenly spread keep sets (the pattern does not matter for bandwidth), applied on the device.
        std::vector<std::vector<int32_t>> sets(static_cast<size_t>(kHkv));
        for (auto& s : sets)
          for (int64_t i = 0; i < kept; ++i) s.push_back(int32_t(i * T / kept));
        for (int l = 0; l < o.layers; ++l) dc.keep(l, sets);
        for (int g = 0; g < kHkv; ++g) compacted.keep(0, g, sets[size_t(g)]);
      }
      const size_t bytes = layer_read_bytes(compacted) * size_t(o.layers);
      const double us = time_decode_us(dc, o.layers, o.reps);
      char label[32];
      std::snprintf(label, sizeof label, "fp32, ratio %.2g", ratio);
      rows.push_back({T, label, kept, bytes, us, double(bytes) / (us * 1e-6) / 1e9});
    }
    for (int bits : o.kivi_bits) {
      KVCache host = random_layer(T, uint32_t(T) + 1);
      host.set_codec(KiviConfig{bits, 32, 128});
      cuda::DeviceKVCache dc(o.layers, kHkv, kD);
      for (int l = 0; l < o.layers; ++l) dc.set_layer(l, host, 0);
      const size_t bytes = layer_read_bytes(host) * size_t(o.layers);
      const double us = time_decode_us(dc, o.layers, o.reps);
      rows.push_back({T, "kivi " + std::to_string(bits) + "-bit", T, bytes, us, double(bytes) / (us * 1e-6) / 1e9});
    }
  }
  return rows;
}

struct PrefillRow {
  int64_t tokens;
  double ms, ms_mass, tflops;
};

std::vector<PrefillRow> bench_prefill(const Options& o) {
  std::vector<PrefillRow> rows;
  for (int64_t P : o.prefill_tokens) {
    const KVCache host = random_layer(P, uint32_t(P) + 2);
    cuda::DeviceKVCache dc = cuda::DeviceKVCache::upload(host);
    std::mt19937 rng(4);
    std::normal_distribution<float> nd;
    std::vector<float> q(size_t(P) * kHq * kD);
    for (auto& x : q) x = nd(rng);
    cuda::DeviceBuffer dq = cuda::to_device(q.data(), q.size(), "queries");
    cuda::DeviceBuffer dout(q.size() * sizeof(float), "outputs");
    cuda::DeviceBuffer dmass(size_t(kHq) * size_t(P) * sizeof(float), "mass");
    cuda::Workspace ws;
    const cuda::KVLayerView kv = dc.view(0);
    const float scale = 1.0f / std::sqrt(float(kD));
    const int64_t stride = int64_t(kHq) * kD;
    const int reps = P >= 65536 ? 2 : 5;
    auto run = [&](bool mass) {
      cuda::prefill_attention(dq.as<float>(), P, stride, kv, kHq, scale, dout.as<float>(), stride,
                              mass ? dmass.as<float>() : nullptr, P, 32, ws);
    };
    cuda::EventTimer t;
    double ms[2];
    for (int m = 0; m < 2; ++m) {
      run(m == 1);  // warm-up
      t.start();
      for (int r = 0; r < reps; ++r) run(m == 1);
      ms[m] = double(t.stop()) / reps;
    }
    const double flops = 4.0 * kHq * kD * double(P) * double(P) / 2.0;  // QK^T and PV, causal half
    rows.push_back({P, ms[0], ms[1], flops / (ms[0] * 1e-3) / 1e12});
  }
  return rows;
}

// scripts/bench/sdpa_bench.py output: "tokens dtype ms" per line ('#' comments).
std::map<std::pair<int64_t, std::string>, double> read_sdpa(const std::string& path) {
  std::map<std::pair<int64_t, std::string>, double> out;
  if (path.empty()) return out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    int64_t tokens = 0;
    std::string dtype;
    double ms = 0;
    if (ls >> tokens >> dtype >> ms) out[{tokens, dtype}] = ms;
  }
  return out;
}

std::string version(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

int run(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const cuda::DeviceReport rep = cuda::describe_devices();
  KVB_CHECK(!rep.devices.empty(), "no CUDA device: {}", rep.error.empty() ? "none listed" : rep.error);
  int dev = 0, sms = 0;
  KVB_CUDA_CHECK(cudaGetDevice(&dev));
  KVB_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  const cuda::Device& d = rep.devices[size_t(dev)];
  std::printf("## kvbench GPU attention benchmark\n\n");
  std::printf("| device | compute capability | SMs | memory | driver | runtime |\n|---|---|---|---|---|---|\n");
  std::printf("| %s | %d.%d | %d | %.1f GiB | CUDA %s | CUDA %s |\n\n", d.name.c_str(), d.compute_capability / 10,
              d.compute_capability % 10, sms, double(d.memory_bytes) / double(1 << 30),
              version(rep.driver_version).c_str(), version(rep.runtime_version).c_str());
  const double copy = copy_bandwidth_gbs();
  std::printf("Device-to-device copy (cudaMemcpyAsync, 1 GiB, read + write counted): **%.0f GB/s**\n\n", copy);
  std::fflush(stdout);

  std::printf("### Decode attention, one step = %d layers (Hq=%d, Hkv=%d, D=%d), %d reps\n\n", o.layers, kHq, kHkv,
              kD, o.reps);
  std::printf("| cached tokens | cache | kept / head | KV bytes read / step | time / step (us) | GB/s | %% of copy |\n");
  std::printf("|---:|---|---:|---:|---:|---:|---:|\n");
  for (const DecodeRow& r : bench_decode(o)) {
    std::printf("| %lld | %s | %lld | %.1f MB | %.1f | %.0f | %.0f%% |\n", (long long)r.tokens, r.cache.c_str(),
                (long long)r.kept, double(r.bytes) / 1e6, r.us, r.gbs, 100.0 * r.gbs / copy);
    std::fflush(stdout);
  }

  const auto sdpa = read_sdpa(o.sdpa_file);
  std::printf("\n### Prefill attention, one layer, whole prompt as one chunk (Hq=%d, Hkv=%d, D=%d, causal)\n\n", kHq,
              kHkv, kD);
  std::printf("| tokens | kvbench fp32 (ms) | TFLOP/s | kvbench fp32 + mass W=32 (ms) | torch SDPA fp32 (ms) | "
              "torch SDPA bf16 (ms) |\n|---:|---:|---:|---:|---:|---:|\n");
  for (const PrefillRow& r : bench_prefill(o)) {
    auto cell = [&](const char* dtype) {
      auto it = sdpa.find({r.tokens, dtype});
      char buf[32];
      if (it == sdpa.end()) return std::string("n/a");
      std::snprintf(buf, sizeof buf, "%.2f", it->second);
      return std::string(buf);
    };
    std::printf("| %lld | %.2f | %.1f | %.2f | %s | %s |\n", (long long)r.tokens, r.ms, r.tflops, r.ms_mass,
                cell("fp32").c_str(), cell("bf16").c_str());
    std::fflush(stdout);
  }
  if (sdpa.empty()) std::printf("\n(no PyTorch SDPA numbers: see scripts/bench/sdpa_bench.py)\n");
  const cuda::MemoryStats ms = cuda::memory_stats();
  std::printf("\nPeak device memory held by kvbench buffers: %.2f GB\n", double(ms.peak_bytes) / 1e9);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpu_attention_bench: %s\n", e.what());
    return 2;
  }
}
