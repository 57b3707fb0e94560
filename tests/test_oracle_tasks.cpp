// The recall oracle on symbolic tasks with full attention (tasks/niah_symbolic.cpp, mqar
// form=symbolic, eval/symbolic_runner.h): >= 99% label accuracy on NIAH single / multikey /
// multiquery / multivalue (top-k) and MQAR with 64 pairs at 1K and 4K tokens, every depth.
// Run: build/tests/kvb_tests --gtest_filter='Oracle*Tasks*'. 16K/32K: scripts/bench/oracle_long.sh (docs/oracle.md).
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/threads.h"
#include "eval/symbolic_runner.h"
#include "eval/task.h"
#include "model/checkpoint.h"
#include "model/oracle.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

// The default oracle (vocab 8192, max_len 32768), written once per test binary.
struct DefaultOracle {
  Checkpoint ck;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Transformer> model;
  static DefaultOracle& get() {
    static DefaultOracle o = [] {
      // One directory per process: ctest runs the 1K and 4K tests at once, in separate processes.
      const fs::path dir = test::tmp_dir() / ("oracle_default_" + std::to_string(getpid()));
      fs::remove_all(dir);
      write_oracle_checkpoint(OracleOptions{}, dir);
      DefaultOracle d;
      d.ck = load_checkpoint(dir);
      d.tok = make_tokenizer(d.ck.tokenizer);
      return d;
    }();
    if (!o.model) o.model = std::make_unique<Transformer>(o.ck.config, o.ck.weights);
    return o;
  }
};

TEST(OracleTasks, SymbolicNiahCaseLayout) {
  TaskParams p{{"form", "symbolic"}, {"length", "500"}, {"num_samples", "3"}, {"num_keys", "3"}};
  auto a = generate_cases("niah_multikey", p, 5, TaskEnv{});
  auto b = generate_cases("niah_multikey", p, 5, TaskEnv{});
  EXPECT_EQ(hash_cases(a), hash_cases(b));
  EXPECT_NE(hash_cases(a), hash_cases(generate_cases("niah_multikey", p, 6, TaskEnv{})));
  for (const Case& c : a) {
    ASSERT_EQ(c.input_ids.size(), 500u);
    ASSERT_EQ(c.labels.size(), 500u);
    EXPECT_EQ(c.input_ids[0], oracle_vocab::kBos);
    const int64_t ctx = c.meta.extra["context_tokens"].get<int64_t>();
    EXPECT_EQ(c.input_ids[size_t(ctx)], oracle_vocab::kSep);
    ASSERT_EQ(c.meta.needle_tokens.size(), 3u);
    // The queried key's needle is in the context and its value follows it.
    const int32_t key = c.input_ids[size_t(ctx) + 1];
    const int32_t value = c.labels[size_t(ctx) + 1];
    bool found = false;
    for (int i : c.meta.needle_tokens) found |= c.input_ids[size_t(i)] == key && c.input_ids[size_t(i) + 1] == value;
    EXPECT_TRUE(found) << c.id;
    EXPECT_EQ(c.answers.size(), 1u);
    EXPECT_EQ(c.max_new_tokens, 2);  // value_type=number: two-token values
  }
  // Multi-value: one label set of k first tokens at the key.
  auto mv = generate_cases("niah_multivalue", {{"form", "symbolic"}, {"length", "300"}, {"num_samples", "1"}}, 1,
                           TaskEnv{});
  ASSERT_EQ(mv[0].meta.extra["label_sets"].size(), 1u);
  EXPECT_EQ(mv[0].meta.extra["label_sets"][0]["ids"].size(), 4u);
  EXPECT_THROW(generate_cases("niah_single", {{"form", "symbolic"}, {"length", "3"}}, 1, TaskEnv{}), Error);
  EXPECT_THROW(generate_cases("niah_single", {{"form", "pictures"}}, 1, TaskEnv{}), Error);
}

struct Accuracy {
  int hits = 0, targets = 0;
  double percent() const { return targets ? 100.0 * hits / targets : 0.0; }
};

Accuracy run_task(const std::string& task, TaskParams p) {
  set_num_threads(1);
  DefaultOracle& o = DefaultOracle::get();
  Accuracy acc;
  for (const Case& c : generate_cases(task, p, 7, TaskEnv{o.tok.get(), {}})) {
    SymbolicRun r = run_symbolic_case(*o.model, c, o.tok.get());
    acc.hits += r.result.hits;
    acc.targets += r.result.targets;
  }
  std::string what = task + " " + p.get_string("length", p.get_string("seq_len", "?"));
  if (task != "mqar") what += " depth " + p.get_string("depth", "random");
  if (p.has("num_queries")) what += " queries " + p.get_string("num_queries");
  std::printf("%s: %d/%d = %.2f%%\n", what.c_str(), acc.hits, acc.targets, acc.percent());
  return acc;
}

class OracleTasksAtLength : public ::testing::TestWithParam<int> {};

TEST_P(OracleTasksAtLength, FullAttentionRetrievesEveryNeedle) {
  const std::string len = std::to_string(GetParam());
  const bool long_ctx = GetParam() > 2000;
  auto n = [&](int short_n, int long_n) { return std::to_string(long_ctx ? long_n : short_n); };
  const std::vector<std::pair<std::string, TaskParams>> runs = {
      {"niah_single", {{"form", "symbolic"}, {"length", len}, {"num_samples", n(10, 3)}}},
      {"niah_multikey", {{"form", "symbolic"}, {"length", len}, {"num_samples", n(6, 2)}}},
      {"niah_multikey", {{"form", "symbolic"}, {"length", len}, {"num_samples", n(3, 1)}, {"haystack", "needle"}}},
      {"niah_multiquery", {{"form", "symbolic"}, {"length", len}, {"num_samples", n(4, 1)}}},
      // Every depth: 40 queried needles at the 40 depth levels 0, 2.6, .., 100% of one context; and
      // single needles at the very start and end.
      {"niah_multiquery", {{"form", "symbolic"}, {"length", len}, {"num_samples", "1"}, {"num_queries", "40"}}},
      {"niah_single", {{"form", "symbolic"}, {"length", len}, {"num_samples", "2"}, {"depth", "0"}}},
      {"niah_single", {{"form", "symbolic"}, {"length", len}, {"num_samples", "2"}, {"depth", "100"}}},
      {"niah_multivalue", {{"form", "symbolic"}, {"length", len}, {"num_samples", n(4, 1)}}},
      {"mqar", {{"form", "symbolic"}, {"seq_len", len}, {"num_kv_pairs", "64"}, {"random_non_queries", "false"},
                {"num_samples", "1"}}},
  };
  for (const auto& [task, params] : runs) {
    Accuracy a = run_task(task, params);
    EXPECT_GE(a.targets, 2) << task;
    EXPECT_GE(a.percent(), 99.0) << task << " at " << len << " tokens";
  }
}

INSTANTIATE_TEST_SUITE_P(OracleLengths, OracleTasksAtLength, ::testing::Values(1024, 4096));

}  // namespace
}  // namespace kvb
