// Method behaviour a reader can predict on the recall oracle (full attention retrieves everything, so a
// lost point is a dropped token), run through the same run_case path as sweeps; and kvbench gating
// itself: a method broken on purpose (snapkv's factory swapped for random's, same id and version, so
// the same configuration hash) trips `kvbench gate` against a clean run of the same sweep.
// Run: build/tests/kvb_tests --gtest_filter='OracleBands*:OracleGate*'
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

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

struct Oracle {
  Checkpoint ck = load_checkpoint(resolve_model_path("builtin:oracle"));
  std::unique_ptr<Tokenizer> tok = make_tokenizer(ck.tokenizer);
  Transformer model{ck.config, ck.weights};
  static Oracle& get() {
    static Oracle o;
    return o;
  }
};

// Mean score of `n` niah_single symbolic cases (2K tokens, needle at `depth`) under a method.
double mean_score(const std::string& method, double ratio, bool query_aware, const std::string& depth, int n) {
  Oracle& o = Oracle::get();
  MethodSpec spec;
  spec.id = method;
  spec.compression_ratio = ratio;
  spec.query_aware = query_aware;
  const TaskParams p{{"form", "symbolic"}, {"length", "2048"}, {"depth", depth}, {"num_samples", std::to_string(n)}};
  double sum = 0;
  const auto cases = generate_cases("niah_single", p, 0, TaskEnv{o.tok.get(), {}});
  for (const Case& c : cases) sum += run_case(o.model, c, TaskEnv{o.tok.get(), {}}, spec).score;
  const double mean = sum / double(cases.size());
  std::printf("%s ratio %.1f %s depth %s: %.1f\n", method.c_str(), ratio, query_aware ? "query-aware" : "query-agnostic",
              depth.c_str(), mean);
  return mean;
}

TEST(OracleBands, MethodsBehaveAsTheirDesignPredicts) {
  set_num_threads(2);
  // Full attention: every needle at every depth.
  for (const char* depth : {"0", "50", "100"}) EXPECT_EQ(mean_score("full", 0.0, false, depth, 4), 100.0) << depth;
  // StreamingLLM keeping ~10% (4 sinks + the most recent ~200 of 2048 tokens): a needle in the middle
  // is gone, one at the end of the context is in the window.
  EXPECT_LE(mean_score("streaming_llm", 0.9, false, "50", 8), 10.0);
  EXPECT_GE(mean_score("streaming_llm", 0.9, false, "100", 8), 90.0);
  // SnapKV sees the question's key in query-aware mode and keeps the needle.
  EXPECT_GE(mean_score("snapkv", 0.5, true, "random", 16), 95.0);
  // Random eviction keeps each entry with probability 1 - ratio, so each answer token survives with
  // about that probability: 40 cases x 2 scored tokens, a band of 3 binomial standard deviations.
  // (At ratio 0.5 the score is nearer 1 - 0.5^2: the two retrieval heads sit on different KV heads,
  // and either one's copy of the value suffices; at 0.9 that effect is small.)
  const double r9 = mean_score("random", 0.9, false, "random", 40);
  EXPECT_NEAR(r9, 10.0, 3 * 100.0 * std::sqrt(0.1 * 0.9 / 80));
}

// Swaps a registered method's factory for another's for the lifetime of the object (tests only).
class FactorySwap {
 public:
  FactorySwap(const std::string& id, const std::string& with)
      : info_(const_cast<MethodInfo&>(find_method(id))), saved_(info_.make) {
    info_.make = find_method(with).make;
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
    "tasks": [{"id": "niah_single", "params": {"form": "symbolic", "length": 1024}}],
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
