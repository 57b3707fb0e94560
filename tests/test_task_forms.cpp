// A task's form follows the model (eval/task.h apply_model_form, task_model_mismatch): on the recall
// oracle every task with a symbolic form takes it by itself (recorded in the configuration's task
// parameters, vocab_size following the oracle's), and a task/model pair that cannot work is one
// `error:` line (exit 2) saying what to pass instead. Run: kvb_tests --gtest_filter='TaskForms*'.
#include <gtest/gtest.h>

#include <fstream>

#include "store/results_store.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

// kvbench with builtin:oracle checkpoints cached under the test's temporary directory.
test::CommandResult oracle_kvbench(const std::string& args) {
  return test::run_kvbench_env("KVB_CACHE_DIR='" + (test::tmp_dir() / "task_forms_cache").string() + "'", args);
}

int lines(const std::string& s) { return int(std::count(s.begin(), s.end(), '\n')); }

TEST(TaskForms, OracleTakesTheSymbolicFormByItself) {
  auto r = oracle_kvbench("eval --model builtin:oracle --task niah_single --length 1024 --n 5 -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("niah_single v1 form=symbolic | model "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| 5 cases | score 100.0"), std::string::npos) << r.output;
  // A smaller oracle vocabulary: the task's ids follow it (else they fall outside the model's vocabulary).
  r = oracle_kvbench("eval --model 'builtin:oracle?vocab=1024&max_len=2048' --task mqar --n 3 -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("mqar v1 form=symbolic"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("errors"), std::string::npos) << r.output;

  // Stored: the configuration's task parameters say form=symbolic; rows carry per-hop detail.
  const fs::path db = test::fresh_db("task_forms_run");
  r = oracle_kvbench("run --model builtin:oracle --task needle_threading --length 1024 --n 2 -q --db '" +
                     db.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ResultsStore store(db, true);
  Statement q = store.prepare("SELECT c.task_params, s.case_meta, s.score FROM samples s JOIN configs c USING (config_hash)");
  int rows = 0;
  while (q.step()) {
    ++rows;
    const auto params = nlohmann::json::parse(q.text(0));
    EXPECT_EQ(params["form"], "symbolic");
    EXPECT_EQ(params["vocab_size"], "8192");
    const auto meta = nlohmann::json::parse(q.text(1));
    EXPECT_EQ(meta["score_detail"]["hops"], (nlohmann::json{1, 1, 1})) << q.text(1);
    EXPECT_DOUBLE_EQ(q.real(2), 100.0);
  }
  EXPECT_EQ(rows, 2);
}

TEST(TaskForms, MismatchesSayWhatToPass) {
  // A task without a symbolic form on the oracle.
  auto r = oracle_kvbench("eval --model builtin:oracle --task vt --length 1024 --n 1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(lines(r.output), 1) << r.output;
  EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("task 'vt' has no symbolic form"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--model SmolLM2-135M-Instruct.Q4_1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("needle_threading"), std::string::npos) << r.output;
  // The text form asked for on the oracle.
  r = oracle_kvbench("eval --model builtin:oracle --task niah_single --param form=text --length 1024 --n 1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("drop --param form=text"), std::string::npos) << r.output;
  // The symbolic form asked for on a language model.
  r = test::run_kvbench("eval --model '" + test::stories260k().string() +
                        "' --task niah_multikey --param form=symbolic --length 400 --n 1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("drop --param form=symbolic for this model, or run the symbolic form with --model "
                          "builtin:oracle"),
            std::string::npos)
      << r.output;
  // A sweep config names its own keys.
  const fs::path cfg = test::tmp_dir() / "task_forms_sweep.yaml";
  std::ofstream(cfg) << "models: [builtin:oracle]\nmethods: [full]\ntasks:\n  - {id: niah_single, params: {form: text}}\n"
                        "  - cwe\nlengths: [512]\ncases: 1\n";
  r = oracle_kvbench("sweep '" + cfg.string() + "' --db '" + test::fresh_db("task_forms_sweep").string() +
                     "' --dry-run");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("drop params: {form: text}"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("task 'cwe' has no symbolic form"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("models: [SmolLM2-135M-Instruct.Q4_1]"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace kvb
