// The perplexity task (tasks/perplexity.cpp) and its path through the runner, the store and the
// reports: case layout, NLL under full attention equal to a direct computation through the engine,
// compression that drops the text the continuation repeats raising NLL, and perplexity in
// `kvbench eval`, `kvbench table` and the HTML report. Run: kvb_tests --gtest_filter='Perplexity*'.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <numeric>

#include "core/random.h"
#include "core/threads.h"
#include "eval/runner.h"
#include "eval/task.h"
#include "model/checkpoint.h"
#include "model/oracle.h"
#include "store/results_store.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

struct Stories {
  Checkpoint ck = load_checkpoint(test::stories260k());
  std::unique_ptr<Tokenizer> tok = make_tokenizer(ck.tokenizer);
  Transformer model{ck.config, ck.weights};
  static Stories& get() {
    static Stories s;
    return s;
  }
};

TEST(Perplexity, CaseLayout) {
  Stories& s = Stories::get();
  const TaskEnv env{s.tok.get(), {}};
  const auto cases = generate_cases("perplexity", {{"length", "300"}, {"continuation", "50"}, {"num_samples", "3"}}, 4, env);
  ASSERT_EQ(cases.size(), 3u);
  for (const Case& c : cases) {
    ASSERT_EQ(c.input_ids.size(), 350u);
    EXPECT_EQ(c.input_ids[0], s.tok->bos_id());  // stories260K adds BOS: it counts in the prefix
    EXPECT_EQ(c.meta.extra["context_tokens"], 300);
    int scored = 0;
    for (size_t i = 0; i < c.labels.size(); ++i) {
      if (c.labels[i] == -100) continue;
      ++scored;
      EXPECT_GE(i, 300u);
      if (i + 1 < c.input_ids.size()) {
        EXPECT_EQ(c.labels[i], c.input_ids[i + 1]);  // the next token of the text
      }
    }
    EXPECT_EQ(scored, 50);
    EXPECT_EQ(c.meta.token_length + c.max_new_tokens, c.meta.target_length);
  }
  EXPECT_NE(cases[0].input_ids, cases[1].input_ids);
  EXPECT_THROW(generate_cases("perplexity", {{"continuation", "0"}}, 1, env), Error);
  EXPECT_THROW(generate_cases("perplexity", {{"source", "dir"}}, 1, env), Error);
  EXPECT_THROW(generate_cases("perplexity", {{"num_samples", "1"}}, 1, TaskEnv{}), Error);
}

// -log softmax(row)[id] in double.
double nll_of(const float* row, int64_t V, int32_t id) {
  double top = row[0];
  for (int64_t v = 1; v < V; ++v) top = std::max(top, double(row[v]));
  double sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - top);
  return top + std::log(sum) - double(row[id]);
}

TEST(Perplexity, FullAttentionNllEqualsADirectComputationThroughTheEngine) {
  Stories& s = Stories::get();
  set_num_threads(1);
  const TaskEnv env{s.tok.get(), {}};
  const auto cases = generate_cases("perplexity", {{"length", "200"}, {"continuation", "40"}, {"num_samples", "2"}}, 1, env);
  const int64_t V = s.ck.config.vocab_size;
  for (const Case& c : cases) {
    const CaseResult r = run_case(s.model, c, env);
    ASSERT_EQ(r.token_nll.size(), 40u);
    EXPECT_EQ(r.generated_tokens, 40);
    // One forward pass over the whole text, every row's logits.
    KVCache cache = s.model.make_cache();
    cache.reserve(int64_t(c.input_ids.size()));
    const Tensor logits = s.model.forward(c.input_ids, cache, LogitRows::All);
    size_t k = 0;
    double mean = 0;
    for (size_t i = 0; i < c.labels.size(); ++i) {
      if (c.labels[i] == -100) continue;
      const double direct = nll_of(logits.ptr() + int64_t(i) * V, V, c.labels[i]);
      EXPECT_NEAR(r.token_nll[k], direct, 1e-3) << c.id << " token " << i;
      mean += r.token_nll[k++] / 40.0;
    }
    EXPECT_GT(mean, 0.1);  // a 260K-parameter model is unsure of the essay
  }
  // Deterministic: the same case twice gives the same NLLs bit for bit.
  EXPECT_EQ(run_case(s.model, cases[0], env).token_nll, run_case(s.model, cases[0], env).token_nll);
}

// A case the recall oracle can only continue from its context: a passage of 40 distinct tokens at
// 10% depth that the continuation repeats. Full attention copies it (NLL near 0); StreamingLLM at
// ratio 0.9 keeps the sinks and the last ~10% of the prefix, drops the passage, and must lose it.
TEST(Perplexity, CompressionThatDropsTheNeededTextRaisesNll) {
  const fs::path dir = test::tmp_dir() / ("oracle_perplexity_" + std::to_string(getpid()));
  fs::remove_all(dir);
  write_oracle_checkpoint(OracleOptions{}, dir);
  Checkpoint ck = load_checkpoint(dir);
  auto tok = make_tokenizer(ck.tokenizer);
  Transformer model(ck.config, ck.weights);
  set_num_threads(1);
  const TaskEnv env{tok.get(), {}};
  Rng rng(7);
  std::vector<size_t> ids = rng.sample_indices(8000, 400);  // distinct word ids 100..8099
  Case c;
  c.id = "repeat";
  c.input_ids.push_back(oracle_vocab::kBos);
  for (size_t i = 0; i < 359; ++i) c.input_ids.push_back(int32_t(100 + ids[i]));
  std::vector<int32_t> passage(c.input_ids.begin() + 40, c.input_ids.begin() + 80);
  const size_t context = c.input_ids.size();  // 360
  c.input_ids.insert(c.input_ids.end(), passage.begin(), passage.end());
  c.labels.assign(c.input_ids.size(), -100);
  for (size_t i = context; i + 1 < c.input_ids.size(); ++i) c.labels[i] = c.input_ids[i + 1];
  c.answers = {"-"};
  c.scorer = "exact_match";
  c.max_new_tokens = 1;
  c.meta.extra = {{"context_tokens", context}, {"token_nll", true}};
  auto mean_nll = [&](const MethodSpec& m) {
    const CaseResult r = run_case(model, c, env, m);
    EXPECT_EQ(r.token_nll.size(), passage.size() - 1);
    return std::accumulate(r.token_nll.begin(), r.token_nll.end(), 0.0) / double(r.token_nll.size());
  };
  const double full = mean_nll(MethodSpec{});
  MethodSpec streaming;
  streaming.id = "streaming_llm";
  streaming.compression_ratio = 0.9;
  const double compressed = mean_nll(streaming);
  std::printf("oracle repeated passage: mean NLL full %.4f, streaming_llm 0.9 %.4f nats\n", full, compressed);
  EXPECT_LT(full, 0.1);
  EXPECT_GT(compressed, full + 2.0);
}

TEST(Perplexity, StoredPerTokenAndShownByEvalTableAndReport) {
  const std::string model = "'" + test::stories260k().string() + "'";
  const std::string task = " --task perplexity --param length=200 --param continuation=20 --n 2 --chat-template none -q";
  auto r = test::run_kvbench("eval --model " + model + task + " --method full,streaming_llm --ratio 0.75");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("| perplexity "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nats over 40 tokens"), std::string::npos) << r.output;

  const fs::path db = test::fresh_db("perplexity_store");
  r = test::run_kvbench("run --model " + model + task + " --db '" + db.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  double sum = 0;
  int n = 0;
  {
    ResultsStore store(db, true);
    Statement q = store.prepare("SELECT token_nll FROM samples");
    while (q.step())
      for (const auto& x : nlohmann::json::parse(q.text(0))) sum += x.get<double>(), ++n;
  }
  ASSERT_EQ(n, 40);
  r = test::run_kvbench("table '" + db.string() + "' --rows method --cols length --metric perplexity --format csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(fmt::format("full,{:.2f}", std::exp(sum / n))), std::string::npos) << r.output;
  const fs::path html = test::tmp_dir() / "perplexity_report.html";
  r = test::run_kvbench("report '" + db.string() + "' -o '" + html.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(html);
  const std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(page.find("<h2>Perplexity</h2>"), std::string::npos);
  EXPECT_NE(page.find(fmt::format(">{:.2f}</td>", std::exp(sum / n))), std::string::npos);
}

}  // namespace
}  // namespace kvb
