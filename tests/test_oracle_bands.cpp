// Method behaviour a reader can predict on the recall oracle (full attention retrieves everything, so a
// lost point is a dropped token), run through the same run_case path as sweeps; and kvbench gating
// itself: a method broken on purpose (snapkv's factory swapped for random's, same id and version, so
// the same configuration hash) trips `kvbench gate` against a clean run of the same sweep.
// Run: build/tests/kvb_tests --gtest_filter='OracleBands*:OracleGate*'
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>

#include "core/threads.h"
#include "eval/runner.h"
#include "eval/sweep.h"
#include "eval/sweep_config.h"
#include "eval/task.h"
#include "kv/method.h"
#include "model/checkpoint.h"
#include "model/model_path.h"
#include "test_reports_fixture.h"

namespace kvb {
namespace {

// A builtin:oracle checkpoint and its engine, built once per name and test binary.
struct Oracle {
  explicit Oracle(const std::string& name) : ck(load_checkpoint(resolve_model_path(name))) {}
  Checkpoint ck;
  std::unique_ptr<Tokenizer> tok = make_tokenizer(ck.tokenizer);
  Transformer model{ck.config, ck.weights};
  static Oracle& get(const std::string& name) {
    static std::map<std::string, std::unique_ptr<Oracle>> all;
    auto& o = all[name];
    if (!o) o = std::make_unique<Oracle>(name);
    return *o;
  }
};

// The default oracle (two retrieval heads on two KV heads) and a one-KV-head one (a single retrieval
// head: one copy of each needle per layer). max_len 2048 keeps its kernel design quick.
const std::string kDefault = "builtin:oracle";
const std::string kOneKvHead = "builtin:oracle?max_len=2048&heads=prev,local:16/retrieval,local:32&kv_heads=1";

struct Band {
  double mean = 0;           // mean case score, 0..100
  int tokens = 0;            // scored tokens (2 per case: the value is two tokens)
  double keep = 0;           // mean fraction of the context's entries kept per KV head (the budget)
};

// niah_single symbolic cases (`length` tokens, needle at `depth`) through run_case, as sweeps run them.
Band run_band(const std::string& model, const std::string& method, double ratio, bool query_aware,
              const std::string& depth, int length, int n) {
  Oracle& o = Oracle::get(model);
  MethodSpec spec;
  spec.id = method;
  spec.compression_ratio = ratio;
  spec.query_aware = query_aware;
  const TaskParams p{{"form", "symbolic"}, {"length", std::to_string(length)}, {"depth", depth},
                     {"num_samples", std::to_string(n)}};
  const TaskEnv env{o.tok.get(), {}};
  const auto cases = generate_cases("niah_single", p, 0, env);
  Band b;
  for (const Case& c : cases) {
    const CaseResult r = run_case(o.model, c, env, spec);
    b.mean += r.score / double(cases.size());
    b.tokens += 2;
    // kvpress's compute_n_kept: int(n * (1 - ratio)) of the n context entries.
    const double ctx = double(c.meta.extra["context_tokens"].get<int64_t>());
    b.keep += std::floor(ctx * (1 - ratio)) / ctx / double(cases.size());
  }
  std::printf("%s | %s ratio %.1f %s | %d tokens, depth %s | %zu cases: %.1f\n", model.c_str(), method.c_str(), ratio,
              query_aware ? "query-aware" : "query-agnostic", length, depth.c_str(), cases.size(), b.mean);
  return b;
}

// Three binomial standard deviations of a mean over `tokens` scored tokens, in score points.
double three_sigma(double p, int tokens) { return 3 * 100.0 * std::sqrt(p * (1 - p) / tokens); }

TEST(OracleBands, MethodsBehaveAsTheirDesignPredicts) {
  set_num_threads(2);
  // Full attention: every needle at every depth.
  for (const char* depth : {"0", "50", "100"})
    EXPECT_EQ(run_band(kDefault, "full", 0.0, false, depth, 1024, 4).mean, 100.0) << depth;
  // StreamingLLM keeping 10% (4 sinks + the most recent ~98 of ~1020 context tokens): a needle in the
  // middle is gone, one at the end of the context is in the recent window, and one at depth 0 sits in
  // the sinks (BOS, key, first value, second value are entries 0..3).
  EXPECT_LE(run_band(kDefault, "streaming_llm", 0.9, false, "50", 1024, 8).mean, 10.0);
  EXPECT_GE(run_band(kDefault, "streaming_llm", 0.9, false, "100", 1024, 8).mean, 90.0);
  EXPECT_GE(run_band(kDefault, "streaming_llm", 0.9, false, "0", 1024, 8).mean, 90.0);
  // SnapKV sees the question's key in query-aware mode and keeps the needle.
  EXPECT_GE(run_band(kDefault, "snapkv", 0.5, true, "random", 1024, 12).mean, 95.0);
  // Random eviction keeps each entry of each KV head with probability k = int(n (1 - ratio)) / n.
  // With one retrieval head a value token survives with probability k ~ 1 - ratio; the default oracle
  // has two retrieval heads on different KV heads, each carrying half of the read-out code, and either
  // half alone still makes the value the argmax (logit 32; other ids stay below ~3), so a token
  // survives unless both drop it: 1 - (1 - k)^2. 200 cases x 2 tokens (short contexts: the draw does
  // not depend on length) put each band at 3 binomial standard deviations.
  const Band one = run_band(kOneKvHead, "random", 0.9, false, "random", 256, 200);
  std::printf("  one KV head: expected %.1f +- %.1f\n", 100 * one.keep, three_sigma(one.keep, one.tokens));
  EXPECT_NEAR(one.mean, 100 * one.keep, three_sigma(one.keep, one.tokens));
  const Band two = run_band(kDefault, "random", 0.9, false, "random", 256, 200);
  const double p2 = 1 - (1 - two.keep) * (1 - two.keep);
  std::printf("  two KV heads: expected %.1f +- %.1f\n", 100 * p2, three_sigma(p2, two.tokens));
  EXPECT_NEAR(two.mean, 100 * p2, three_sigma(p2, two.tokens));
}

// Swaps a registered method's factory for another's for the lifetime of the object (tests only).
class FactorySwap {
 public:
  // `with`'s factory builds the method, given `with`'s own parameter defaults.
  FactorySwap(const std::string& id, const std::string& with)
      : info_(const_cast<MethodInfo&>(find_method(id))), saved_(info_.make) {
    const MethodInfo* other = &find_method(with);
    info_.make = [other](const MethodContext& ctx) {
      MethodContext c = ctx;
      c.params = resolve_method_params(*other, Params{});
      return other->make(c);
    };
  }
  ~FactorySwap() { info_.make = saved_; }

 private:
  MethodInfo& info_;
  decltype(MethodInfo::make) saved_;
};

void oracle_sweep(const std::filesystem::path& db) {
  const nlohmann::json cfg = nlohmann::json::parse(R"({
    "name": "oracle-gate",
    "models": ["builtin:oracle"],
    "methods": ["full", "snapkv", "streaming_llm"],
    "budgets": {"ratios": [0.5]},
    "tasks": [{"id": "niah_single", "params": {"form": "symbolic", "length": 512}}],
    "cases": 16,
    "mode": ["query_aware"]
  })");
  SweepOptions opt;
  opt.quiet = true;
  ResultsStore store(db);
  run_sweep(parse_sweep_config(cfg, "oracle gate"), store, opt);
}

TEST(OracleGate, ABrokenMethodTripsTheGate) {
  const auto base = test::fresh_db("oracle_gate_base.db");
  const auto same = test::fresh_db("oracle_gate_same.db");
  const auto broken = test::fresh_db("oracle_gate_broken.db");
  oracle_sweep(base);
  oracle_sweep(same);
  {
    FactorySwap swap("snapkv", "random");  // snapkv now evicts at random
    oracle_sweep(broken);
  }
  const std::string args = "gate --no-latency --baseline '" + base.string() + "' --candidate '";
  auto r = test::run_kvbench(args + same.string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("3 configurations compared, 0 regressions"), std::string::npos) << r.output;
  r = test::run_kvbench(args + broken.string() + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("FAIL oracle-"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" snapkv ratio=0.5 query-aware niah_single"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("score 100.0 -> "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 regression,"), std::string::npos) << r.output;
  // The swap is gone: snapkv retrieves again.
  EXPECT_EQ(find_method("snapkv").make ? 1 : 0, 1);
}

}  // namespace
}  // namespace kvb
