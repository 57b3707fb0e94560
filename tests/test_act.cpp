// act (ACT, Yu et al. 2024, arXiv:2406.15765) and the attention-modifier seam
// (kv/attention_calibration.h, backends/cpu/attention_calibration.h): a recalibrated row equals the
// direct computation and still sums to 1; the hidden sinks are the right columns (mean over the rows
// that see them, the first one excepted); a head outside the list is untouched bit for bit; a listed
// head's output equals a direct double-precision computation; the head file round-trips and a bad one
// is one clear error; `kvbench calibrate act` writes a file that `eval --method act` loads.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>

#include "backends/cpu/attention.h"
#include "backends/cpu/attention_calibration.h"
#include "core/error.h"
#include "core/random.h"
#include "eval/runner.h"
#include "kv/act_heads.h"
#include "kv/method.h"
#include "model/checkpoint.h"
#include "test_util.h"
#include "tiny_models.h"

#ifdef KVB_WITH_CUDA
#include "backends/cuda/cuda_forward.h"
#include "backends/cuda/device_info.h"
#endif

namespace kvb {
namespace {

std::vector<float> uniform(uint64_t seed, size_t n, float scale) {
  Rng rng(seed);
  std::vector<float> x(n);
  for (auto& v : x) v = float((rng.unit() * 2.0 - 1.0) * scale);
  return x;
}

TEST(ActRow, RecalibrationEqualsTheDirectComputationAndTheRowSumsToOne) {
  const std::vector<float> p0 = {0.30f, 0.05f, 0.25f, 0.10f, 0.02f, 0.18f, 0.06f, 0.04f, 0.77f /* not visible */};
  const std::vector<int32_t> sinks = {2, 5, 8};  // 8 lies beyond the 8 visible entries
  const double beta = 0.4;
  std::vector<float> p = p0;
  cpu::recalibrate_row(p.data(), 8, sinks, float(beta));
  const double removed = (1 - beta) * (0.25 + 0.18), rest = 1.0 - 0.25 - 0.18;
  double sum = 0;
  for (int j = 0; j < 8; ++j) {
    const bool sink = j == 2 || j == 5;
    const double want = sink ? beta * p0[size_t(j)] : p0[size_t(j)] + removed * p0[size_t(j)] / rest;
    EXPECT_NEAR(p[size_t(j)], want, 1e-7) << "entry " << j;
    sum += p[size_t(j)];
  }
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_EQ(p[8], p0[8]) << "entries after the visible ones are untouched";
  // No sink among the visible entries, or nothing else to take the mass: unchanged.
  std::vector<float> q = p0;
  cpu::recalibrate_row(q.data(), 2, sinks, float(beta));
  EXPECT_EQ(q, p0);
  std::vector<float> only = {0.0f, 1.0f};
  cpu::recalibrate_row(only.data(), 2, std::vector<int32_t>{1}, float(beta));
  EXPECT_EQ(only, (std::vector<float>{0.0f, 1.0f}));
}

TEST(ActSinks, HiddenSinksAreTheColumnsOverTauExceptTheFirst) {
  EXPECT_EQ(cpu::hidden_sinks(std::vector<double>{0.6, 0.02, 0.3, 0.1, 0.11, 0.05}, 0.1f),
            (std::vector<int32_t>{2, 4}));  // 0 is the first sink; 0.1 is not over tau
  EXPECT_EQ(cpu::hidden_sinks(std::vector<double>{0.05, 0.2, 0.3}, 0.1f), (std::vector<int32_t>{2}));
  EXPECT_TRUE(cpu::hidden_sinks(std::vector<double>{0.9, 0.01}, 0.1f).empty());
}

// A cache of one layer, Hkv KV heads, T entries whose keys 0 and `sink` point along every query (large
// dot products: attention sinks), the rest small random.
KVCache sink_cache(int Hkv, int D, int64_t T, int64_t sink, const std::vector<float>& dir) {
  KVCache c(1, Hkv, D);
  std::vector<int32_t> pos(static_cast<size_t>(T));
  std::iota(pos.begin(), pos.end(), 0);
  for (int g = 0; g < Hkv; ++g) {
    auto k = uniform(10 + uint64_t(g), size_t(T * D), 0.3f);
    const auto v = uniform(20 + uint64_t(g), size_t(T * D), 1.0f);
    for (int64_t j : {int64_t(0), sink})
      for (int d = 0; d < D; ++d) k[size_t(j * D + d)] = 2.5f * dir[size_t(d)];
    c.append(0, g, k.data(), v.data(), D, pos.data(), T);
  }
  c.advance(int32_t(T));
  return c;
}

// Direct double-precision ACT attention of query head qh over the causal map of the last n entries.
std::vector<double> direct_act(const float* q, int64_t n, const KVCache& c, int qh, int group, float scale,
                               double tau, double beta) {
  const HeadRows rows = c.rows(0, qh / group);
  const int64_t T = rows.size(), past = T - n, D = c.head_dim(), stride = int64_t(group) * c.n_kv_heads() * D;
  std::vector<std::vector<double>> P(size_t(n), std::vector<double>(size_t(T), 0.0));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t vis = past + i + 1;
    double mx = -1e300;
    for (int64_t j = 0; j < vis; ++j) {
      double s = 0;
      for (int64_t d = 0; d < D; ++d) s += double(q[i * stride + qh * D + d]) * rows.key(j)[d];
      P[size_t(i)][size_t(j)] = s * scale;
      mx = std::max(mx, P[size_t(i)][size_t(j)]);
    }
    double z = 0;
    for (int64_t j = 0; j < vis; ++j) z += (P[size_t(i)][size_t(j)] = std::exp(P[size_t(i)][size_t(j)] - mx));
    for (int64_t j = 0; j < vis; ++j) P[size_t(i)][size_t(j)] /= z;
  }
  std::vector<bool> sink(size_t(T), false);
  bool first = true;
  for (int64_t j = 0; j < T; ++j) {
    double m = 0;
    for (int64_t i = 0; i < n; ++i) m += P[size_t(i)][size_t(j)];
    m /= double(j <= past ? n : T - j);
    if (m > tau) sink[size_t(j)] = !first, first = false;
  }
  std::vector<double> out(size_t(n * D), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t vis = past + i + 1;
    double removed = 0, rest = 0;
    for (int64_t j = 0; j < vis; ++j) (sink[size_t(j)] ? removed : rest) += P[size_t(i)][size_t(j)];
    for (int64_t j = 0; j < vis; ++j) {
      const double p = P[size_t(i)][size_t(j)];
      const double w = removed == 0 ? p : sink[size_t(j)] ? beta * p : p + (1 - beta) * removed * p / rest;
      for (int64_t d = 0; d < D; ++d) out[size_t(i * D + d)] += w * rows.value(j)[d];
    }
  }
  return out;
}

TEST(ActAttention, ListedHeadsEqualTheDirectComputationAndTheOthersAreUntouchedBitForBit) {
  const int Hkv = 2, group = 2, Hq = Hkv * group, D = 32;
  const int64_t T = 200, sink = 190;  // seen by only the last 10 of the 150-row chunk: its mean is over those rows
  const auto dir = uniform(5, size_t(D), 1.0f);
  const KVCache c = sink_cache(Hkv, D, T, sink, dir);
  const float scale = 1.0f / std::sqrt(float(D));
  for (int64_t n : {int64_t(1), int64_t(150)}) {  // a decode step, a prefill chunk after 50 entries
    auto q = uniform(30 + uint64_t(n), size_t(n * Hq * D), 0.5f);
    for (int64_t i = 0; i < n; ++i)
      for (int h = 0; h < Hq; ++h)
        for (int d = 0; d < D; ++d) q[size_t((i * Hq + h) * D + d)] += dir[size_t(d)];
    std::vector<float> plain(size_t(n * Hq * D)), act(plain.size());
    std::vector<std::vector<float>> mass_plain, mass_act;
    cpu::attention(q.data(), n, c, 0, Hq, scale, plain.data(), &mass_plain);
    cpu::attention(q.data(), n, c, 0, Hq, scale, act.data(), &mass_act);
    AttentionCalibration calib;
    calib.heads = {0, 1, 0, 1};  // query heads 1 and 3 (one per KV head)
    cpu::calibrated_attention(q.data(), n, c, 0, Hq, scale, act.data(), &mass_act, calib);
    for (int h = 0; h < Hq; ++h) {
      bool same = true;
      for (int64_t i = 0; i < n; ++i)
        for (int d = 0; d < D; ++d) same &= plain[size_t((i * Hq + h) * D + d)] == act[size_t((i * Hq + h) * D + d)];
      EXPECT_EQ(same, !calib.heads[size_t(h)]) << "n " << n << " head " << h;
      if (!calib.heads[size_t(h)]) {
        EXPECT_EQ(mass_act[size_t(h)], mass_plain[size_t(h)]) << "n " << n << " head " << h;
        continue;
      }
      const auto want = direct_act(q.data(), n, c, h, group, scale, 0.1, 0.4);
      double err = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int d = 0; d < D; ++d)
          err = std::max(err, std::abs(double(act[size_t((i * Hq + h) * D + d)]) - want[size_t(i * D + d)]));
      EXPECT_LT(err, 1e-5) << "n " << n << " head " << h;
      // Its mass: every row still sums to 1, and the hidden sink lost weight.
      EXPECT_NEAR(std::accumulate(mass_act[size_t(h)].begin(), mass_act[size_t(h)].end(), 0.0), double(n), 1e-3 * n);
      EXPECT_LT(mass_act[size_t(h)][size_t(sink)], mass_plain[size_t(h)][size_t(sink)]) << "n " << n;
      EXPECT_GT(mass_act[size_t(h)][0], mass_plain[size_t(h)][0]) << "the first sink is not a hidden one";
    }
  }
}

TEST(ActHeads, FileRoundTripsInlineParsesAndBadInputIsOneClearError) {
  const std::string path = (test::tmp_dir() / "act_heads_roundtrip.txt").string();
  const ActHeads heads = {{0, 1}, {3, 2}, {12, 0}};
  write_act_heads(path, heads, {"a comment"});
  EXPECT_EQ(read_act_heads(path), heads);
  EXPECT_EQ(parse_act_heads("12:0, 0:1,3:2,0:1"), heads);
  EXPECT_TRUE(is_inline_act_heads("0:1,3:2"));
  EXPECT_FALSE(is_inline_act_heads(path));
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string bad = (test::tmp_dir() / "act_heads_bad.txt").string();
  std::ofstream(bad) << "# heads\n0 1\n3 x\n";
  EXPECT_NE(message([&] { read_act_heads(bad); }).find("act_heads_bad.txt:3: head 'x' is not a non-negative integer"),
            std::string::npos)
      << message([&] { read_act_heads(bad); });
  std::ofstream(bad) << "0 1 2\n";
  EXPECT_NE(message([&] { read_act_heads(bad); }).find(":1: expected 'layer head'"), std::string::npos);
  EXPECT_NE(message([&] { read_act_heads("/nonexistent/act.txt"); }).find("act heads file '/nonexistent/act.txt' not found"),
            std::string::npos);
  EXPECT_NE(message([] { parse_act_heads("1:2,3"); }).find("item '3' is not layer:head"), std::string::npos);
  // Through the method: a head outside the model, and a bad tau.
  const Checkpoint ck = load_checkpoint(test::tiny_model_dir("llama_gqa"));
  MethodSpec s;
  s.id = "act";
  s.params = Params{{"heads", "0:99"}};
  EXPECT_NE(message([&] { make_method(s, ck.config); }).find("act: head 0:99 is outside the model"), std::string::npos);
  s.params = Params{{"heads", bad}};
  EXPECT_NE(message([&] { make_method(s, ck.config); }).find("expected 'layer head'"), std::string::npos);
  s.params = Params{{"heads", "0:1"}, {"tau", "0"}};
  EXPECT_THROW(make_method(s, ck.config), Error);
}

// On the tiny GQA model: act with heads changes the logits and keeps every entry; without heads it is
// full attention bit for bit; with a composed selector it is refused.
TEST(ActMethod, CalibratedHeadsChangeTheOutputAndTheCacheKeepsEverything) {
  const Checkpoint ck = load_checkpoint(test::tiny_model_dir("llama_gqa"));
  auto tok = make_tokenizer(ck.tokenizer);
  Transformer model(ck.config, ck.weights, EngineOptions{32});
  Rng rng(3);
  std::vector<int32_t> ctx(160), question(8);
  for (auto& t : ctx) t = int32_t(1 + rng.below(300));
  for (auto& t : question) t = int32_t(1 + rng.below(300));
  auto first_logits = [&](const MethodSpec& s, int64_t* kept = nullptr) {
    CaseResult r;
    CompressedPrefill p = prefill_with_method(model, s, ctx, question, 4, r);
    if (kept) *kept = r.kept_tokens;
    GenerationOptions opt;
    opt.max_new_tokens = 3;
    opt.stop_at_end_of_generation = false;
    generate_with_method(model, p, *tok, opt, r);
    return std::make_pair(p.logits.data, r.prediction);
  };
  const auto full = first_logits(MethodSpec{});
  MethodSpec s;
  s.id = "act";
  EXPECT_EQ(first_logits(s), full) << "no heads: full attention";
  std::string all;
  for (int l = 0; l < ck.config.n_layers; ++l)
    for (int h = 0; h < ck.config.n_heads; ++h) all += (all.empty() ? "" : ",") + std::to_string(l) + ":" + std::to_string(h);
  s.params = Params{{"heads", all}, {"tau", "0.02"}};
  int64_t kept = 0;
  EXPECT_NE(first_logits(s, &kept).first, full.first);
  EXPECT_EQ(kept, int64_t(ck.config.n_layers) * ck.config.n_kv_heads * 160);
  // Every pass of the case runs with the calibration: the context's prefill, the question's, and each
  // decode step (DecodeHooks) equal the model's forward passes with the calibration observer.
  {
    CaseResult r;
    CompressedPrefill p = prefill_with_method(model, s, ctx, question, 4, r);
    const std::unique_ptr<Method> m = make_method(s, ck.config);
    CalibrationObserver obs(*m);
    KVCache cache = model.make_cache();
    model.forward(ctx, cache, LogitRows::None, &obs);
    EXPECT_EQ(p.logits.data, model.forward(question, cache, LogitRows::Last, &obs).data) << "question prefill";
    double secs = 0;
    size_t peak = 0;
    DecodeHooks hooks(*p.method, ck.config, p.cache, secs, peak);
    for (int32_t t : {5, 17}) {
      const std::vector<int32_t> one{t};
      EXPECT_EQ(model.forward(one, p.cache, LogitRows::Last, &hooks).data,
                model.forward(one, cache, LogitRows::Last, &obs).data)
          << "decode step";
    }
  }
  MethodSpec with_selector = s;
  with_selector.id = "act+quest";
  with_selector.token_budget = 40;
  with_selector.params.set("dense_layers", "0");
  with_selector.params.set("page_size", "4");
  EXPECT_THROW(first_logits(with_selector), Error);
}

// `kvbench calibrate act` writes a head file that `kvbench eval --method act` loads.
TEST(ActCalibrate, WritesAFileThatEvalLoads) {
  const std::string model = test::stories260k().string();
  const std::string out = (test::tmp_dir() / "act_stories.txt").string();
  std::filesystem::remove(out);
  const auto cal = test::run_kvbench("calibrate act --model '" + model + "' --out '" + out +
                                     "' --length 300 --n 1 --candidates 3 --tau 0.05 -t 1");
  ASSERT_EQ(cal.exit_code, 0) << cal.output;
  EXPECT_NE(cal.output.find("wrote " + out), std::string::npos) << cal.output;
  const ActHeads heads = read_act_heads(out);
  EXPECT_LE(heads.size(), 3u);
  // The greedy rule, replayed from the log: a candidate is kept exactly when its NLL beats the best so far
  // (the baseline first), and the file holds the kept ones.
  std::istringstream log(cal.output);
  std::string line;
  double best = NAN;
  ActHeads kept;
  int tried = 0;
  while (std::getline(log, line)) {
    if (auto at = line.find("answer NLL "); at != std::string::npos && line.find("without calibration") != std::string::npos)
      best = std::stod(line.substr(at + 11));
    const auto head = line.find("calibrate act: head ");
    if (head == std::string::npos) continue;
    ++tried;
    int l = -1, h = -1;
    ASSERT_EQ(std::sscanf(line.c_str() + head, "calibrate act: head %d:%d", &l, &h), 2) << line;
    const double v = std::stod(line.substr(line.find("NLL ") + 4));
    const bool said_kept = line.find("-> kept") != std::string::npos;
    ASSERT_FALSE(std::isnan(best)) << cal.output;
    EXPECT_EQ(said_kept, v < best) << line << " (best so far " << best << ")";
    if (said_kept) {
      kept.emplace_back(l, h);
      best = v;
    }
  }
  EXPECT_GE(tried, 1) << cal.output;
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(heads, kept);
  const auto e = test::run_kvbench("eval -q --model '" + model + "' --chat-template none --task niah_single --length 300 "
                                   "--n 1 -t 1 --param max_new_tokens=4 --method act --param heads='" + out + "'");
  EXPECT_EQ(e.exit_code, 0) << e.output;
  const auto bad = test::run_kvbench("eval -q --model '" + model + "' --chat-template none --task niah_single "
                                     "--length 300 --n 1 --param max_new_tokens=4 --method act --param heads=/nonexistent.act");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("act heads file '/nonexistent.act' not found"), std::string::npos) << bad.output;
}

#ifdef KVB_WITH_CUDA
// The CUDA backend has no attention calibration: a forward pass asked for one stops with one error
// naming the layer and the CPU backend (docs/cuda.md). Needs a device.
TEST(ActCuda, TheCudaBackendRefusesAnAttentionCalibration) {
  if (cuda::describe_devices().devices.empty()) GTEST_SKIP() << "no CUDA device: " << cuda::describe_first_device();
  cuda::register_backend();
  const Checkpoint ck = load_checkpoint(test::tiny_model_dir("llama_gqa"));
  Transformer gpu(ck.config, ck.weights, EngineOptions{32, "cuda", "f32"});
  MethodSpec s;
  s.id = "act";
  s.params = Params{{"heads", "1:0"}};
  const std::unique_ptr<Method> m = make_method(s, ck.config);
  CalibrationObserver obs(*m);
  KVCache cache = gpu.make_cache();
  try {
    gpu.forward(std::vector<int32_t>{1, 2, 3, 4}, cache, LogitRows::Last, &obs);
    FAIL() << "the cuda backend ran an attention calibration";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 1: attention calibration (act) runs on the cpu backend only"),
              std::string::npos)
        << e.what();
  }
}
#endif

}  // namespace
}  // namespace kvb
