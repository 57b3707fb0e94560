// The CUDA forward backend (--backend cuda) against the CPU engine: logits of prefill chunks and
// decode steps, and every registered method's decisions (kept positions per layer and KV head) and
// greedy continuation when the model runs on the device, on the tiny random Llama (GQA) checkpoint.
// Tests needing a GPU skip with the runtime's reason when there is none; the refusal tests run
// where there is no device (they check the error a user gets). Without KVB_WITH_CUDA only the
// backend-registry tests are built.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/error.h"
#include "core/random.h"
#include "eval/runner.h"
#include "kv/method.h"
#include "model/checkpoint.h"
#include "store/results_store.h"
#include "test_util.h"
#include "tiny_models.h"

#ifdef KVB_WITH_CUDA
#include "backends/cuda/cuda_forward.h"
#include "backends/cuda/device_info.h"
#endif

namespace kvb {
namespace {

Checkpoint& tiny_checkpoint() {
  static Checkpoint ck = load_checkpoint(test::tiny_model_dir("llama_gqa"));
  return ck;
}

TEST(Backends, UnknownBackendIsAnErrorNamingTheBuiltInOnes) {
  Checkpoint& ck = tiny_checkpoint();
  try {
    Transformer t(ck.config, ck.weights, EngineOptions{32, "tpu"});
    FAIL() << "a Transformer on backend 'tpu' was created";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown backend 'tpu'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cpu"), std::string::npos) << e.what();
  }
}

#ifndef KVB_WITH_CUDA
// CI must compile the CUDA backend: where nvcc is installed, a build without it is a mistake
// (unless it was turned off on purpose with -DKVB_CUDA=OFF).
TEST(Backends, CudaIsBuiltWhereNvccIsInstalled) {
  if (std::string(kvb::test::cuda_setting()) == "OFF") GTEST_SKIP() << "configured with -DKVB_CUDA=OFF";
  if (!std::filesystem::exists("/usr/local/cuda/bin/nvcc")) GTEST_SKIP() << "no nvcc in /usr/local/cuda/bin";
  ADD_FAILURE() << "/usr/local/cuda/bin/nvcc exists but this build has no CUDA backend (KVB_CUDA=OFF?)";
}

TEST(Backends, CudaNotBuiltInSaysHowToBuildIt) {
  Checkpoint& ck = tiny_checkpoint();
  try {
    Transformer t(ck.config, ck.weights, EngineOptions{32, "cuda"});
    FAIL() << "created a CUDA transformer in a build without CUDA";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("-DKVB_CUDA=ON"), std::string::npos) << e.what();
  }
}
#else

bool have_device() { return !cuda::describe_devices().devices.empty(); }

#define KVB_REQUIRE_CUDA_DEVICE()                                                           \
  do {                                                                                      \
    if (!have_device()) GTEST_SKIP() << "no CUDA device: " << cuda::describe_first_device(); \
  } while (0)

TEST(Backends, CudaWithoutADeviceRefusesWithTheRuntimeReason) {
  if (have_device()) GTEST_SKIP() << "a CUDA device is present (" << cuda::describe_first_device() << ")";
  cuda::register_backend();
  Checkpoint& ck = tiny_checkpoint();
  try {
    Transformer t(ck.config, ck.weights, EngineOptions{32, "cuda"});
    FAIL() << "a CUDA transformer was created without a device";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no usable CUDA device"), std::string::npos) << e.what();
  }
  const auto r = test::run_kvbench("generate --model " + test::stories260k().string() +
                                   " --prompt 'Once upon a time' --max-new-tokens 4 --backend cuda");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("no usable CUDA device"), std::string::npos) << r.output;
  // A sweep refuses before it records anything (no run row, no error rows per case).
  const std::string db = (test::tmp_dir() / ("cuda_refused_" + std::to_string(getpid()) + ".db")).string();
  std::filesystem::remove(db);
  const auto s = test::run_kvbench("run --model " + test::stories260k().string() +
                                   " --task niah_single --n 2 --length 200 --chat-template none --backend cuda --db " + db);
  EXPECT_EQ(s.exit_code, 2) << s.output;
  EXPECT_NE(s.output.find("engine.backend: backend 'cuda': no usable CUDA device"), std::string::npos) << s.output;
  if (std::filesystem::exists(db)) {
    ResultsStore store(db, true);
    Statement q = store.prepare("SELECT (SELECT COUNT(*) FROM runs) + (SELECT COUNT(*) FROM samples)");
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.integer(0), 0);
  }
}

std::vector<int32_t> random_ids(uint64_t seed, int n) {
  Rng rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& t : ids) t = int32_t(1 + rng.below(300));
  return ids;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])));
  return m;
}
double max_abs(const std::vector<float>& a) {
  double m = 0;
  for (float x : a) m = std::max(m, std::abs(double(x)));
  return m;
}

// Prefill in chunks of 32 (the last one partial), then decode steps; every logit row compared.
// Tolerance relative to the largest logit: f32 GEMMs differ from OpenBLAS only in summation order
// (1e-4); bf16 weights and activations carry 8 significant bits (3e-2).
TEST(CudaForward, LogitsMatchCpuForPrefillChunksAndDecodeSteps) {
  KVB_REQUIRE_CUDA_DEVICE();
  cuda::register_backend();
  Checkpoint& ck = tiny_checkpoint();
  for (const auto& [dtype, tol] : std::vector<std::pair<std::string, double>>{{"f32", 1e-4}, {"bf16", 3e-2}}) {
    Transformer cpu(ck.config, ck.weights, EngineOptions{32});
    Transformer gpu(ck.config, ck.weights, EngineOptions{32, "cuda", dtype});
    KVCache c_cpu = cpu.make_cache(), c_gpu = gpu.make_cache();
    const std::vector<int32_t> prompt = random_ids(3, 100);
    Tensor a = cpu.forward(prompt, c_cpu, LogitRows::All), b = gpu.forward(prompt, c_gpu, LogitRows::All);
    ASSERT_EQ(a.data.size(), b.data.size());
    EXPECT_LE(max_abs_diff(a.data, b.data), tol * max_abs(a.data)) << dtype << " prefill";
    for (int step = 0; step < 5; ++step) {
      const int32_t one[1] = {int32_t(10 + step)};
      a = cpu.forward(one, c_cpu);
      b = gpu.forward(one, c_gpu);
      EXPECT_LE(max_abs_diff(a.data, b.data), tol * max_abs(a.data)) << dtype << " decode step " << step;
    }
    // The host cache the methods read holds the same entries on both backends.
    for (int l = 0; l < c_cpu.n_layers(); ++l)
      for (int h = 0; h < c_cpu.n_kv_heads(); ++h) {
        EXPECT_EQ(c_cpu.head(l, h).positions(), c_gpu.head(l, h).positions());
        EXPECT_LE(max_abs_diff(c_cpu.head(l, h).fp_keys(), c_gpu.head(l, h).fp_keys()),
                  tol * std::max(1.0, max_abs(c_cpu.head(l, h).fp_keys())));
      }
    // Greedy next token, argmax taken on the device (ties to the lowest id, as on the CPU).
    const int32_t one[1] = {42};
    EXPECT_EQ(cpu.forward_greedy(one, c_cpu), gpu.forward_greedy(one, c_gpu)) << dtype;
    EXPECT_GT(gpu.device_memory().peak_bytes, 0u);
  }
}

// Parameters a method needs on the tiny model (as in test_method_contract.cpp).
MethodSpec tiny_spec(const std::string& id, double ratio) {
  MethodSpec s;
  s.id = id;
  s.compression_ratio = ratio;
  for (const auto& p : find_method(id).params) {
    if (p.name == "window") s.params.set("window", "16");
    if (p.name == "n_sink") s.params.set("n_sink", "4");
  }
  if (id == "adakv") s.params.set("window", "16");
  if (id == "duo_attention") {
    s.params.set("head_scores", "0.9,0.1;0.4,0.7");
    s.params.set("sink_size", "4");
    s.params.set("recent_size", "16");
  }
  if (id == "kivi") {
    s.params.set("bits", "4");
    s.params.set("group", "16");
    s.params.set("residual", "32");
    s.compression_ratio = 0.0;
  }
  return s;
}

struct MethodRun {
  std::vector<std::vector<std::vector<int32_t>>> positions;  // [L][Hkv] after compression
  std::vector<int32_t> tokens;
  CaseResult stats;
};

MethodRun run_method(Transformer& model, const MethodSpec& spec) {
  Checkpoint& ck = tiny_checkpoint();
  static auto tok = make_tokenizer(ck.tokenizer);
  const std::vector<int32_t> ctx = random_ids(7, 160), q = random_ids(8, 8);
  MethodRun r;
  CompressedPrefill p = prefill_with_method(model, spec, ctx, q, 6, r.stats);
  for (int l = 0; l < p.cache.n_layers(); ++l) {
    r.positions.emplace_back();
    for (int h = 0; h < p.cache.n_kv_heads(); ++h) r.positions.back().push_back(p.cache.head(l, h).positions());
  }
  GenerationOptions opt;
  opt.max_new_tokens = 6;
  opt.stop_at_end_of_generation = false;
  r.tokens = generate_with_method(model, p, *tok, opt, r.stats).tokens;
  return r;
}

class CudaMethods : public ::testing::TestWithParam<std::string> {};

// The method decides on the host from what the device computed (queries, attention mass, K/V), and
// the device cache applies the keep sets. With f32 GEMMs the scores differ from the CPU's only in
// rounding, so a (layer, head) may differ only where two candidates tie to ~1e-5: at most 2% of
// the kept entries overall, and the first generated token must agree.
TEST_P(CudaMethods, KeepSetsAndContinuationMatchTheCpu) {
  KVB_REQUIRE_CUDA_DEVICE();
  cuda::register_backend();
  Checkpoint& ck = tiny_checkpoint();
  Transformer cpu(ck.config, ck.weights, EngineOptions{32});
  Transformer gpu(ck.config, ck.weights, EngineOptions{32, "cuda", "f32"});
  if (find_method(GetParam()).roles.changes_prefill) {  // a sparse prefill (minference): cpu only, one clear error
    try {
      run_method(gpu, tiny_spec(GetParam(), 0.5));
      ADD_FAILURE() << GetParam() << " ran its sparse prefill on the cuda backend";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("sparse prefill patterns (minference) run on the cpu backend only"),
                std::string::npos) << e.what();
    }
    return;
  }
  for (double ratio : {0.5, 0.8}) {
    const MethodSpec spec = tiny_spec(GetParam(), ratio);
    const MethodRun a = run_method(cpu, spec), b = run_method(gpu, spec);
    int64_t kept = 0, differing = 0;
    for (size_t l = 0; l < a.positions.size(); ++l)
      for (size_t h = 0; h < a.positions[l].size(); ++h) {
        const auto& x = a.positions[l][h];
        const auto& y = b.positions[l][h];
        std::vector<int32_t> common;
        std::set_intersection(x.begin(), x.end(), y.begin(), y.end(), std::back_inserter(common));
        kept += int64_t(x.size());
        differing += int64_t(x.size() + y.size() - 2 * common.size());
      }
    EXPECT_LE(double(differing), 0.02 * double(kept)) << GetParam() << " ratio " << ratio << ": " << differing
                                                      << " of " << kept << " kept entries differ";
    ASSERT_FALSE(a.tokens.empty());
    ASSERT_FALSE(b.tokens.empty());
    EXPECT_EQ(a.tokens[0], b.tokens[0]) << GetParam() << " ratio " << ratio;
    EXPECT_EQ(a.stats.kv_resident_bytes, b.stats.kv_resident_bytes) << GetParam() << " ratio " << ratio;
  }
}

std::vector<std::string> all_method_ids() {
  std::vector<std::string> ids;
  for (const MethodInfo* m : list_methods()) ids.push_back(m->id);
  return ids;
}

INSTANTIATE_TEST_SUITE_P(AllMethods, CudaMethods, ::testing::ValuesIn(all_method_ids()),
                         [](const auto& info) { return info.param; });

#endif  // KVB_WITH_CUDA

}  // namespace
}  // namespace kvb
