// Multi-question mode: a context asked several questions (questions_per_context / --questions, or a
// kvpress_jsonl row with a list of questions) is prefilled once; each question runs on its own copy
// of the compressed cache and is stored as its own row, linked to the others by samples.context_id,
// and the HTML report groups them. Real sweeps on stories260K into real SQLite.
// Run: build/tests/kvb_tests --gtest_filter='MultiQuestion*'
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include "eval/prompt.h"
#include "eval/runner.h"
#include "eval/sweep.h"
#include "model/checkpoint.h"
#include "reports/html_report.h"
#include "reports/results_data.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const Tokenizer& smollm2() {
  static const std::unique_ptr<Tokenizer> tok = make_tokenizer(
      load_hf_tokenizer(test::shared_dir() / "models/smollm2-135m-hf/tokenizer.json").spec);
  return *tok;
}

// Every case of a context: same context text and id, distinct questions and answers, ids <context>/q<j>.
void expect_linked(const std::vector<Case>& cases, size_t contexts, size_t questions) {
  ASSERT_EQ(cases.size(), contexts * questions);
  for (size_t k = 0; k < contexts; ++k) {
    std::set<std::string> asked, answers;
    for (size_t j = 0; j < questions; ++j) {
      const Case& c = cases[k * questions + j];
      const Case& first = cases[k * questions];
      SCOPED_TRACE(c.id);
      EXPECT_FALSE(c.context_id.empty());
      EXPECT_EQ(c.context_id, first.context_id);
      EXPECT_EQ(c.id, c.context_id + "/q" + std::to_string(j));
      EXPECT_EQ(c.context, first.context);
      EXPECT_TRUE(asked.insert(c.question).second) << "question asked twice";
      for (const std::string& a : c.answers) {
        EXPECT_NE(c.context.find(a), std::string::npos) << a << " is not in the context";
        answers.insert(a);
      }
      if (c.meta.target_length > 0) EXPECT_LE(c.meta.token_length + c.max_new_tokens, c.meta.target_length);
    }
    if (k > 0) EXPECT_NE(cases[k * questions].context_id, cases[(k - 1) * questions].context_id);
  }
}

TEST(MultiQuestionTasks, ContextsAskSeveralQuestions) {
  const TaskEnv env{&smollm2(), {}};
  const TaskParams fitted{{"length", "900"}, {"num_samples", "2"}, {"haystack", "noise"}};
  const std::vector<std::pair<std::string, TaskParams>> tasks = {
      {"niah_multikey", fitted}, {"niah_multivalue", fitted}, {"niah_multiquery", fitted}, {"vt", fitted},
      {"qa", {{"length", "900"}, {"num_samples", "2"}}}, {"mqar", {{"num_samples", "2"}, {"num_kv_pairs", "6"}}}};
  for (const auto& [task, base] : tasks) {
    SCOPED_TRACE(task);
    TaskParams three = base;
    three.set("questions_per_context", "3");
    const auto cases = generate_cases(task, three, 5, env);
    expect_linked(cases, 2, 3);
    // One question per context: the cases of before (same hash, no context id).
    TaskParams one = base;
    one.set("questions_per_context", "1");
    const auto single = generate_cases(task, one, 5, env);
    EXPECT_EQ(hash_cases(single), hash_cases(generate_cases(task, base, 5, env)));
    for (const Case& c : single) EXPECT_TRUE(c.context_id.empty());
  }
  // niah_multiquery: each question asks its own num_queries keys.
  const auto mq = generate_cases("niah_multiquery", {{"length", "900"}, {"num_samples", "1"}, {"haystack", "noise"},
                                                     {"num_queries", "2"}, {"questions_per_context", "2"}},
                                 5, env);
  ASSERT_EQ(mq.size(), 2u);
  EXPECT_EQ(mq[0].answers.size(), 2u);
  EXPECT_EQ(mq[0].meta.extra["queried_keys"].size(), 2u);
  EXPECT_NE(mq[0].meta.extra["queried_keys"], mq[1].meta.extra["queried_keys"]);
  EXPECT_EQ(mq[0].meta.extra["keys"].size(), 4u);
  // Bad values and tasks without the mode.
  EXPECT_THROW(generate_cases("vt", {{"questions_per_context", "0"}}, 5, env), Error);
  EXPECT_THROW(generate_cases("niah_single", {{"questions_per_context", "2"}}, 5, env), Error);
  EXPECT_THROW(generate_cases("niah_multikey", {{"questions_per_context", "2"}, {"form", "symbolic"}}, 5, env), Error);
  EXPECT_THROW(generate_cases("mqar", {{"questions_per_context", "5"}}, 5, env), Error);  // 4 pairs
  EXPECT_THROW(generate_cases("qa", {{"questions_per_context", "7"}}, 5, env), Error);    // 6 facts a profile
}

TEST(MultiQuestionTasks, KvpressRowsWithAListOfQuestions) {
  const TaskEnv env{&smollm2(), {}};
  const fs::path file = test::tmp_dir() / "multi_question_rows.jsonl";
  std::ofstream(file) << R"({"context": "Ana keeps bees. Ben keeps goats.", "question": [" Who keeps bees?", " Who keeps goats?"], "answer_prefix": " Answer:", "answer": ["Ana", ["Ben", "Benjamin"]], "max_new_tokens": 4})"
                      << "\n"
                      << R"({"context": "The kiosk is green.", "question": " What colour is the kiosk?", "answer": "green", "max_new_tokens": 4})"
                      << "\n";
  const auto cases = generate_cases("kvpress_jsonl", {{"file", file.string()}}, 0, env);
  ASSERT_EQ(cases.size(), 3u);
  EXPECT_EQ(cases[0].id, "kvpress_jsonl/0/q0");
  EXPECT_EQ(cases[1].id, "kvpress_jsonl/0/q1");
  EXPECT_EQ(cases[0].context_id, "kvpress_jsonl/0");
  EXPECT_EQ(cases[1].context_id, "kvpress_jsonl/0");
  EXPECT_EQ(cases[1].question, " Who keeps goats?");
  EXPECT_EQ(cases[1].answers, (std::vector<std::string>{"Ben", "Benjamin"}));
  EXPECT_EQ(cases[1].answer_prefix, " Answer:");
  EXPECT_EQ(cases[2].id, "kvpress_jsonl/1");
  EXPECT_TRUE(cases[2].context_id.empty());
  // A list of questions needs one answer per question.
  const fs::path bad = test::tmp_dir() / "multi_question_bad.jsonl";
  std::ofstream(bad) << R"({"context": "x", "question": ["a?", "b?"], "answer": ["1"], "max_new_tokens": 4})" << "\n";
  try {
    generate_cases("kvpress_jsonl", {{"file", bad.string()}}, 0, env);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad.string() + ":1: field 'question' is a list of 2"), std::string::npos)
        << e.what();
  }
}

// Per (config hash, case id): what must not depend on whether the context was prefilled once.
using RowFacts = std::tuple<std::string, std::string, double, int64_t, int64_t, int64_t, std::string>;
std::map<std::pair<std::string, std::string>, RowFacts> row_facts(const fs::path& db) {
  ResultsStore s(db, true);
  Statement q = s.prepare(
      "SELECT config_hash, case_id, status, prediction, COALESCE(score, -1), kept_tokens, kv_resident_bytes, "
      "generated_tokens, context_id FROM samples");
  std::map<std::pair<std::string, std::string>, RowFacts> out;
  while (q.step())
    out[{q.text(0), q.text(1)}] = RowFacts{q.text(2), q.text(3), q.real(4), q.integer(5), q.integer(6), q.integer(7),
                                           q.text(8)};
  return out;
}

int64_t scalar(const fs::path& db, const std::string& sql) {
  ResultsStore s(db, true);
  Statement q = s.prepare(sql);
  return q.step() ? q.integer(0) : -1;
}

json grid(const json& methods, const std::string& mode) {
  return json{{"name", "multi-question"},
              {"models", json::array({{{"path", test::stories260k().string()}, {"chat_template", "none"}}})},
              {"methods", methods},
              {"budgets", {{"ratios", json::array({0.5})}}},
              {"tasks", json::array({{{"id", "niah_multikey"},
                                      {"params", {{"max_new_tokens", 6}, {"haystack", "noise"}}}}})},
              {"lengths", json::array({400})},
              {"cases", 2},
              {"questions_per_context", 3},
              {"mode", mode},
              {"engine", {{"threads", 1}}}};
}

SweepSummary sweep(const json& cfg, const fs::path& db, bool shared) {
  SweepOptions opt;
  opt.quiet = true;
  opt.shared_prefill = shared;
  ResultsStore store(db);
  return run_sweep(parse_sweep_config(cfg, "multi-question test"), store, opt);
}

// Several methods (one prefill group) and one method alone: the context is prefilled once for all
// its questions and methods; every row is what a separate single-question run stores.
TEST(MultiQuestionSweep, ContextPrefilledOnceRowsAsIfAlone) {
  const json methods = json::array({"full", {{"id", "snapkv"}, {"params", {{"window", 8}}}}, "knorm", "streaming_llm",
                                    "h2o"});
  for (const json& m : {methods, json::array({{{"id", "snapkv"}, {"params", {{"window", 8}}}}})}) {
    SCOPED_TRACE(m.dump());
    const fs::path on_db = test::fresh_db("multi_question_on.db"), off_db = test::fresh_db("multi_question_off.db");
    const SweepSummary on = sweep(grid(m, "query_agnostic"), on_db, true);
    const SweepSummary off = sweep(grid(m, "query_agnostic"), off_db, false);
    ASSERT_EQ(on.errors, 0);
    ASSERT_EQ(off.errors, 0);
    const int64_t rows = int64_t(m.size()) * 2 * 3;
    EXPECT_EQ(on.ran, rows);
    EXPECT_EQ(off.ran, rows);
    EXPECT_EQ(on.prefills, 2) << "one prefill per context";
    EXPECT_EQ(off.prefills, rows) << "every question alone";
    const auto a = row_facts(on_db), b = row_facts(off_db);
    ASSERT_EQ(a.size(), size_t(rows));
    EXPECT_EQ(a, b);
    // Rows are linked: 2 contexts, 3 questions each per configuration; the prefill's rows say so.
    EXPECT_EQ(scalar(on_db, "SELECT COUNT(DISTINCT context_id) FROM samples"), 2);
    EXPECT_EQ(scalar(on_db, "SELECT COUNT(*) FROM samples WHERE context_id = '' OR case_id NOT LIKE context_id || '/q%'"),
              0);
    EXPECT_EQ(scalar(on_db, "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM samples GROUP BY config_hash, context_id)"),
              3);
    EXPECT_EQ(scalar(on_db, "SELECT COUNT(*) FROM samples WHERE shared_prefill_rows <> " + std::to_string(3 * m.size())),
              0);
    EXPECT_EQ(scalar(off_db, "SELECT COUNT(*) FROM samples WHERE shared_prefill_rows <> 0"), 0);
  }
}

// Query-aware: the question is part of what is compressed, so each question prefills its own prompt.
TEST(MultiQuestionSweep, QueryAwareQuestionsPrefillAlone) {
  const json m = json::array({{{"id", "snapkv"}, {"params", {{"window", 8}}}}});
  const fs::path db = test::fresh_db("multi_question_aware.db");
  const SweepSummary s = sweep(grid(m, "query_aware"), db, true);
  ASSERT_EQ(s.errors, 0);
  EXPECT_EQ(s.ran, 6);
  EXPECT_EQ(s.prefills, 6);
  EXPECT_EQ(scalar(db, "SELECT COUNT(DISTINCT context_id) FROM samples"), 2);
}

// The runner's own steps: one recorded prefill of the context; each question's compressed copy
// decodes exactly what run_case gives for that question alone (tokens, text, kept entries).
TEST(MultiQuestionRunner, EachQuestionOnItsCopyEqualsItsOwnRun) {
  const Checkpoint ck = load_checkpoint(test::stories260k());
  Transformer model(ck.config, ck.weights);
  auto tok = make_tokenizer(ck.tokenizer);
  const TaskEnv env{tok.get(), {}};
  const auto cases = generate_cases("niah_multikey", {{"length", "400"}, {"num_samples", "1"}, {"haystack", "noise"},
                                                      {"max_new_tokens", "6"}, {"questions_per_context", "3"}},
                                    0, env);
  ASSERT_EQ(cases.size(), 3u);
  MethodSpec spec;
  spec.id = "h2o";
  spec.compression_ratio = 0.5;
  const PrefillNeeds needs = make_method(spec, ck.config)->prefill_needs();
  const RecordedPrefill shared = record_prefill(model, compressed_part(cases[0], env, ck.config, false),
                                                std::span<const PrefillNeeds>(&needs, 1), false);
  std::set<std::string> predictions;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.id);
    EXPECT_EQ(compressed_part(c, env, ck.config, false), shared.tokens) << "the questions share the context part";
    const CaseResult a = run_case(model, c, env, spec, &shared);
    const CaseResult b = run_case(model, c, env, spec);
    EXPECT_EQ(a.prediction, b.prediction);
    EXPECT_EQ(a.score, b.score);
    EXPECT_EQ(a.kept_tokens, b.kept_tokens);
    EXPECT_EQ(a.kv_resident_bytes, b.kv_resident_bytes);
    EXPECT_EQ(a.generated_tokens, b.generated_tokens);
    predictions.insert(a.prediction);
  }
}

// `kvbench eval --questions N`, the sweep key's checks, and the report's shared-context section.
TEST(MultiQuestionCli, EvalFlagConfigKeyAndReport) {
  const std::string base = "eval --model '" + test::stories260k().string() +
                           "' --chat-template none --task niah_multikey --length 400 --n 2 -t 1 --param haystack=noise "
                           "--param max_new_tokens=6 --method snapkv,knorm --ratio 0.5 --param window=8";
  const auto r = test::run_kvbench(base + " --questions 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2 configurations from 2 prefills"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| 6 cases |"), std::string::npos) << r.output;
  const auto one = test::run_kvbench("eval --model '" + test::stories260k().string() +
                                     "' --chat-template none --task niah_multiquery --length 400 --n 2 -t 1 --param haystack=noise --param num_queries=1 "
                                     "--param max_new_tokens=6 --method knorm --ratio 0.5 --questions 2");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_NE(one.output.find("1 configuration from 2 prefills"), std::string::npos) << one.output;
  EXPECT_NE(one.output.find("| 4 cases |"), std::string::npos) << one.output;
  const auto bad = test::run_kvbench("eval --model '" + test::stories260k().string() +
                                     "' --chat-template none --task niah_single --length 300 --n 1 --questions 2");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("questions_per_context: task 'niah_single' has no multi-question mode"), std::string::npos)
      << bad.output;
  json cfg = grid(json::array({"knorm"}), "query_agnostic");
  cfg["questions_per_context"] = 0;
  EXPECT_THROW(parse_sweep_config(cfg, "t"), Error);

  // The dry run counts the questions' rows and one prefill per context.
  const fs::path cfg_file = test::tmp_dir() / "multi_question_dry_run.json";
  std::ofstream(cfg_file) << grid(json::array({"full", "knorm"}), "query_agnostic").dump();
  const auto dry = test::run_kvbench("sweep '" + cfg_file.string() + "' --dry-run");
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find("to run: 12 rows from 2 prefills"), std::string::npos) << dry.output;

  // The report groups the rows by context.
  const fs::path db = test::fresh_db("multi_question_report.db");
  sweep(grid(json::array({"full", "knorm"}), "query_agnostic"), db, true);
  const reports::ResultsData data = reports::load_results(db);
  const reports::ReportData d = reports::aggregate_report(data, {});
  ASSERT_EQ(d.contexts.size(), 2u);
  for (const auto& g : d.contexts) {
    EXPECT_EQ(g.answers.size(), 2u) << "full and knorm";
    for (const auto& [series, answers] : g.answers) {
      ASSERT_EQ(answers.size(), 3u);
      EXPECT_EQ(answers[2].first, g.context_id + "/q2");
    }
  }
  const std::string html = reports::render_html_report(data, {});
  EXPECT_NE(html.find("<section id=\"contexts\">"), std::string::npos);
  EXPECT_NE(html.find(d.contexts[0].context_id), std::string::npos);
}

}  // namespace
}  // namespace kvb
