// `kvbench gate` and `kvbench baseline` on databases from a real small sweep (tests/test_reports_fixture.h).
// stories260K retrieves almost nothing, so where a test needs outcomes that differ it sets them with SQL
// ("constructed", said at each place); the sweep rerun is real. The oracle self-gate (a real method
// made worse on purpose) is in tests/test_oracle_gate.cpp.
// Run: build/tests/kvb_tests --gtest_filter='Gate*'
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"
#include "eval/sweep_config.h"
#include "reports/gate.h"
#include "test_reports_fixture.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

void sql(const fs::path& db, const std::string& statement) {
  ResultsStore s(db);
  s.exec(statement);
}

std::string config_of(const fs::path& db, const std::string& method, double ratio, const std::string& task) {
  ResultsStore s(db, true);
  Statement q = s.prepare("SELECT config_hash FROM configs WHERE method = ? AND compression_ratio = ? AND task = ?");
  q.bind(1, method).bind(2, ratio).bind(3, task);
  EXPECT_TRUE(q.step()) << method << " " << ratio << " " << task;
  return q.text(0);
}

// Constructed outcomes: the first `right` cases (by case id) of a configuration score 100, the rest 0.
void set_right(const fs::path& db, const std::string& hash, int right) {
  sql(db, "UPDATE samples SET score = 0 WHERE config_hash = '" + hash + "'");
  sql(db, "UPDATE samples SET score = 100 WHERE config_hash = '" + hash +
              "' AND case_id IN (SELECT case_id FROM samples WHERE config_hash = '" + hash +
              "' ORDER BY case_id LIMIT " + std::to_string(right) + ")");
}

std::string gate_args(const fs::path& base, const fs::path& cand, const std::string& extra = "") {
  return "gate --baseline '" + base.string() + "' --candidate '" + cand.string() + "' " + extra;
}

std::string read(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(Gate, IdenticalDatabasesAndARealRerunPass) {
  const auto base = test::copy_of_fixture("gate_base.db");
  const auto same = test::copy_of_fixture("gate_same.db");
  auto r = test::run_kvbench(gate_args(base, same));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("gate: PASS — 10 configurations compared, 0 regressions, 0 missing"), std::string::npos)
      << r.output;

  // A real rerun of the same sweep: the same outcomes, other timings. The suite runs tests in parallel
  // on small machines, so only a gross slowdown may count here.
  const auto rerun = test::fresh_db("gate_rerun.db");
  {
    ResultsStore src(base, true);
    Statement q = src.prepare("SELECT sweep_config FROM runs ORDER BY run_id LIMIT 1");
    ASSERT_TRUE(q.step());
    ResultsStore store(rerun);
    SweepOptions opt;
    opt.quiet = true;
    run_sweep(parse_sweep_config(nlohmann::json::parse(q.text(0)), "rerun"), store, opt);
  }
  r = test::run_kvbench(gate_args(base, rerun, "--max-slowdown 3"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("10 configurations compared, 0 regressions"), std::string::npos) << r.output;
}

TEST(Gate, AnInjectedRegressionFailsWithAReadableSummary) {
  const auto base = test::copy_of_fixture("gate_reg_base.db");
  const auto cand = test::copy_of_fixture("gate_reg_cand.db");
  const std::string hash = config_of(base, "snapkv", 0.5, "niah_single");
  set_right(base, hash, 12);  // constructed: snapkv retrieved every needle in the baseline ...
  set_right(cand, hash, 6);   // ... and half of them in the candidate
  const fs::path junit = test::tmp_dir() / "gate.xml", md = test::tmp_dir() / "gate.md";
  auto r = test::run_kvbench(gate_args(base, cand, "--junit '" + junit.string() + "' --markdown '" + md.string() + "'"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  // McNemar: 6 worse, 0 better: p = 1/64.
  EXPECT_NE(r.output.find("FAIL stories260K.gguf snapkv ratio=0.5 query-agnostic niah_single L=480 seed=0  score 100.0 -> 50.0"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("drop 50.0 > 1, mcnemar p=0.016 < 0.05"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("gate: FAIL — 10 configurations compared, 1 regression,"), std::string::npos) << r.output;
  const std::string xml = read(junit);
  EXPECT_NE(xml.find("<testsuites name=\"kvbench gate\" tests=\"10\" failures=\"1\">"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<failure message=\"score 100.0 -&gt; 50.0"), std::string::npos) << xml;
  const std::string markdown = read(md);
  EXPECT_NE(markdown.find("### kvbench gate: ❌ FAIL"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("| ❌ | stories260K.gguf snapkv ratio=0.5"), std::string::npos) << markdown;

  // A drop within the tolerance passes even when significant; a wider tolerance passes this one.
  r = test::run_kvbench(gate_args(base, cand, "--max-drop 60"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // Errors in the candidate count as failed cases and are named.
  sql(cand, "UPDATE samples SET status = 'error', score = NULL, reason = 'boom: out of range' WHERE config_hash = '" +
                hash + "'");
  r = test::run_kvbench(gate_args(base, cand));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("12 case(s) errored:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("boom: out of range"), std::string::npos) << r.output;
}

TEST(Gate, NoiseAndSmallDropsPass) {
  const auto base = test::copy_of_fixture("gate_noise_base.db");
  const auto cand = test::copy_of_fixture("gate_noise_cand.db");
  const std::string hash = config_of(base, "streaming_llm", 0.5, "niah_multikey");
  // Constructed: the baseline gets cases 0-5 right; the candidate swaps three of them for three others
  // (pure noise: the same mean) ...
  set_right(base, hash, 6);
  sql(cand, "UPDATE samples SET score = CASE WHEN case_id IN (SELECT case_id FROM samples WHERE config_hash = '" + hash +
                "' ORDER BY case_id LIMIT 3 OFFSET 3) THEN 100 ELSE 0 END WHERE config_hash = '" + hash + "'");
  auto r = test::run_kvbench(gate_args(base, cand));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // ... then loses one more: a drop of 8.3 points that one case cannot make significant (p = 0.5 or more).
  set_right(cand, hash, 5);
  r = test::run_kvbench(gate_args(base, cand));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("score 50.0 -> 41.7"), std::string::npos) << r.output;

  // Constructed timings: multiplicative noise of about 10% passes, a 1.6x slowdown fails.
  std::mt19937 rng(7);
  std::lognormal_distribution<double> noise(0.0, 0.1);
  {
    ResultsStore s(cand);
    Statement q = s.prepare("SELECT config_hash, case_id FROM samples");
    std::vector<std::pair<std::string, std::string>> keys;
    while (q.step()) keys.emplace_back(q.text(0), q.text(1));
    for (const auto& [h, id] : keys)
      s.prepare("UPDATE samples SET prefill_seconds = prefill_seconds * ?, decode_seconds = decode_seconds * ? "
                "WHERE config_hash = ? AND case_id = ?")
          .bind(1, noise(rng)).bind(2, noise(rng)).bind(3, h).bind(4, id).run();
  }
  r = test::run_kvbench(gate_args(base, cand));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  sql(cand, "UPDATE samples SET prefill_seconds = prefill_seconds * 1.6, decode_seconds = decode_seconds * 1.6 "
            "WHERE config_hash = '" + hash + "'");
  r = test::run_kvbench(gate_args(base, cand));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("latency x1."), std::string::npos) << r.output;
  r = test::run_kvbench(gate_args(base, cand, "--no-latency"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("latency not compared"), std::string::npos) << r.output;
}

TEST(Gate, MissingConfigurationsAreListed) {
  const auto base = test::copy_of_fixture("gate_missing_base.db");
  const auto cand = test::copy_of_fixture("gate_missing_cand.db");
  const std::string gone = config_of(cand, "snapkv", 0.8, "niah_multikey");
  const std::string added = config_of(base, "streaming_llm", 0.8, "niah_single");
  sql(cand, "DELETE FROM samples WHERE config_hash = '" + gone + "'");
  sql(base, "DELETE FROM samples WHERE config_hash = '" + added + "'");
  auto r = test::run_kvbench(gate_args(base, cand));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("MISSING in candidate: stories260K.gguf snapkv ratio=0.8 query-agnostic niah_multikey L=480 seed=0 (" +
                          gone + ")"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("new in candidate (not gated): stories260K.gguf streaming_llm ratio=0.8"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("1 missing in candidate (fails: --allow-missing to accept)"), std::string::npos) << r.output;
  r = test::run_kvbench(gate_args(base, cand, "--allow-missing"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("MISSING in candidate:"), std::string::npos) << r.output;
}

TEST(Gate, JsonBaselinesKeptInARepository) {
  const auto db = test::copy_of_fixture("gate_json.db");
  const std::string hash = config_of(db, "snapkv", 0.5, "niah_single");
  set_right(db, hash, 12);  // constructed
  const fs::path json = test::tmp_dir() / "baseline.json";
  auto r = test::run_kvbench("baseline '" + db.string() + "' -o '" + json.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("10 configurations"), std::string::npos) << r.output;
  const auto j = nlohmann::json::parse(read(json));
  EXPECT_EQ(j["kvbench_baseline"], 1);
  EXPECT_EQ(j["configs"].size(), 10u);
  EXPECT_FALSE(j["configs"][0].contains("seconds"));  // timings only with --timings
  r = test::run_kvbench(gate_args(json, db));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("latency not compared"), std::string::npos) << r.output;
  set_right(db, hash, 7);
  r = test::run_kvbench(gate_args(json, db));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("score 100.0 -> 58.3"), std::string::npos) << r.output;

  // A hand-written expectation (a mean, no cases): an exact binomial test against it.
  const fs::path expected = test::tmp_dir() / "expected.json";
  std::ofstream(expected) << R"({"kvbench_baseline": 1, "configs": [{"config_hash": ")" << hash
                          << R"(", "label": "snapkv retrieves", "mean_score": 95, "n": 12}]})";
  r = test::run_kvbench(gate_args(expected, db));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("binomial vs expected"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("9 new"), std::string::npos) << r.output;
  set_right(db, hash, 12);
  r = test::run_kvbench(gate_args(expected, db));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(Gate, UnusableInputExitsWith2) {
  const auto db = test::copy_of_fixture("gate_bad.db");
  const fs::path dir = test::tmp_dir();
  std::ofstream(dir / "broken.json") << "{\"kvbench_baseline\": 1, \"configs\": [";
  std::ofstream(dir / "other.json") << R"({"accuracy": 0.9})";
  std::ofstream(dir / "nomatch.json") << R"({"kvbench_baseline": 1, "configs": [{"config_hash": "0000", "mean_score": 1, "n": 1}]})";
  struct Case {
    std::string args, needle;
  } cases[] = {
      {gate_args(dir / "no_such_baseline.db", db), "baseline not found"},
      {gate_args(db, dir / "no_such_candidate.db"), "candidate results database not found"},
      {gate_args(dir / "broken.json", db), "not valid JSON"},
      {gate_args(dir / "other.json", db), "not a kvbench baseline"},
      {gate_args(dir / "nomatch.json", db), "no configuration is in both"},
      {gate_args(db, db, "--alpha 2"), "--alpha must be in (0, 1)"},
      {gate_args(dir / "broken.json", db).substr(0, 5) + " --candidate x.db", "--baseline is required"},
  };
  for (const Case& c : cases) {
    const auto r = test::run_kvbench(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.needle), std::string::npos) << c.args << "\n" << r.output;
  }
}

}  // namespace
}  // namespace kvb
