// needle_threading (tasks/needle_threading.cpp): the text form's threads (every hop's pair in the JSON,
// forward / backward order, branches as lists), the thread_hops scorer per hop, and the symbolic form
// solved by the recall oracle with full attention (single, multi, branched; 1K and 4K tokens) while
// a method that drops the middle of the context loses hops. Run: kvb_tests --gtest_filter='NeedleThreading*'.
#include <gtest/gtest.h>
#include <unistd.h>

#include <sstream>

#include "core/threads.h"
#include "eval/runner.h"
#include "eval/scorers.h"
#include "eval/symbolic_runner.h"
#include "eval/task.h"
#include "model/checkpoint.h"
#include "model/oracle.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

struct Stories {
  Checkpoint ck = load_checkpoint(test::stories260k());
  std::unique_ptr<Tokenizer> tok = make_tokenizer(ck.tokenizer);
  static Stories& get() {
    static Stories s;
    return s;
  }
};

std::vector<std::string> split_ws(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

TEST(NeedleThreading, TextThreadsAreChainsOfPairsInTheJson) {
  const TaskEnv env{Stories::get().tok.get(), {}};
  for (const std::string type : {"single", "multi", "branched"}) {
    for (const std::string dir : {"forward", "backward"}) {
      SCOPED_TRACE(type + " " + dir);
      TaskParams p{{"thread_type", type}, {"direction", dir}, {"length", "3000"}, {"num_samples", "2"},
                   {"thread_length", "4"}};
      const auto cases = generate_cases("needle_threading", p, 3, env);
      ASSERT_EQ(cases.size(), 2u);
      for (const Case& c : cases) {
        const size_t paths = type == "multi" ? 4 : type == "branched" ? 2 : 1;
        ASSERT_EQ(c.answers.size(), paths);
        EXPECT_EQ(c.scorer, "thread_hops");
        EXPECT_LE(c.meta.token_length + c.max_new_tokens, 3000);
        EXPECT_GT(c.meta.haystack_units, 5);
        const auto starts = c.meta.extra["start_keys"].get<std::vector<std::string>>();
        for (size_t k = 0; k < paths; ++k) {
          const std::vector<std::string> values = split_ws(c.answers[k]);
          ASSERT_EQ(values.size(), 4u);
          // Each hop is a pair of the JSON: "key": "value", or "key": [.., "value", ..] at a fork.
          std::string key = starts[type == "multi" ? k : 0];
          size_t last = dir == "forward" ? 0 : std::string::npos;
          for (const std::string& v : values) {
            const size_t at = c.context.find("\"" + key + "\": ");
            ASSERT_NE(at, std::string::npos) << key;
            const size_t end = c.context.find('\n', at);
            EXPECT_NE(c.context.substr(at, end - at).find("\"" + v + "\""), std::string::npos) << key << " -> " << v;
            if (type != "branched") {  // pairs in context order along the thread
              if (dir == "forward") EXPECT_GE(at, last);
              else EXPECT_LE(at, last);
              last = at;
            }
            key = v;
          }
          EXPECT_EQ(c.context.find("\"" + key + "\": "), std::string::npos) << "the final value is not a key";
        }
        if (type == "branched") {  // the fork key's value is a list of the two branches
          EXPECT_NE(c.context.find("\": [\""), std::string::npos);
          const auto a = split_ws(c.answers[0]), b = split_ws(c.answers[1]);
          EXPECT_EQ(a[0], b[0]);  // thread_length 4 forks at node 2: the first two hops are shared
          EXPECT_EQ(a[1], b[1]);
          EXPECT_NE(a[2], b[2]);
        }
      }
    }
  }
  EXPECT_THROW(generate_cases("needle_threading", {{"thread_type", "single"}, {"num_threads", "3"}}, 1, env), Error);
  EXPECT_THROW(generate_cases("needle_threading", {{"thread_type", "knotted"}}, 1, env), Error);
  EXPECT_THROW(generate_cases("needle_threading", {{"length", "40"}, {"num_samples", "1"}}, 1, env), Error);
}

TEST(NeedleThreading, ScorerIsExactPerHopInOrder) {
  const std::string a = "0a1b2c3d-0000-4000-8000-00000000000a", b = "0a1b2c3d-0000-4000-8000-00000000000b",
                    c = "0a1b2c3d-0000-4000-8000-00000000000c", d = "0a1b2c3d-0000-4000-8000-00000000000d";
  const std::vector<std::string> refs = {a + " " + b, c + " " + d};  // two paths of two hops
  EXPECT_DOUBLE_EQ(thread_hops(a + " " + b + "\n" + c + " " + d, refs), 100.0);
  EXPECT_DOUBLE_EQ(thread_hops("Thread 1: " + a + " -> " + b + ".\nThread 2: " + c + ", " + d, refs), 100.0);
  // Upper case is the same UUID; a UUID inside a longer hex run is not one.
  EXPECT_DOUBLE_EQ(thread_hops(a + " " + b + " " + c + " " + "0A1B2C3D-0000-4000-8000-00000000000D", refs), 100.0);
  EXPECT_DOUBLE_EQ(thread_hops(a + " " + b + " " + c + " " + d + "ff", refs), 75.0);
  EXPECT_DOUBLE_EQ(thread_hops(a + " " + c + " " + c + " " + d, refs), 75.0);  // hop 2 wrong
  EXPECT_DOUBLE_EQ(thread_hops(b + " " + c + " " + d, refs), 0.0);            // a skipped hop shifts the rest
  EXPECT_DOUBLE_EQ(thread_hops("", refs), 0.0);
  EXPECT_EQ(score_detail("thread_hops", a + " x " + d, refs), (nlohmann::json{{"hops", {1, 0, 0, 0}}}));
  EXPECT_EQ(score_detail("thread_hops", a + " " + b + " " + c + " " + d, refs),
            (nlohmann::json{{"hops", {1, 1, 1, 1}}}));
  EXPECT_TRUE(score_detail("string_match_all", "x", {"x"}).is_null());
  EXPECT_THROW(thread_hops("x", {}), Error);
}

// The default oracle (vocab 8192), written once per test binary.
struct Oracle {
  Checkpoint ck;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Transformer> model;
  static Oracle& get() {
    static Oracle o = [] {
      const fs::path dir = test::tmp_dir() / ("oracle_threading_" + std::to_string(getpid()));
      fs::remove_all(dir);
      write_oracle_checkpoint(OracleOptions{}, dir);
      Oracle d;
      d.ck = load_checkpoint(dir);
      d.tok = make_tokenizer(d.ck.tokenizer);
      return d;
    }();
    if (!o.model) o.model = std::make_unique<Transformer>(o.ck.config, o.ck.weights);
    return o;
  }
};

TEST(NeedleThreading, SymbolicCaseLayout) {
  TaskParams p{{"form", "symbolic"}, {"thread_type", "branched"}, {"thread_length", "4"}, {"length", "600"},
               {"num_samples", "2"}};
  const auto a = generate_cases("needle_threading", p, 5, TaskEnv{});
  EXPECT_EQ(hash_cases(a), hash_cases(generate_cases("needle_threading", p, 5, TaskEnv{})));
  EXPECT_NE(hash_cases(a), hash_cases(generate_cases("needle_threading", p, 6, TaskEnv{})));
  for (const Case& c : a) {
    ASSERT_EQ(c.input_ids.size(), 600u);
    EXPECT_EQ(c.input_ids[0], oracle_vocab::kBos);
    // Branched, thread_length 4: trunk 2 pairs, a fork of 2, 2 more pairs per branch = 6 entries.
    EXPECT_EQ(c.meta.needle_tokens.size(), 6u);
    EXPECT_EQ(c.meta.extra["hops_per_path"], (nlohmann::json{4, 4}));
    EXPECT_EQ(c.meta.extra["label_sets"].size(), 2u);  // the fork, once per path
    // Every token the question scores after (a thread key's second token) occurs once per pair it keys.
    const int64_t ctx = c.meta.extra["context_tokens"].get<int64_t>();
    for (size_t i = size_t(ctx); i < c.labels.size(); ++i) {
      if (c.labels[i] == -100) continue;
      const int32_t q = c.input_ids[i];
      int seen = 0;
      for (int64_t j = 0; j < ctx; ++j) seen += c.input_ids[size_t(j)] == q;
      EXPECT_EQ(seen, 1) << "token " << q;
    }
  }
}

double oracle_accuracy(const TaskParams& p, std::vector<int>* hops = nullptr) {
  set_num_threads(1);
  Oracle& o = Oracle::get();
  int hits = 0, targets = 0;
  for (const Case& c : generate_cases("needle_threading", p, 9, TaskEnv{o.tok.get(), {}})) {
    const SymbolicRun r = run_symbolic_case(*o.model, c, o.tok.get());
    hits += r.result.hits;
    targets += r.result.targets;
    if (hops)
      for (bool h : r.result.target_hits) hops->push_back(h);
  }
  std::printf("needle_threading %s %s length %s: %d/%d\n", p.get_string("thread_type", "single").c_str(),
              p.get_string("direction", "forward").c_str(), p.get_string("length").c_str(), hits, targets);
  return targets ? 100.0 * hits / targets : 0.0;
}

TEST(NeedleThreading, OracleFollowsEveryThreadWithFullAttention) {
  for (const std::string len : {"1024", "4096"})
    for (const std::string type : {"single", "multi", "branched"})
      for (const std::string dir : {"forward", "backward", "random"}) {
        if (len == "4096" && dir != "random") continue;  // 4K: one direction per thread type (time)
        TaskParams p{{"form", "symbolic"}, {"thread_type", type}, {"direction", dir}, {"length", len},
                     {"num_samples", len == "1024" ? "3" : "1"}, {"thread_length", "5"}};
        if (type == "branched") p.set("branching", "3");
        EXPECT_DOUBLE_EQ(oracle_accuracy(p), 100.0) << type << " " << dir << " at " << len;
      }
}

TEST(NeedleThreading, RunCaseRecordsPerHopCorrectnessAndCompressionLosesHops) {
  Oracle& o = Oracle::get();
  set_num_threads(1);
  const TaskEnv env{o.tok.get(), {}};
  TaskParams p{{"form", "symbolic"}, {"thread_type", "multi"}, {"length", "1024"}, {"num_samples", "4"}};
  int full_hops = 0, kept_hops = 0, total = 0;
  for (const Case& c : generate_cases("needle_threading", p, 2, env)) {
    const CaseResult full = run_case(*o.model, c, env);
    ASSERT_EQ(full.score_detail["hops"].size(), 12u);  // 4 threads x 3 hops
    for (int h : full.score_detail["hops"]) full_hops += h;
    MethodSpec streaming;
    streaming.id = "streaming_llm";
    streaming.compression_ratio = 0.9;
    const CaseResult r = run_case(*o.model, c, env, streaming);
    int kept = 0;
    for (int h : r.score_detail["hops"]) kept += h;
    kept_hops += kept;
    total += 12;
    EXPECT_DOUBLE_EQ(r.score, 100.0 * kept / 12);  // one target per hop: the score is the hops' mean
  }
  EXPECT_EQ(full_hops, total);
  // StreamingLLM at 0.9 keeps 4 sinks and the last ~10% of 1K tokens: most thread pairs are gone.
  EXPECT_LT(kept_hops, total / 2);
}

}  // namespace
}  // namespace kvb
