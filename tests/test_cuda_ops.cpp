// CUDA backend against the CPU reference, op by op (ggml's test-backend-ops pattern): random
// inputs, the CPU op and the CUDA op, compared with a tolerance for the arithmetic type (fp32
// ~1e-5 relative, bf16 ~1e-2, fp16 ~2e-3). Every test needing a GPU skips with the reason from
// describe_devices() when there is none; without KVB_WITH_CUDA this file compiles to nothing.
// Run: build/tests/kvb_tests --gtest_filter='Cuda*'
#include <gtest/gtest.h>

#ifdef KVB_WITH_CUDA

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/attention.h"
#include "backends/cpu/ops.h"
#include "backends/cuda/check.h"
#include "backends/cuda/device_info.h"
#include "backends/cuda/kv_cache_device.h"
#include "backends/cuda/memory.h"
#include "backends/cuda/ops.h"
#include "backends/cuda/timing.h"
#include "core/error.h"
#include "kv/kv_cache.h"
#include "methods/quest.h"
#include "model/weight_matrix.h"

namespace kvb {
namespace {

using cuda::DeviceBuffer;
using cuda::WeightType;

// Why no device can be used, or empty when one can.
std::string no_device_reason() {
  const cuda::DeviceReport r = cuda::describe_devices();
  if (!r.devices.empty()) return "";
  return r.error.empty() ? std::string("no CUDA devices listed") : r.error;
}

#define KVB_REQUIRE_CUDA_DEVICE()                                                        \
  do {                                                                                   \
    const std::string reason_ = no_device_reason();                                      \
    if (!reason_.empty()) GTEST_SKIP() << "no CUDA device: " << reason_;                 \
  } while (0)

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

template <class T>
DeviceBuffer dev(const std::vector<T>& h) {
  return cuda::to_device(h.data(), h.size(), "test input");
}

template <class T>
std::vector<T> host(const DeviceBuffer& d, size_t n) {
  KVB_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<T> h(n);
  d.download(h.data(), n * sizeof(T));
  return h;
}

// |got - want| <= tol * (1 + |want|) elementwise, reporting the first few mismatches.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(double(got[i]) - double(want[i])), lim = tol * (1.0 + std::fabs(double(want[i])));
    worst = std::max(worst, err / (1.0 + std::fabs(double(want[i]))));
    if (!(err <= lim) && ++bad <= 5) ADD_FAILURE() << what << " [" << i << "]: cuda " << got[i] << " cpu " << want[i];
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " outside tolerance " << tol
                    << " (worst scaled error " << worst << ")";
}

// One layer, Hkv heads; head g holds past[g] random tokens, then a logit-bias compensation entry on
// head `bias_head` (if >= 0), then n_new tokens shared by all heads (the prefill chunk).
KVCache ragged_cache(int Hkv, int D, const std::vector<int64_t>& past, int64_t n_new, uint32_t seed,
                     int bias_head = -1) {
  KVCache c(1, Hkv, D);
  for (int g = 0; g < Hkv; ++g) {
    const int64_t T = past[size_t(g)];
    auto k = randn(size_t(T * D), seed + 10 * g), v = randn(size_t(T * D), seed + 10 * g + 1);
    std::vector<int32_t> pos(static_cast<size_t>(T));
    std::iota(pos.begin(), pos.end(), 0);
    c.append(0, g, k.data(), v.data(), D, pos.data(), T);
    if (g == bias_head) {
      auto ck = randn(size_t(D), seed + 999), cv = randn(size_t(D), seed + 998);
      c.append_compensation(0, g, ck.data(), cv.data(), int32_t(T), std::log(7.0f));
    }
  }
  if (n_new > 0) {
    auto k = randn(size_t(n_new * Hkv * D), seed + 77), v = randn(size_t(n_new * Hkv * D), seed + 78);
    std::vector<int32_t> pos(static_cast<size_t>(n_new));
    std::iota(pos.begin(), pos.end(), 100000);
    for (int g = 0; g < Hkv; ++g)
      c.append(0, g, k.data() + g * D, v.data() + g * D, int64_t(Hkv) * D, pos.data(), n_new);
  }
  return c;
}

// Decode attention of q [Hq*D] on the device over layer 0 of `c`.
std::vector<float> gpu_decode(const KVCache& c, const std::vector<float>& q, int Hq,
                              const std::vector<std::vector<int32_t>>* read = nullptr) {
  const int D = c.head_dim();
  cuda::DeviceKVCache dc = cuda::DeviceKVCache::upload(c);
  cuda::DeviceReadSets rs = cuda::upload_read_sets(read ? *read : std::vector<std::vector<int32_t>>{});
  DeviceBuffer dq = dev(q), dout(size_t(Hq * D) * sizeof(float));
  cuda::Workspace ws;
  cuda::decode_attention(dq.as<float>(), dc.view(0), Hq, 1.0f / std::sqrt(float(D)), dout.as<float>(), ws, rs.view());
  return host<float>(dout, size_t(Hq * D));
}

// ---- error checking, memory, timing ----------------------------------------------------------

TEST(CudaCheck, ErrorNamesTheCallFileAndLine) {
  // Needs no device: the error is formatted on the host.
  int line = 0;
  try {
    line = __LINE__ + 1;
    KVB_CUDA_CHECK(cudaErrorInvalidValue);
    FAIL() << "no exception";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cudaErrorInvalidValue"), std::string::npos) << msg;
    EXPECT_NE(msg.find("test_cuda_ops.cpp:" + std::to_string(line)), std::string::npos) << msg;
    EXPECT_EQ(e.line(), line);
  }
  try {
    KVB_CUBLAS_CHECK(CUBLAS_STATUS_NOT_INITIALIZED);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUBLAS_STATUS_NOT_INITIALIZED"), std::string::npos) << e.what();
  }
}

TEST(CudaMemory, AccountingTracksCurrentAndPeak) {
  KVB_REQUIRE_CUDA_DEVICE();
  const cuda::MemoryStats s0 = cuda::memory_stats();
  cuda::reset_peak_bytes();
  {
    DeviceBuffer a(1 << 20, "a");
    DeviceBuffer b(3 << 20, "b");
    EXPECT_EQ(cuda::memory_stats().current_bytes, s0.current_bytes + (4u << 20));
    DeviceBuffer c = std::move(a);  // moves do not count twice
    EXPECT_EQ(cuda::memory_stats().current_bytes, s0.current_bytes + (4u << 20));
    b.reset();
    EXPECT_EQ(cuda::memory_stats().current_bytes, s0.current_bytes + (1u << 20));
  }
  const cuda::MemoryStats s1 = cuda::memory_stats();
  EXPECT_EQ(s1.current_bytes, s0.current_bytes);
  EXPECT_EQ(s1.peak_bytes, s0.current_bytes + (4u << 20));
  EXPECT_GE(s1.allocations, s0.allocations + 2);
  // An impossible allocation fails with kvb::Error naming the buffer.
  try {
    DeviceBuffer huge(size_t(1) << 50, "an impossible buffer");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("an impossible buffer"), std::string::npos) << e.what();
  }
}

TEST(CudaTiming, EventTimerMeasuresWork) {
  KVB_REQUIRE_CUDA_DEVICE();
  DeviceBuffer b(64 << 20, "timed");
  cuda::EventTimer t;
  t.start();
  b.zero();
  const float ms = t.stop();
  EXPECT_GT(ms, 0.0f);
  EXPECT_LT(ms, 10000.0f);
}

// ---- dense ops -------------------------------------------------------------------------------

// Random bytes of a stored type with every fp16 scale / bf16 value kept finite and modest.
std::vector<uint8_t> random_stored(DType t, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(dtype_nbytes(t, rows * cols, "test"));
  for (auto& b : bytes) b = uint8_t(rng());
  const int64_t bb = dtype_block_bytes(t), scale_bytes = t == DType::Q4_1 ? 4 : (t == DType::BF16 ? bb : 2);
  for (size_t off = 0; off < bytes.size(); off += size_t(bb))
    for (int64_t k = 1; k < scale_bytes; k += 2) bytes[off + k] &= 0x3B;
  return bytes;
}

TEST(CudaOps, LinearMatchesCpuForEachStoredAndDeviceType) {
  KVB_REQUIRE_CUDA_DEVICE();
  const int64_t rows = 72, cols = 256;
  for (DType stored : {DType::F32, DType::BF16, DType::Q4_1}) {
    WeightMatrix w;
    std::vector<uint8_t> bytes;
    if (stored == DType::F32) {
      w = WeightMatrix::from_f32(randn(size_t(rows * cols), 5, 0.1f), rows, cols);
    } else {
      bytes = random_stored(stored, rows, cols, 6);
      RawTensor raw{"w", stored, {rows, cols}, bytes.data(), bytes.size()};
      w = WeightMatrix::from_raw(raw, rows, cols);
    }
    std::vector<float> dense(size_t(rows * cols));
    w.dequantize_rows(0, rows, dense.data());
    Tensor bias({rows});
    bias.data = randn(size_t(rows), 8);
    for (WeightType type : {WeightType::F32, WeightType::BF16, WeightType::F16}) {
      const cuda::DeviceWeight dw = cuda::upload_weight(w, type);
      EXPECT_EQ(dw.bytes(), size_t(rows * cols) * cuda::weight_type_bytes(type));
      const double tol = type == WeightType::F32 ? 1e-5 : (type == WeightType::BF16 ? 1e-2 : 2e-3);
      for (int64_t n : {1, 5, 33}) {
        auto x = randn(size_t(n * cols), 100 + uint32_t(n));
        std::vector<float> want(size_t(n * rows));
        cpu::linear(x.data(), n, w, want.data(), &bias);
        DeviceBuffer dx = dev(x), dy(want.size() * sizeof(float)), db = dev(bias.data);
        cuda::Workspace ws;
        cuda::linear(dx.as<float>(), n, dw, dy.as<float>(), db.as<float>(), ws);
        const auto got = host<float>(dy, want.size());
        // Scale the tolerance by the magnitude of the terms summed: sum_j |x_j w_j| + |bias|.
        for (int64_t t = 0; t < n; ++t)
          for (int64_t r = 0; r < rows; ++r) {
            double mag = std::fabs(bias.data[size_t(r)]);
            for (int64_t j = 0; j < cols; ++j) mag += std::fabs(double(x[size_t(t * cols + j)]) * dense[size_t(r * cols + j)]);
            const size_t i = size_t(t * rows + r);
            ASSERT_NEAR(got[i], want[i], tol * mag + 1e-6)
                << dtype_name(stored) << " stored, " << cuda::weight_type_name(type) << " on device, n=" << n
                << " token " << t << " row " << r;
          }
      }
    }
  }
}

TEST(CudaOps, EmbeddingGathersDequantizedRows) {
  KVB_REQUIRE_CUDA_DEVICE();
  const int64_t V = 50, E = 96;
  auto bytes = random_stored(DType::Q8_0, V, E, 3);
  RawTensor raw{"tok_embd", DType::Q8_0, {V, E}, bytes.data(), bytes.size()};
  const WeightMatrix w = WeightMatrix::from_raw(raw, V, E);
  const std::vector<int32_t> tokens = {0, 49, 7, 7, 23};
  std::vector<float> want(tokens.size() * size_t(E));
  for (size_t i = 0; i < tokens.size(); ++i) w.dequantize_rows(tokens[i], 1, want.data() + i * E);
  DeviceBuffer dt = dev(tokens), dout(want.size() * sizeof(float));
  for (WeightType type : {WeightType::F32, WeightType::BF16, WeightType::F16}) {
    const cuda::DeviceWeight table = cuda::upload_weight(w, type);
    cuda::embedding(table, dt.as<int32_t>(), int64_t(tokens.size()), dout.as<float>());
    const double tol = type == WeightType::F32 ? 0.0 : (type == WeightType::BF16 ? 4e-3 : 1e-3);
    expect_close(host<float>(dout, want.size()), want, tol, std::string("embedding ") + cuda::weight_type_name(type));
  }
}

TEST(CudaOps, RmsNormMatchesCpuInPlaceAndStrided) {
  KVB_REQUIRE_CUDA_DEVICE();
  const int64_t n = 7, dim = 576, stride = 600;
  auto x = randn(size_t(n * stride), 1, 3.0f), w = randn(size_t(dim), 2);
  std::vector<float> want = x;
  cpu::rmsnorm(x.data(), w.data(), want.data(), n, dim, stride, 1e-5f);
  DeviceBuffer dx = dev(x), dw = dev(w), dy = dev(x);
  cuda::rmsnorm(dx.as<float>(), dw.as<float>(), dy.as<float>(), n, dim, stride, 1e-5f);
  expect_close(host<float>(dy, want.size()), want, 1e-5, "rmsnorm");
  cuda::rmsnorm(dx.as<float>(), dw.as<float>(), dx.as<float>(), n, dim, stride, 1e-5f);  // in place
  expect_close(host<float>(dx, want.size()), want, 1e-5, "rmsnorm in place");
}

TEST(CudaOps, RopeMatchesCpuForBothLayouts) {
  KVB_REQUIRE_CUDA_DEVICE();
  ModelConfig c;
  c.head_dim = 64;
  c.rope_theta = 500000;
  c.rope_scaling = {"llama3", 8.0f, 1.0f, 4.0f, 8192};
  const std::vector<float> inv = rope_inv_freq(c);
  const int64_t n = 5, H = 3, D = 64, stride = H * D + 8;
  const std::vector<int32_t> pos = {0, 1, 17, 4095, 131071};
  DeviceBuffer dinv = dev(inv), dpos = dev(pos);
  for (bool neox : {true, false}) {
    auto x = randn(size_t(n * stride), 4);
    std::vector<float> want = x;
    rope(want.data(), n, H, D, stride, pos.data(), inv, neox);
    DeviceBuffer dx = dev(x);
    cuda::rope(dx.as<float>(), n, H, D, stride, dpos.as<int32_t>(), dinv.as<float>(), neox);
    expect_close(host<float>(dx, x.size()), want, 1e-5, neox ? "rope neox" : "rope adjacent pairs");
  }
}

TEST(CudaOps, SwigluResidualAndBiasMatchCpu) {
  KVB_REQUIRE_CUDA_DEVICE();
  const int64_t n = 3, dim = 1537;
  auto gate = randn(size_t(n * dim), 1, 4.0f), up = randn(size_t(n * dim), 2), bias = randn(size_t(dim), 3);
  std::vector<float> want(gate.size());
  cpu::swiglu(gate.data(), up.data(), want.data(), n * dim);
  DeviceBuffer dg = dev(gate), du = dev(up), db = dev(bias);
  cuda::swiglu(dg.as<float>(), du.as<float>(), dg.as<float>(), n * dim);  // in place, as the engine does
  expect_close(host<float>(dg, want.size()), want, 1e-6, "swiglu");
  // x += y, then y[r, :] += bias
  std::vector<float> sum(gate.size()), biased = up;
  for (size_t i = 0; i < sum.size(); ++i) sum[i] = want[i] + up[i];
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < dim; ++j) biased[size_t(r * dim + j)] += bias[size_t(j)];
  cuda::add(dg.as<float>(), du.as<float>(), n * dim);
  expect_close(host<float>(dg, sum.size()), sum, 1e-6, "residual add");
  cuda::add_bias(du.as<float>(), db.as<float>(), n, dim);
  expect_close(host<float>(du, biased.size()), biased, 1e-6, "bias add");
}

TEST(CudaOps, ArgmaxMatchesCpuTiesToFirst) {
  KVB_REQUIRE_CUDA_DEVICE();
  const int64_t rows = 4, n = 49152;
  auto x = randn(size_t(rows * n), 9);
  x[size_t(1 * n + 100)] = 50.0f;  // row 1: a tie, the first index wins
  x[size_t(1 * n + 40000)] = 50.0f;
  x[size_t(2 * n + n - 1)] = 60.0f;  // row 2: the last element
  for (int64_t j = 0; j < n; ++j) x[size_t(3 * n + j)] = -1.0f;  // row 3: all equal -> 0
  DeviceBuffer dx = dev(x), dout(size_t(rows) * sizeof(int32_t));
  cuda::argmax(dx.as<float>(), rows, n, dout.as<int32_t>());
  const auto got = host<int32_t>(dout, size_t(rows));
  for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(got[size_t(r)], cpu::argmax(x.data() + r * n, n)) << "row " << r;
}

// ---- attention -------------------------------------------------------------------------------

struct PrefillCase {
  int Hq, Hkv, D;
  int64_t n;
  std::vector<int64_t> past;
};

void check_prefill(const KVCache& c, const PrefillCase& pc, uint32_t seed, const std::string& what) {
  const int Hq = pc.Hq, D = pc.D;
  const int64_t n = pc.n, stride = int64_t(Hq) * D;
  const float scale = 1.0f / std::sqrt(float(D));
  auto q = randn(size_t(n * stride), seed);
  std::vector<float> want(q.size());
  std::vector<std::vector<float>> mass;
  cpu::attention(q.data(), n, c, 0, Hq, scale, want.data(), &mass);
  // The mass of the last W queries: the CPU op over those W queries alone (they are the last W entries).
  const int64_t W = std::min<int64_t>(8, n);
  std::vector<float> out_w(size_t(W * stride));
  std::vector<std::vector<float>> mass_w;
  cpu::attention(q.data() + (n - W) * stride, W, c, 0, Hq, scale, out_w.data(), &mass_w);

  cuda::DeviceKVCache dc = cuda::DeviceKVCache::upload(c);
  const cuda::KVLayerView kv = dc.view(0);
  const int64_t Tmax = kv.max_length;
  DeviceBuffer dq = dev(q), dout(q.size() * sizeof(float)), dmass(size_t(Hq * Tmax) * sizeof(float));
  cuda::Workspace ws;
  for (int64_t window : {n, W}) {
    dmass.zero();
    cuda::prefill_attention(dq.as<float>(), n, stride, kv, Hq, scale, dout.as<float>(), stride, dmass.as<float>(),
                            Tmax, window, ws);
    const auto got = host<float>(dout, q.size());
    const auto got_mass = host<float>(dmass, size_t(Hq * Tmax));
    expect_close(got, want, 1e-5, what + " output");
    const auto& ref = window == n ? mass : mass_w;
    for (int qh = 0; qh < Hq; ++qh) {
      const std::vector<float> row(got_mass.begin() + qh * Tmax, got_mass.begin() + qh * Tmax + int64_t(ref[qh].size()));
      expect_close(row, ref[size_t(qh)], 1e-5, what + " mass (window " + std::to_string(window) + ") head " +
                                                   std::to_string(qh));
    }
  }
  // Without the mass.
  cuda::prefill_attention(dq.as<float>(), n, stride, kv, Hq, scale, dout.as<float>(), stride, nullptr, 0, 0, ws);
  expect_close(host<float>(dout, q.size()), want, 1e-5, what + " output without mass");
}

TEST(CudaOps, PrefillAttentionMatchesCpuWithMassGqaAndBias) {
  KVB_REQUIRE_CUDA_DEVICE();
  const std::vector<PrefillCase> cases = {
      {6, 2, 64, 45, {37, 50}},        // GQA 3, ragged heads
      {9, 3, 64, 100, {0, 10, 200}},   // SmolLM2's heads; a head with no past
      {4, 4, 128, 33, {64, 5, 1, 90}},
      {4, 2, 40, 17, {3, 30}},         // a head dim below the kernel's tile width
      {2, 1, 256, 70, {20}},
  };
  uint32_t seed = 1;
  for (const PrefillCase& pc : cases) {
    const std::string what = "prefill Hq=" + std::to_string(pc.Hq) + " Hkv=" + std::to_string(pc.Hkv) +
                             " D=" + std::to_string(pc.D) + " n=" + std::to_string(pc.n);
    check_prefill(ragged_cache(pc.Hkv, pc.D, pc.past, pc.n, seed, /*bias_head=*/pc.Hkv - 1), pc, seed + 3, what);
    seed += 10;
  }
}

TEST(CudaOps, PrefillAttentionOverKiviPackedEntries) {
  KVB_REQUIRE_CUDA_DEVICE();
  const PrefillCase pc{4, 2, 64, 40, {300, 170}};
  KVCache c = ragged_cache(pc.Hkv, pc.D, pc.past, 0, 21);
  c.set_codec(KiviConfig{4, 32, 64});
  // The chunk's own tokens arrive after the codec (older entries get packed as they go).
  auto k = randn(size_t(pc.n * pc.Hkv * pc.D), 22), v = randn(size_t(pc.n * pc.Hkv * pc.D), 23);
  std::vector<int32_t> pos(size_t(pc.n));
  std::iota(pos.begin(), pos.end(), 1000);
  for (int g = 0; g < pc.Hkv; ++g)
    c.append(0, g, k.data() + g * pc.D, v.data() + g * pc.D, int64_t(pc.Hkv) * pc.D, pos.data(), pc.n);
  ASSERT_TRUE(c.head(0, 0).is_quantized());
  check_prefill(c, pc, 24, "kivi prefill");
}

TEST(CudaOps, DecodeAttentionMatchesCpuOnRaggedCompactedCaches) {
  KVB_REQUIRE_CUDA_DEVICE();
  struct Case {
    int Hq, Hkv, D;
    int64_t T;
  };
  // SmolLM2 (9/3, D=64), a GQA group above 8 (grid.z = 2), MHA with D=128, odd D.
  for (const Case& cs : {Case{9, 3, 64, 5000}, Case{32, 2, 128, 3000}, Case{4, 4, 128, 700}, Case{6, 3, 80, 1500},
                         Case{2, 1, 256, 400}}) {
    KVCache c = ragged_cache(cs.Hkv, cs.D, std::vector<int64_t>(size_t(cs.Hkv), cs.T), 0, 31, /*bias_head=*/0);
    // Compact each head differently (the host cache's own keep): keep 1/(g+1) of the entries.
    std::mt19937 rng(5);
    for (int g = 0; g < cs.Hkv; ++g) {
      const int64_t T = c.head(0, g).size();
      std::vector<int32_t> all(static_cast<size_t>(T)), keep;
      std::iota(all.begin(), all.end(), 0);
      std::sample(all.begin(), all.end(), std::back_inserter(keep), size_t(T / (g + 1)), rng);
      c.keep(0, g, keep);
    }
    auto q = randn(size_t(cs.Hq * cs.D), 32);
    std::vector<float> want(q.size());
    cpu::attention(q.data(), 1, c, 0, cs.Hq, 1.0f / std::sqrt(float(cs.D)), want.data());
    expect_close(gpu_decode(c, q, cs.Hq), want, 1e-5,
                 "decode Hq=" + std::to_string(cs.Hq) + " D=" + std::to_string(cs.D));
  }
}

TEST(CudaOps, DecodeAttentionWithQuestReadSetsMatchesCpu) {
  KVB_REQUIRE_CUDA_DEVICE();
  const int Hq = 9, Hkv = 3, D = 64;
  const int64_t T = 2000, page = 16;
  KVCache c = ragged_cache(Hkv, D, {T, T - 300, T - 1000}, 0, 41, /*bias_head=*/1);
  auto q = randn(size_t(Hq * D), 42);
  // Quest's selection: per KV head the union over its query heads of the top pages, plus the last page.
  std::vector<std::vector<int32_t>> read(static_cast<size_t>(Hkv));
  for (int g = 0; g < Hkv; ++g) {
    const HeadCache& h = c.head(0, g);
    const quest::PageBounds b = quest::page_bounds(h.fp_keys().data(), h.size(), D, page);
    std::vector<char> chosen(size_t(b.n_pages), 0);
    chosen.back() = 1;
    for (int qh = g * 3; qh < g * 3 + 3; ++qh)
      for (int32_t p : quest::top_pages(b, q.data() + qh * D, D, 8)) chosen[size_t(p)] = 1;
    for (int64_t p = 0; p < b.n_pages; ++p)
      if (chosen[size_t(p)])
        for (int64_t j = p * page; j < std::min(h.size(), (p + 1) * page); ++j) read[size_t(g)].push_back(int32_t(j));
  }
  std::vector<float> want(q.size());
  cpu::attention(q.data(), 1, c, 0, Hq, 1.0f / std::sqrt(float(D)), want.data(), nullptr, &read);
  expect_close(gpu_decode(c, q, Hq, &read), want, 1e-5, "quest decode");
  // A head that reads nothing gets a zero output (as on the CPU).
  read[1].clear();
  cpu::attention(q.data(), 1, c, 0, Hq, 1.0f / std::sqrt(float(D)), want.data(), nullptr, &read);
  expect_close(gpu_decode(c, q, Hq, &read), want, 1e-5, "quest decode, an empty read set");
}

TEST(CudaOps, KiviDecodeAttentionMatchesCpuOnPackedHeads) {
  KVB_REQUIRE_CUDA_DEVICE();
  const int Hq = 6, Hkv = 2, D = 64;
  for (int bits : {2, 4, 8}) {
    for (int group : {32, 128}) {
      // A compensation entry (logit bias) on head 1, before encoding, as razor_attention does.
      KVCache c = ragged_cache(Hkv, D, {1000, 777}, 0, 51, /*bias_head=*/1);
      c.set_codec(KiviConfig{bits, group, 64});
      ASSERT_TRUE(c.head(0, 0).is_quantized());
      ASSERT_TRUE(c.head(0, 1).is_quantized());
      auto q = randn(size_t(Hq * D), 52, 2.0f);
      std::vector<float> want(q.size());
      cpu::attention(q.data(), 1, c, 0, Hq, 1.0f / std::sqrt(float(D)), want.data());
      const std::string what = "kivi " + std::to_string(bits) + " bits, group " + std::to_string(group);
      expect_close(gpu_decode(c, q, Hq), want, 1e-5, what);
      // With read sets over packed and fp32 entries alike.
      std::vector<std::vector<int32_t>> read(static_cast<size_t>(Hkv));
      for (int g = 0; g < Hkv; ++g)
        for (int32_t j = 0; j < int32_t(c.head(0, g).size()); j += 1 + (j % 5)) read[size_t(g)].push_back(j);
      cpu::attention(q.data(), 1, c, 0, Hq, 1.0f / std::sqrt(float(D)), want.data(), nullptr, &read);
      expect_close(gpu_decode(c, q, Hq, &read), want, 1e-5, what + " with read sets");
    }
  }
}

// ---- the device KV cache ---------------------------------------------------------------------

TEST(CudaKVCache, KeepMatchesKVCacheKeepAndFreesMemory) {
  KVB_REQUIRE_CUDA_DEVICE();
  const int Hq = 8, Hkv = 4, D = 64;
  KVCache c = ragged_cache(Hkv, D, {500, 320, 64, 1}, 0, 61, /*bias_head=*/2);
  cuda::DeviceKVCache dc = cuda::DeviceKVCache::upload(c, /*reserve=*/4);
  const size_t before = dc.bytes(), held_before = cuda::memory_stats().current_bytes;
  std::mt19937 rng(7);
  std::vector<std::vector<int32_t>> sets(static_cast<size_t>(Hkv));
  for (int g = 0; g < Hkv; ++g) {
    const int64_t T = c.head(0, g).size();
    std::vector<int32_t> all(static_cast<size_t>(T));
    std::iota(all.begin(), all.end(), 0);
    std::sample(all.begin(), all.end(), std::back_inserter(sets[size_t(g)]), size_t(T * 3 / 10), rng);
    c.keep(0, g, sets[size_t(g)]);
  }
  dc.keep(0, sets);
  EXPECT_LT(dc.bytes(), before);
  EXPECT_LT(cuda::memory_stats().current_bytes, held_before);
  for (int g = 0; g < Hkv; ++g) {
    const HeadCache& h = c.head(0, g);
    const cuda::DeviceKVCache::HostHead d = dc.download(0, g);
    ASSERT_EQ(d.length, h.size()) << "head " << g;
    EXPECT_EQ(d.keys, h.fp_keys()) << "head " << g;
    EXPECT_EQ(d.values, h.fp_values()) << "head " << g;
    EXPECT_EQ(d.bias, h.logit_bias()) << "head " << g;
  }
  // Attention over the compacted device cache equals the host's over its compacted cache.
  auto q = randn(size_t(Hq * D), 62);
  std::vector<float> want(q.size());
  cpu::attention(q.data(), 1, c, 0, Hq, 0.125f, want.data());
  DeviceBuffer dq = dev(q), dout(q.size() * sizeof(float));
  cuda::Workspace ws;
  cuda::decode_attention(dq.as<float>(), dc.view(0), Hq, 0.125f, dout.as<float>(), ws);
  expect_close(host<float>(dout, q.size()), want, 1e-5, "decode after keep");
  // Bad keep sets fail like the host's.
  sets[0] = {3, 2};
  EXPECT_THROW(dc.keep(0, sets), Error);
}

TEST(CudaKVCache, AppendThenDecodeMatchesHost) {
  KVB_REQUIRE_CUDA_DEVICE();
  const int Hq = 6, Hkv = 3, D = 64;
  const int64_t n = 3;
  KVCache c = ragged_cache(Hkv, D, {100, 40, 7}, 0, 71, /*bias_head=*/0);
  cuda::DeviceKVCache dc = cuda::DeviceKVCache::upload(c, /*reserve=*/n);
  // New tokens as a projection's output: k, v [n, Hkv*D].
  auto k = randn(size_t(n * Hkv * D), 72), v = randn(size_t(n * Hkv * D), 73);
  std::vector<int32_t> pos = {500, 501, 502};
  DeviceBuffer dk = dev(k), dv = dev(v);
  for (int g = 0; g < Hkv; ++g) {
    c.append(0, g, k.data() + g * D, v.data() + g * D, int64_t(Hkv) * D, pos.data(), n);
    dc.append(0, g, dk.as<float>() + g * D, dv.as<float>() + g * D, int64_t(Hkv) * D, n);
    EXPECT_EQ(dc.length(0, g), c.head(0, g).size());
  }
  auto q = randn(size_t(Hq * D), 74);
  std::vector<float> want(q.size());
  cpu::attention(q.data(), 1, c, 0, Hq, 0.125f, want.data());
  DeviceBuffer dq = dev(q), dout(q.size() * sizeof(float));
  cuda::Workspace ws;
  cuda::decode_attention(dq.as<float>(), dc.view(0), Hq, 0.125f, dout.as<float>(), ws);
  expect_close(host<float>(dout, q.size()), want, 1e-5, "decode after append");
  // The reserve is used up.
  EXPECT_THROW(dc.append(0, 0, dk.as<float>(), dv.as<float>(), int64_t(Hkv) * D, 1), Error);
}

}  // namespace
}  // namespace kvb

#endif  // KVB_WITH_CUDA
