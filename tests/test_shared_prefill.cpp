// Shared prefill (one prefill per case for every method and budget of a task setting) stores
// exactly what running every row alone stores: scores, predictions, kept entries, resident bytes.
// Real sweeps on stories260K (text cases) and the built-in oracle (symbolic cases) into real SQLite.
// Run: build/tests/kvb_tests --gtest_filter='SharedPrefill*'
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "eval/runner.h"
#include "eval/sweep.h"
#include "model/checkpoint.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// What must not depend on how the prefill was run: per (config hash, case id).
using RowFacts = std::tuple<std::string, std::string, double, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;
std::map<std::pair<std::string, std::string>, RowFacts> row_facts(const fs::path& db) {
  ResultsStore s(db, true);
  Statement q = s.prepare(
      "SELECT config_hash, case_id, status, prediction, COALESCE(score, -1), kept_tokens, kv_resident_bytes, "
      "kv_nominal_bytes, kv_peak_bytes, context_tokens, generated_tokens FROM samples");
  std::map<std::pair<std::string, std::string>, RowFacts> out;
  while (q.step())
    out[{q.text(0), q.text(1)}] = RowFacts{q.text(2),       q.text(3),       q.real(4),       q.integer(5), q.integer(6),
                                           q.integer(7),    q.integer(8),    q.integer(9),    q.integer(10)};
  return out;
}

int64_t scalar(const fs::path& db, const std::string& sql) {
  ResultsStore s(db, true);
  Statement q = s.prepare(sql);
  return q.step() ? q.integer(0) : -1;
}

SweepSummary sweep(const json& cfg, const fs::path& db, bool shared, int64_t max_shared_bytes = int64_t(8) << 30) {
  SweepOptions opt;
  opt.quiet = true;
  opt.shared_prefill = shared;
  opt.max_shared_bytes = max_shared_bytes;
  ResultsStore store(db);
  return run_sweep(parse_sweep_config(cfg, "shared prefill test"), store, opt);
}

// Methods of every family: window scorers (snapkv, pyramidkv per-layer budget), attention mass (h2o),
// query statistics (expected_attention), sinks + recent (streaming_llm), a codec (kivi), a selector
// (quest), key norms, head-adaptive (adakv) and two compositions; three ratios, both modes.
json text_grid() {
  return json::parse(R"({
    "name": "shared-grid",
    "models": [{"path": ")" + test::stories260k().string() + R"(", "chat_template": "none"}],
    "methods": ["full", {"id": "snapkv", "params": {"window": 16}}, {"id": "pyramidkv", "params": {"window": 8}},
                "h2o", "expected_attention", "streaming_llm", "kivi", {"id": "quest", "params": {"page_size": 8}},
                "knorm", {"id": "adakv", "params": {"window": 16}}, "snapkv+kivi", "knorm+quest"],
    "budgets": {"ratios": [0.25, 0.5, 0.75]},
    "tasks": [{"id": "niah_single", "params": {"max_new_tokens": 6}}],
    "lengths": [300],
    "cases": 2,
    "mode": ["query_agnostic", "query_aware"],
    "engine": {"threads": 1}
  })");
}

TEST(SharedPrefill, GridStoresTheSameRowsAsOneByOne) {
  const fs::path shared_db = test::fresh_db("shared_prefill_on.db"), alone_db = test::fresh_db("shared_prefill_off.db");
  const json cfg = text_grid();
  const SweepSummary on = sweep(cfg, shared_db, true);
  const SweepSummary off = sweep(cfg, alone_db, false);
  ASSERT_EQ(on.errors, 0);
  ASSERT_EQ(off.errors, 0);
  // 10 methods x 3 ratios x 2 modes, kivi (no budget) in 2 modes, full once; 2 cases each.
  EXPECT_EQ(on.ran, (10 * 3 * 2 + 2 + 1) * 2);
  EXPECT_EQ(off.ran, on.ran);
  EXPECT_EQ(off.prefills, off.ran);
  EXPECT_EQ(on.prefills, 2 * 2) << "one prefill per case and mode";
  const auto a = row_facts(shared_db), b = row_facts(alone_db);
  ASSERT_EQ(a.size(), size_t(on.ran));
  for (const auto& [key, facts] : b) {
    ASSERT_TRUE(a.count(key)) << key.first << " " << key.second;
    EXPECT_EQ(a.at(key), facts) << "config " << key.first << " case " << key.second;
  }
  // The rows say how they were run.
  EXPECT_EQ(scalar(shared_db, "SELECT COUNT(*) FROM samples WHERE shared_prefill_rows < 2 OR shared_prefill_bytes <= 0"), 0);
  EXPECT_EQ(scalar(alone_db, "SELECT COUNT(*) FROM samples WHERE shared_prefill_rows <> 0 OR shared_prefill_bytes <> 0"), 0);
  // The agnostic group: full + kivi + 10 methods x 3 ratios; the aware one: 31.
  EXPECT_EQ(scalar(shared_db, "SELECT MAX(shared_prefill_rows) FROM samples"), 32);
  EXPECT_EQ(scalar(shared_db, "SELECT MIN(shared_prefill_rows) FROM samples"), 31);
  // A shared prefill's rows decode together (one forward pass per step); one by one, alone.
  EXPECT_EQ(scalar(shared_db, "SELECT COUNT(*) FROM samples WHERE decode_batch_rows <> shared_prefill_rows"), 0);
  EXPECT_EQ(scalar(alone_db, "SELECT COUNT(*) FROM samples WHERE decode_batch_rows <> 1"), 0);
}

// A memory bound below what one shared prefill needs: every row prefills alone, with the same rows;
// a bound that holds a few methods' copies splits the groups.
TEST(SharedPrefill, MemoryBoundSplitsOrDisablesSharing) {
  json cfg = text_grid();
  cfg["methods"] = json::array({"knorm", "h2o", "streaming_llm"});
  cfg["budgets"]["ratios"] = json::array({0.5});
  cfg["mode"] = json::array({"query_agnostic"});
  const fs::path ref_db = test::fresh_db("shared_bound_ref.db"), tiny_db = test::fresh_db("shared_bound_tiny.db");
  const SweepSummary ref = sweep(cfg, ref_db, true);
  EXPECT_EQ(ref.prefills, 2);
  const SweepSummary tiny = sweep(cfg, tiny_db, true, 1);
  EXPECT_EQ(tiny.prefills, tiny.ran);
  EXPECT_EQ(row_facts(ref_db), row_facts(tiny_db));
  // The snapshot holds the full cache and h2o's attention mass [L][Hq][T] (knorm and streaming_llm
  // record nothing). A bound with room for two caches and half that mass: knorm and streaming_llm
  // share a prefill, h2o prefills alone.
  const int64_t snapshot = scalar(ref_db, "SELECT MIN(shared_prefill_bytes) FROM samples");
  const int64_t cache = scalar(ref_db,
                               "SELECT MIN(s.kv_peak_bytes) FROM samples s JOIN configs c USING (config_hash) "
                               "WHERE c.method = 'knorm'");
  ASSERT_GT(cache, 0);
  ASSERT_GT(snapshot, cache);
  const fs::path split_db = test::fresh_db("shared_bound_split.db");
  const SweepSummary split = sweep(cfg, split_db, true, 2 * cache + (snapshot - cache) / 2);
  EXPECT_EQ(split.prefills, 2 * 2);
  EXPECT_EQ(scalar(split_db,
                   "SELECT COUNT(*) FROM samples s JOIN configs c USING (config_hash) WHERE c.method = 'h2o' AND "
                   "s.shared_prefill_rows = 0"),
            2);
  EXPECT_EQ(scalar(split_db, "SELECT COUNT(*) FROM samples WHERE shared_prefill_rows = 2"), 4);
  EXPECT_EQ(row_facts(ref_db), row_facts(split_db));
}

// Resume: a group whose rows are partly stored prefills each case once more for the missing rows
// only, and a stored row is never run again.
TEST(SharedPrefill, ResumedGroupPrefillsOnceForTheMissingRows) {
  json cfg = text_grid();
  cfg["methods"] = json::array({"knorm"});
  cfg["budgets"]["ratios"] = json::array({0.5});
  cfg["mode"] = json::array({"query_agnostic"});
  const fs::path db = test::fresh_db("shared_resume.db"), ref_db = test::fresh_db("shared_resume_ref.db");
  const SweepSummary first = sweep(cfg, db, true);
  EXPECT_EQ(first.ran, 2);
  cfg["methods"] = json::array({"knorm", "h2o", "streaming_llm"});
  const SweepSummary resumed = sweep(cfg, db, true);
  EXPECT_EQ(resumed.already_stored, 2);
  EXPECT_EQ(resumed.ran, 4);
  EXPECT_EQ(resumed.prefills, 2);
  sweep(cfg, ref_db, false);
  EXPECT_EQ(row_facts(db), row_facts(ref_db));
}

// The rows of one shared prefill that run the same budget-independent scorer (snapkv at three ratios,
// adakv wrapping it with the same parameters) score each layer once; a scorer whose scores depend on
// the budget (streaming_llm) never reads the memo. The kept entries are those of each row's own prefill.
TEST(SharedPrefill, ScorersScoreEachLayerOncePerPrefill) {
  const Checkpoint ck = load_checkpoint(test::stories260k());
  Transformer model(ck.config, ck.weights);
  std::vector<int32_t> context = {1};
  for (int i = 1; i < 200; ++i) context.push_back(int32_t(3 + (i * 37) % 500));
  auto spec = [](const std::string& id, double ratio) {
    MethodSpec m;
    m.id = id;
    m.compression_ratio = ratio;
    m.params.set("window", "16");
    return m;
  };
  const std::vector<MethodSpec> specs = {spec("snapkv", 0.25), spec("snapkv", 0.5), spec("adakv", 0.5),
                                         spec("snapkv", 0.75)};
  std::vector<PrefillNeeds> needs;
  for (const MethodSpec& m : specs) needs.push_back(make_method(m, ck.config)->prefill_needs());
  MethodSpec streaming;
  streaming.id = "streaming_llm";
  streaming.compression_ratio = 0.5;
  const RecordedPrefill shared = record_prefill(model, context, needs, false);
  CaseResult stats;
  prefill_with_method(model, streaming, context, {}, 0, stats, &shared);
  EXPECT_EQ(shared.recorder->memoized_scores(), 0u);
  const int L = ck.config.n_layers;
  for (size_t i = 0; i < specs.size(); ++i) {
    CaseResult from_shared, alone;
    const CompressedPrefill a = prefill_with_method(model, specs[i], context, {}, 0, from_shared, &shared);
    EXPECT_EQ(shared.recorder->memoized_scores(), size_t(L)) << "row " << i << " scored again";
    const CompressedPrefill b = prefill_with_method(model, specs[i], context, {}, 0, alone);
    for (int l = 0; l < L; ++l)
      for (int h = 0; h < ck.config.n_kv_heads; ++h)
        ASSERT_EQ(a.cache.head(l, h).positions(), b.cache.head(l, h).positions()) << specs[i].id << " " << l << " " << h;
  }
}

// Symbolic cases on the built-in oracle (query-aware: the first target is scored from the shared
// prefill's logits).
TEST(SharedPrefill, OracleSymbolicCasesStoreTheSameRows) {
  const json cfg = json::parse(R"({
    "name": "shared-oracle",
    "models": ["builtin:oracle"],
    "methods": ["full", "snapkv", "streaming_llm", "h2o", "kivi", "snapkv+quest"],
    "budgets": {"ratios": [0.25, 0.75]},
    "tasks": [{"id": "niah_single", "params": {"form": "symbolic", "length": 256}}],
    "cases": 3,
    "mode": ["query_agnostic", "query_aware"],
    "engine": {"threads": 1}
  })");
  const fs::path on_db = test::fresh_db("shared_oracle_on.db"), off_db = test::fresh_db("shared_oracle_off.db");
  const SweepSummary on = sweep(cfg, on_db, true);
  const SweepSummary off = sweep(cfg, off_db, false);
  ASSERT_EQ(on.errors, 0);
  EXPECT_EQ(on.prefills, 3 * 2);
  EXPECT_EQ(off.prefills, off.ran);
  EXPECT_EQ(row_facts(on_db), row_facts(off_db));
}

// `kvbench eval` with several methods and ratios: one line per configuration, one prefill per case,
// the same scores as with --no-shared-prefill; the dry run counts rows and prefills.
TEST(SharedPrefill, EvalWithSeveralMethodsAndRatiosAndTheDryRun) {
  const std::string base = "eval --model '" + test::stories260k().string() +
                           "' --chat-template none --task niah_single --length 300 --n 2 -t 1 "
                           "--method snapkv,knorm --method h2o --ratio 0.25,0.5 --param window=8 --param max_new_tokens=6";
  const auto shared = test::run_kvbench(base);
  ASSERT_EQ(shared.exit_code, 0) << shared.output;
  EXPECT_NE(shared.output.find("6 configurations from 2 prefills"), std::string::npos) << shared.output;
  const auto alone = test::run_kvbench(base + " --no-shared-prefill");
  ASSERT_EQ(alone.exit_code, 0) << alone.output;
  EXPECT_NE(alone.output.find("6 configurations from 12 prefills"), std::string::npos) << alone.output;
  for (const char* line : {"method snapkv ratio 0.25 | 2 cases", "method knorm ratio 0.5 | 2 cases",
                           "method h2o ratio 0.25 | 2 cases"}) {
    EXPECT_NE(shared.output.find(line), std::string::npos) << line << "\n" << shared.output;
  }
  // The score lines (everything before the timing) agree.
  auto scores = [](const std::string& out) {
    std::vector<std::string> lines;
    std::stringstream ss(out);
    for (std::string l; std::getline(ss, l);)
      if (l.find(" | score ") != std::string::npos) lines.push_back(l.substr(0, l.find(") | ") + 1));
    return lines;
  };
  EXPECT_EQ(scores(shared.output), scores(alone.output));
  EXPECT_EQ(scores(shared.output).size(), 6u);
  // kivi alone takes no budget: an explicit --ratio is refused, not ignored; next to snapkv it runs once.
  const std::string kivi = "eval --model '" + test::stories260k().string() +
                           "' --chat-template none --task niah_single --length 300 --n 1 -t 1 --param max_new_tokens=4 ";
  const auto kivi_ratio = test::run_kvbench(kivi + "--method kivi --ratio 0.5");
  EXPECT_EQ(kivi_ratio.exit_code, 2) << kivi_ratio.output;
  EXPECT_NE(kivi_ratio.output.find("takes no budget"), std::string::npos) << kivi_ratio.output;
  const auto kivi_grid = test::run_kvbench(kivi + "--method snapkv,kivi --ratio 0.25,0.5 --param window=8");
  EXPECT_EQ(kivi_grid.exit_code, 0) << kivi_grid.output;
  EXPECT_NE(kivi_grid.output.find("3 configurations from 1 prefill ("), std::string::npos) << kivi_grid.output;
  const auto one_at_a_time = test::run_kvbench(base + " --decode-batch 1");
  ASSERT_EQ(one_at_a_time.exit_code, 0) << one_at_a_time.output;
  EXPECT_EQ(scores(one_at_a_time.output), scores(shared.output));
  const auto no_batch = test::run_kvbench(base + " --decode-batch 0");
  EXPECT_EQ(no_batch.exit_code, 2) << no_batch.output;
  EXPECT_NE(no_batch.output.find("--decode-batch"), std::string::npos) << no_batch.output;
  const auto bad = test::run_kvbench(base + " --max-shared-bytes lots");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("--max-shared-bytes 'lots'"), std::string::npos) << bad.output;

  const fs::path cfg = test::tmp_dir() / "shared_dry_run.json";
  json grid = text_grid();
  std::ofstream(cfg) << grid.dump();
  const auto dry = test::run_kvbench("sweep '" + cfg.string() + "' --dry-run");
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find("to run: 126 rows from 4 prefills (shared prefill"), std::string::npos) << dry.output;
  const auto dry_alone = test::run_kvbench("sweep '" + cfg.string() + "' --dry-run --no-shared-prefill");
  EXPECT_NE(dry_alone.output.find("to run: 126 rows from 126 prefills\n"), std::string::npos) << dry_alone.output;
}

}  // namespace
}  // namespace kvb
