// Task generator tests: PRNG, parameters, registry, text sources, determinism (committed hashes),
// length fitting with the SmolLM2 byte-level BPE and stories260K SentencePiece tokenizers, needle
// placement, MQAR structure, and the list/show-case CLI. Run: build/tests/kvb_tests --gtest_filter='Task*'
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>
#include <set>

#include "core/error.h"
#include "core/random.h"
#include "datasets/text_sources.h"
#include "eval/prompt.h"
#include "eval/scorers.h"
#include "eval/task.h"
#include "model/checkpoint.h"
#include "test_util.h"

namespace kvb {
namespace {

std::filesystem::path smollm2_tokenizer_json() { return test::shared_dir() / "models/smollm2-135m-hf/tokenizer.json"; }

const Tokenizer& smollm2_tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = make_tokenizer(load_hf_tokenizer(smollm2_tokenizer_json()).spec);
  return *tok;
}
const Tokenizer* stories_tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = [] {
    std::unique_ptr<Tokenizer> t;
    if (std::filesystem::exists(test::stories260k()))
      t = make_tokenizer(load_checkpoint(test::stories260k()).tokenizer);
    return t;
  }();
  return tok.get();
}

TEST(TaskRandom, FixedStreamAndBounds) {
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(a.next(), b.next());
  Rng r(0);
  // xoshiro256** seeded by splitmix64(0): reference values, fixed forever.
  EXPECT_EQ(r.next(), 0x99ec5f36cb75f2b4ull);
  EXPECT_EQ(r.next(), 0xbf6e1f784956452aull);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_LT(r.below(7), 7u);
    int64_t x = r.range(-3, 3);
    EXPECT_GE(x, -3);
    EXPECT_LE(x, 3);
    double u = r.unit();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
  auto idx = r.sample_indices(10, 10);
  std::sort(idx.begin(), idx.end());
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(idx[i], i);
  EXPECT_NE(Rng::derive(1, 0).next(), Rng::derive(1, 1).next());
}

TEST(TaskParams, TypedGettersAndErrors) {
  TaskParams p{{"n", "12"}, {"x", "0.5"}, {"b", "yes"}, {"l", "1, 2,3"}, {"bad", "12a"}};
  p.set_from_string("s = hello");
  EXPECT_EQ(p.get_int("n"), 12);
  EXPECT_DOUBLE_EQ(p.get_double("x"), 0.5);
  EXPECT_TRUE(p.get_bool("b"));
  EXPECT_EQ(p.get_int_list("l"), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(p.get_string("s"), "hello");
  EXPECT_EQ(p.get_int("missing", 7), 7);
  EXPECT_THROW(p.get_int("bad"), Error);
  EXPECT_THROW(p.get_int("missing"), Error);
  EXPECT_THROW(p.get_bool("n"), Error);
  EXPECT_THROW(p.set_from_string("novalue"), Error);
}

TEST(TaskRegistry, EveryTaskIsRegisteredWithAKnownScorer) {
  std::set<std::string> ids;
  for (const TaskInfo* t : list_tasks()) {
    ids.insert(t->id);
    EXPECT_GE(t->version, 1) << t->id;
    EXPECT_NO_THROW(find_scorer(t->scorer)) << t->id;
    EXPECT_FALSE(t->description.empty()) << t->id;
  }
  for (const char* id : {"niah_single", "niah_multikey", "niah_multivalue", "niah_multiquery", "niah_grid", "mqar"})
    EXPECT_TRUE(ids.count(id)) << id;
}

TEST(TaskRegistry, UnknownIdAndUnknownParameterNameTheNearest) {
  try {
    find_task("niah_singel");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("did you mean 'niah_single'"), std::string::npos) << m;
    EXPECT_NE(m.find("mqar"), std::string::npos) << m;
  }
  try {
    resolve_params(find_task("niah_single"), TaskParams{{"lenght", "100"}});
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("did you mean 'length'"), std::string::npos) << m;
    EXPECT_NE(m.find("valid parameters: length, num_samples"), std::string::npos) << m;
  }
  TaskEnv env{&smollm2_tokenizer(), {}};
  EXPECT_THROW(generate_cases("niah_single", {{"haystack", "forest"}}, 1, env), Error);
  EXPECT_THROW(generate_cases("niah_single", {{"depth", "120"}}, 1, env), Error);
  EXPECT_THROW(generate_cases("niah_single", {{"length", "20"}}, 1, env), Error);  // too short for the prompt
  EXPECT_THROW(generate_cases("niah_single", {{"num_samples", "1"}}, 1, TaskEnv{}), Error);  // no tokenizer
}

TEST(TaskDatasets, SourcesHaveTheirShapes) {
  Rng rng(5);
  const std::regex uuid_re("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(std::regex_match(datasets::uuid4(rng), uuid_re));
    std::string n = datasets::seven_digit_number(rng);
    EXPECT_EQ(n.size(), 7u);
    EXPECT_NE(n[0], '0');
    EXPECT_NE(datasets::key_phrase(rng).find('-'), std::string::npos);
    EXPECT_NE(datasets::entity_name(rng).find(' '), std::string::npos);
  }
  for (const char* src : {"generated", "auto"}) {
    const auto& words = datasets::word_list(src);
    EXPECT_GT(words.size(), 1000u) << src;
    for (const auto& w : words)
      ASSERT_TRUE(std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; })) << w;
  }
  EXPECT_EQ(datasets::generated_words(20, 9), datasets::generated_words(20, 9));
  EXPECT_THROW(datasets::word_list("wordnet"), Error);

  auto e1 = datasets::essay_stream(3), e2 = datasets::essay_stream(3);
  std::string text;
  for (size_t i = 0; i < 200; ++i) {
    ASSERT_EQ(e1.unit(i), e2.unit(i));
    text += e1.unit(i);
  }
  EXPECT_NE(text.find(".\n\n"), std::string::npos);  // paragraphs
  EXPECT_EQ(text.find_first_of("0123456789"), std::string::npos);  // no digits that could mimic a value
  auto noise = datasets::noise_stream();
  EXPECT_EQ(noise.unit(0), noise.unit(datasets::noise_sentences().size()));
}

// Small configurations of every task (word_source=generated: no dependence on /usr/share/dict).
std::vector<std::pair<std::string, TaskParams>> small_configs() {
  return {
      {"niah_single", {{"length", "400"}, {"num_samples", "2"}, {"word_source", "generated"}}},
      {"niah_single", {{"length", "400"}, {"num_samples", "2"}, {"haystack", "essay"}, {"value_type", "word"},
                       {"word_source", "generated"}}},
      {"niah_multikey", {{"length", "600"}, {"num_samples", "2"}, {"key_type", "uuid"}, {"value_type", "uuid"},
                         {"haystack", "needle"}, {"word_source", "generated"}}},
      {"niah_multivalue", {{"length", "600"}, {"num_samples", "2"}, {"word_source", "generated"}}},
      {"niah_multiquery", {{"length", "600"}, {"num_samples", "2"}, {"word_source", "generated"}}},
      {"niah_grid", {{"lengths", "400,700"}, {"num_depths", "3"}, {"word_source", "generated"}}},
      {"mqar", {{"num_samples", "3"}, {"seq_len", "64"}, {"num_kv_pairs", "8"}}},
      {"mqar", {{"num_samples", "3"}, {"form", "symbolic"}, {"seq_len", "128"}, {"num_kv_pairs", "16"}}},
  };
}

// Committed hashes: a change here means cases changed — bump the task's version and update.
// Produced by this test itself (it prints the new hash on mismatch).
const std::vector<std::string> kGoldenHashes = {
    "be570c77ea789135", "3ad19aa2db480298", "941c07ef5b127229", "62c01b0a13e3eabf",
    "aa4f7350b1ff251a", "ab279bb60baace62", "7a82cd19bb09ae16", "8f9b42358da2622a",
};

TEST(TaskDeterminism, SameParamsAndSeedGiveIdenticalCases) {
  TaskEnv env{&smollm2_tokenizer(), {}};
  auto configs = small_configs();
  ASSERT_EQ(configs.size(), kGoldenHashes.size());
  for (size_t i = 0; i < configs.size(); ++i) {
    const auto& [id, params] = configs[i];
    auto a = generate_cases(id, params, 7, env);
    auto b = generate_cases(id, params, 7, env);
    ASSERT_FALSE(a.empty()) << id;
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) EXPECT_EQ(case_to_json(a[k]).dump(), case_to_json(b[k]).dump()) << id;
    EXPECT_NE(hash_cases(a), hash_cases(generate_cases(id, params, 8, env))) << id << ": the seed must matter";
    EXPECT_EQ(hash_cases(a), kGoldenHashes[i]) << "config " << i << " (" << id << ")";
  }
}

void check_fitted(const Case& c, const TaskEnv& env, const std::string& what) {
  SCOPED_TRACE(what + " " + c.id);
  const int total = c.meta.token_length + c.max_new_tokens;
  EXPECT_EQ(c.meta.token_length, int(encode_prompt(c, env).size()));
  EXPECT_LE(total, c.meta.target_length);
  EXPECT_GT(c.meta.next_unit_tokens, 0);
  EXPECT_LT(c.meta.target_length - total, c.meta.next_unit_tokens) << "not within one unit of the target";
  EXPECT_GE(c.meta.haystack_units, 1);
  // Each needle sits at its recorded offset, every answer appears in the context, and the needle's
  // token position matches its depth (the instruction before the haystack is short).
  ASSERT_EQ(c.meta.needle_chars.size(), c.meta.depths.size());
  ASSERT_EQ(c.meta.needle_tokens.size(), c.meta.depths.size());
  const auto& needles = c.meta.extra.at("needles");
  for (size_t j = 0; j < c.meta.needle_chars.size(); ++j) {
    const std::string needle = needles[j].get<std::string>();
    EXPECT_EQ(c.context.compare(size_t(c.meta.needle_chars[j]), needle.size(), needle), 0) << needle;
    if (c.meta.target_length >= 4000) {
      const double frac = double(c.meta.needle_tokens[j]) / double(c.meta.token_length);
      // Needles placed before this one push it later by their own length (~40 tokens at most each).
      const double slack = 2.0 + 100.0 * double(j) * 40.0 / double(c.meta.token_length);
      EXPECT_NEAR(frac * 100.0, c.meta.depths[j], slack) << needle;
    }
  }
  for (const auto& a : c.answers) EXPECT_NE(c.context.find(a), std::string::npos) << a;
  EXPECT_DOUBLE_EQ(string_match_all(c.answers.empty() ? "" : [&] {
    std::string s;
    for (const auto& a : c.answers) s += a + ", ";
    return s;
  }(), c.answers), 100.0);
}

void fit_at_lengths(const TaskEnv& env, const std::string& name) {
  const std::vector<std::pair<std::string, TaskParams>> tasks = {
      {"niah_single", {{"haystack", "noise"}}},
      {"niah_single", {{"haystack", "essay"}, {"value_type", "uuid"}}},
      {"niah_multikey", {{"haystack", "needle"}}},
      {"niah_multivalue", {{"depth", "50"}}},
      {"niah_multiquery", {}},
  };
  for (int length : {1024, 4096, 16384})
    for (const auto& [id, p] : tasks) {
      TaskParams params = p;
      params.set("length", std::to_string(length));
      params.set("num_samples", "1");
      params.set("word_source", "generated");
      for (const Case& c : generate_cases(id, params, 11, env)) check_fitted(c, env, name + " " + id);
    }
}

TEST(TaskLengthFit, SmolLM2ByteLevelBpe) {
  fit_at_lengths(TaskEnv{&smollm2_tokenizer(), {}}, "smollm2");
}

TEST(TaskLengthFit, SmolLM2WithChatTemplate) {
  TaskEnv env{&smollm2_tokenizer(), resolve_chat_format("chatml", "")};
  ASSERT_EQ(env.chat.kind, ChatTemplateKind::ChatML);
  for (const Case& c : generate_cases("niah_single", {{"length", "4096"}, {"num_samples", "2"}}, 3, env)) {
    check_fitted(c, env, "chatml");
    PromptText p = render_prompt(c, env.chat);
    EXPECT_EQ(p.context_part.rfind("<|im_start|>", 0), 0u);
    EXPECT_NE(p.question_part.find("<|im_start|>assistant\n" + c.answer_prefix), std::string::npos);
  }
}

TEST(TaskLengthFit, Stories260KSentencePiece) {
  const Tokenizer* tok = stories_tokenizer();
  if (!tok) GTEST_SKIP() << "stories260K not found at " << test::stories260k();
  fit_at_lengths(TaskEnv{tok, {}}, "stories260k");
}

TEST(TaskNeedleGrid, CellsCoverLengthsAndDepths) {
  TaskEnv env{&smollm2_tokenizer(), {}};
  auto cases = generate_cases("niah_grid", {{"min_length", "1000"}, {"max_length", "4000"}, {"num_lengths", "2"},
                                            {"num_depths", "3"}, {"word_source", "generated"}}, 1, env);
  ASSERT_EQ(cases.size(), 6u);
  std::set<std::pair<int, double>> cells;
  for (const Case& c : cases) {
    check_fitted(c, env, "grid");
    cells.insert({c.meta.target_length, c.meta.depths.at(0)});
  }
  EXPECT_EQ(cells, (std::set<std::pair<int, double>>{{1000, 0}, {1000, 50}, {1000, 100}, {4000, 0}, {4000, 50},
                                                      {4000, 100}}));
  // The default grid is 8 lengths x 11 depths.
  const TaskInfo& info = find_task("niah_grid");
  TaskParams d = resolve_params(info, {});
  EXPECT_EQ(d.get_int("num_lengths") * d.get_int("num_depths"), 88);
}

TEST(TaskMqar, SymbolicFormFollowsZoology) {
  const int V = 8192, L = 256, n = 32;
  auto cases = generate_cases("mqar", {{"form", "symbolic"}, {"seq_len", std::to_string(L)},
                                       {"num_kv_pairs", std::to_string(n)}, {"num_samples", "20"}}, 5, TaskEnv{});
  ASSERT_EQ(cases.size(), 20u);
  int small_gaps = 0, total_gaps = 0;
  for (const Case& c : cases) {
    ASSERT_EQ(c.input_ids.size(), size_t(L));
    ASSERT_EQ(c.labels.size(), size_t(L));
    const auto keys = c.meta.extra.at("keys").get<std::vector<int>>();
    const auto values = c.meta.extra.at("values").get<std::vector<int>>();
    std::set<int> ks(keys.begin(), keys.end()), vs(values.begin(), values.end());
    EXPECT_EQ(ks.size(), size_t(n));
    EXPECT_EQ(vs.size(), size_t(n));
    for (int k : keys) EXPECT_TRUE(k >= 1 && k < V / 2);
    for (int v : values) EXPECT_TRUE(v >= V / 2 && v < V);
    std::map<int, int> kv;
    for (int i = 0; i < n; ++i) {
      kv[keys[size_t(i)]] = values[size_t(i)];
      EXPECT_EQ(c.input_ids[size_t(2 * i)], keys[size_t(i)]);
      EXPECT_EQ(c.input_ids[size_t(2 * i + 1)], values[size_t(i)]);
    }
    int labelled = 0;
    for (int t = 0; t < L; ++t) {
      EXPECT_TRUE(c.input_ids[size_t(t)] >= 0 && c.input_ids[size_t(t)] < V);
      if (c.labels[size_t(t)] == -100) continue;
      ++labelled;
      ASSERT_TRUE(kv.count(c.input_ids[size_t(t)])) << "label at a non-key position";
      EXPECT_EQ(c.labels[size_t(t)], kv[c.input_ids[size_t(t)]]);
      EXPECT_GE(t, 2 * n);
    }
    EXPECT_EQ(labelled, n);
    for (int g : c.meta.extra.at("gaps").get<std::vector<int>>()) {
      total_gaps++;
      small_gaps += g < (L - 2 * n) / 4;  // the lower half of the gap range
    }
  }
  EXPECT_GT(small_gaps * 2, total_gaps);  // the power law favours small gaps
  EXPECT_THROW(generate_cases("mqar", {{"seq_len", "64"}, {"num_kv_pairs", "20"}}, 1, TaskEnv{}), Error);
  EXPECT_THROW(generate_cases("mqar", {{"vocab_size", "32"}, {"seq_len", "64"}}, 1, TaskEnv{}), Error);
  EXPECT_THROW(generate_cases("mqar", {{"form", "image"}}, 1, TaskEnv{}), Error);
}

TEST(TaskMqar, TextFormAsksEveryKey) {
  TaskEnv env{&smollm2_tokenizer(), {}};
  auto cases = generate_cases("mqar", {{"num_kv_pairs", "8"}, {"num_samples", "3"}}, 2, env);
  for (const Case& c : cases) {
    EXPECT_EQ(c.answers.size(), 8u);
    EXPECT_GT(c.meta.token_length, 0);
    for (const auto& a : c.answers) EXPECT_NE(c.context.find(": " + a), std::string::npos) << a;
    std::string perfect;
    for (const auto& a : c.answers) perfect += "x: " + a + "\n";
    EXPECT_DOUBLE_EQ(score_prediction(c.scorer, perfect, c.answers), 100.0);
  }
}

TEST(TaskCli, ListTasksAndShowCase) {
  auto list = test::run_kvbench("list tasks");
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("niah_single v1"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("num_depths=11"), std::string::npos) << list.output;
  auto show = test::run_kvbench("show-case niah_single --param length=300 --param num_samples=2 --seed 3 --index 1 "
                                "--model '" + smollm2_tokenizer_json().parent_path().string() + "'");
  EXPECT_EQ(show.exit_code, 0) << show.output;
  EXPECT_NE(show.output.find("case niah_single/3/1"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("target 300"), std::string::npos) << show.output;
  auto bad = test::run_kvbench("show-case niah_singel");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("did you mean 'niah_single'"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace kvb
