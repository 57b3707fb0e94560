// Tests for the RULER-style vt / cwe / fwe, qa, summarization tasks, the file loaders (ruler_jsonl,
// kvpress_jsonl, longbench, qa files), the --haystack-dir corpus and the rouge / key_fact_recall scorers.
// Fixtures (hand-written) in tests/golden/tasks/. Run: build/tests/kvb_tests --gtest_filter='TaskMore*'
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "core/error.h"
#include "datasets/file_rows.h"
#include "datasets/text_sources.h"
#include "eval/prompt.h"
#include "eval/scorers.h"
#include "eval/task.h"
#include "model/checkpoint.h"
#include "test_util.h"

namespace kvb {
namespace {

std::filesystem::path smollm2_dir() { return test::shared_dir() / "models/smollm2-135m-hf"; }
const Tokenizer& smollm2() {
  static const std::unique_ptr<Tokenizer> tok = make_tokenizer(load_hf_tokenizer(smollm2_dir() / "tokenizer.json").spec);
  return *tok;
}
TaskEnv plain_env() { return TaskEnv{&smollm2(), {}}; }
std::string fixture(const std::string& name) { return (test::golden_dir() / "tasks" / name).string(); }

// Writes `text` to a fresh file under the test tmp dir and returns its path.
std::string write_tmp(const std::string& name, const std::string& text) {
  const auto p = test::tmp_dir() / name;
  std::ofstream(p, std::ios::binary) << text;
  return p.string();
}

// The message of the kvb::Error `fn` throws ("" when it throws none).
template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// Determinism: committed hashes (bump the task's version to change output).

std::vector<std::pair<std::string, TaskParams>> more_configs() {
  return {
      {"vt", {{"length", "600"}, {"num_samples", "2"}}},
      {"vt", {{"length", "900"}, {"num_samples", "2"}, {"num_chains", "2"}, {"num_hops", "3"}, {"haystack", "essay"}}},
      {"cwe", {{"length", "1200"}, {"num_samples", "2"}, {"word_source", "generated"}}},
      {"fwe", {{"length", "600"}, {"num_samples", "2"}}},
      {"qa", {{"length", "900"}, {"num_samples", "2"}}},
      {"qa", {{"length", "300"}, {"num_samples", "2"}, {"file", fixture("qa_squad.json")}}},
      {"qa", {{"length", "400"}, {"num_samples", "2"}, {"file", fixture("qa_hotpot.json")}}},
      {"summarization", {{"length", "1200"}, {"num_samples", "2"}, {"num_facts", "6"}}},
      {"longbench", {{"file", fixture("longbench.jsonl")}, {"length", "600"}}},
      {"ruler_jsonl", {{"file", fixture("ruler_jsonl.jsonl")}}},
      {"kvpress_jsonl", {{"file", fixture("kvpress_jsonl.jsonl")}}},
      {"niah_single", {{"length", "500"}, {"num_samples", "2"}, {"haystack", "dir"},
                       {"haystack_dir", fixture("corpus")}}},
  };
}

// Produced by this test itself (it prints the new hash on mismatch).
const std::vector<std::string> kMoreHashes = {
    "c96e4b94c4949dbf", "b95e7d534e137459", "643b642a7d603102", "470a883a506a8801",
    "f68a033a39db9e58", "03f28671f21e4a63", "428ef554b4e9c8af", "748338c8854c3289",
    "f61435c263a77685", "08e0b9983bea236e", "c7a3a9fa06e87d83", "816ad6c54c294d76",
};

TEST(TaskMoreDeterminism, CommittedHashes) {
  const TaskEnv env = plain_env();
  const auto configs = more_configs();
  ASSERT_EQ(configs.size(), kMoreHashes.size());
  for (size_t i = 0; i < configs.size(); ++i) {
    const auto& [id, params] = configs[i];
    SCOPED_TRACE("config " + std::to_string(i) + " (" + id + ")");
    auto a = generate_cases(id, params, 7, env);
    auto b = generate_cases(id, params, 7, env);
    ASSERT_FALSE(a.empty());
    EXPECT_EQ(hash_cases(a), hash_cases(b));
    EXPECT_EQ(hash_cases(a), kMoreHashes[i]);
  }
}

// ---------------------------------------------------------------------------------------------
// Length fitting with SmolLM2's byte-level BPE.

void check_fit(const Case& c, const TaskEnv& env) {
  SCOPED_TRACE(c.id);
  EXPECT_EQ(c.meta.token_length, int(encode_prompt(c, env).size()));
  const int total = c.meta.token_length + c.max_new_tokens;
  EXPECT_LE(total, c.meta.target_length);
  EXPECT_GT(c.meta.next_unit_tokens, 0);
  EXPECT_LT(c.meta.target_length - total, c.meta.next_unit_tokens) << "not within one unit of the target";
  ASSERT_EQ(c.meta.needle_chars.size(), c.meta.needle_tokens.size());
  if (c.meta.extra.contains("needles")) {
    const auto& needles = c.meta.extra.at("needles");
    ASSERT_EQ(needles.size(), c.meta.needle_chars.size());
    for (size_t j = 0; j < needles.size(); ++j) {
      const std::string n = needles[j].get<std::string>();
      EXPECT_EQ(c.context.compare(size_t(c.meta.needle_chars[j]), n.size(), n), 0) << n;
    }
  }
}

TEST(TaskMoreLengthFit, OneAndFourThousandTokens) {
  const TaskEnv env = plain_env();
  const std::vector<std::pair<std::string, TaskParams>> tasks = {
      {"vt", {}},
      {"vt", {{"haystack", "essay"}, {"num_chains", "3"}}},
      {"cwe", {{"word_source", "generated"}}},
      {"fwe", {}},
      {"qa", {}},
      {"summarization", {}},
      {"niah_single", {{"haystack", "dir"}, {"haystack_dir", fixture("corpus")}}},
  };
  for (int length : {1024, 4096})
    for (const auto& [id, p] : tasks) {
      TaskParams params = p;
      params.set("length", std::to_string(length));
      params.set("num_samples", "1");
      for (const Case& c : generate_cases(id, params, 5, env)) {
        check_fit(c, env);
        if (c.scorer != "rougeL") {
          for (const auto& a : c.answers) EXPECT_NE(c.context.find(a), std::string::npos) << id << " " << a;
        }
      }
    }
}

TEST(TaskMoreLengthFit, TargetTooSmallNamesTheCase) {
  const TaskEnv env = plain_env();
  for (const char* id : {"vt", "cwe", "fwe", "qa", "summarization"}) {
    std::string m = error_of([&] { generate_cases(id, {{"length", "60"}, {"num_samples", "1"}}, 1, env); });
    EXPECT_NE(m.find("too small"), std::string::npos) << id << ": " << m;
  }
}

// ---------------------------------------------------------------------------------------------
// Task structure.

TEST(TaskMoreVt, ChainsResolveToTheAnswer) {
  const TaskEnv env = plain_env();
  auto cases = generate_cases("vt", {{"length", "2000"}, {"num_samples", "3"}, {"num_chains", "3"}, {"num_hops", "4"}},
                              2, env);
  const std::string marker = "Now the real text.";
  const std::regex assign("VAR ([A-Z]{5}) = (VAR ([A-Z]{5})|([0-9]{5}))");
  for (const Case& c : cases) {
    SCOPED_TRACE(c.id);
    const size_t at = c.context.find(marker);
    ASSERT_NE(at, std::string::npos);
    const std::string body = c.context.substr(at);
    std::map<std::string, std::string> value_of;
    int lines = 0;
    for (std::sregex_iterator it(body.begin(), body.end(), assign), end; it != end; ++it, ++lines) {
      const auto& m = *it;
      if (m[4].matched) {
        value_of[m[1]] = m[4];
      } else {
        ASSERT_TRUE(value_of.count(m[3])) << "a variable is copied before it is assigned";
        value_of[m[1]] = value_of[m[3]];
      }
    }
    EXPECT_EQ(lines, 15);
    const std::string value = c.meta.extra.at("values")[0].get<std::string>();
    std::set<std::string> holders;
    for (const auto& [k, v] : value_of)
      if (v == value) holders.insert(k);
    EXPECT_EQ(holders, std::set<std::string>(c.answers.begin(), c.answers.end()));
    EXPECT_EQ(c.answers.size(), 5u);
    EXPECT_NE(c.question.find(value), std::string::npos);
    EXPECT_EQ(c.meta.depths.size(), 15u);
  }
}

// Word -> count in "1. w 2. w ..." text.
std::map<std::string, int> count_numbered(const std::string& text) {
  std::map<std::string, int> n;
  const std::regex entry("[0-9]+\\. ([a-z]+)");
  for (std::sregex_iterator it(text.begin(), text.end(), entry), end; it != end; ++it) ++n[(*it)[1]];
  return n;
}

TEST(TaskMoreCwe, CommonWordsHaveTheCommonCount) {
  const TaskEnv env = plain_env();
  // RULER's counts: 6 / 1 below 4096 tokens; 30 / 3 above when they fit (made-up words cost ~3
  // tokens each, so at 4096 they do not, and 6 / 1 are used).
  for (const auto& [length, fc, fu] : std::vector<std::tuple<int, int, int>>{{2000, 6, 1}, {4096, 6, 1}, {8000, 30, 3}}) {
    SCOPED_TRACE(length);
    auto cases = generate_cases("cwe", {{"length", std::to_string(length)}, {"num_samples", "1"},
                                        {"word_source", "generated"}}, 3, env);
    const Case& c = cases.at(0);
    EXPECT_EQ(c.meta.extra.at("freq_cw").get<int>(), fc);
    EXPECT_EQ(c.meta.extra.at("freq_ucw").get<int>(), fu);
    const std::string list = c.context.substr(c.context.find("Now the real list."));
    auto counts = count_numbered(list);
    std::set<std::string> common(c.answers.begin(), c.answers.end());
    EXPECT_EQ(common.size(), 10u);
    int rare = 0;
    for (const auto& [w, n] : counts) {
      if (common.count(w)) {
        EXPECT_EQ(n, fc) << w;
      } else {
        EXPECT_EQ(n, fu) << w;
        ++rare;
      }
    }
    EXPECT_EQ(rare, c.meta.haystack_units);
    EXPECT_GT(rare, 10);
    // Example words never reappear in the real list.
    auto example = count_numbered(c.context.substr(0, c.context.find("Now the real list.")));
    for (const auto& [w, n] : example) EXPECT_FALSE(counts.count(w)) << w;
  }
  EXPECT_THROW(generate_cases("cwe", {{"freq_cw", "2"}, {"freq_ucw", "2"}}, 1, env), Error);
}

TEST(TaskMoreFwe, TopThreeFollowZipf) {
  const TaskEnv env = plain_env();
  for (const char* alpha : {"2.0", "1.5"}) {
    auto cases = generate_cases("fwe", {{"length", "3000"}, {"num_samples", "2"}, {"alpha", alpha}}, 4, env);
    for (const Case& c : cases) {
      SCOPED_TRACE(c.id);
      std::map<std::string, int> n;
      std::istringstream in(c.context.substr(c.context.find("\n\n") + 2));
      std::string w;
      while (in >> w) ++n[w];
      std::vector<std::pair<int, std::string>> ranked;
      for (const auto& [word, k] : n)
        if (word != "...") ranked.push_back({k, word});
      std::sort(ranked.rbegin(), ranked.rend());
      ASSERT_GE(ranked.size(), 4u);
      EXPECT_GT(ranked[2].first, ranked[3].first);
      std::set<std::string> top = {ranked[0].second, ranked[1].second, ranked[2].second};
      EXPECT_EQ(top, std::set<std::string>(c.answers.begin(), c.answers.end()));
      EXPECT_GT(n["..."], ranked[0].first);  // the noise token holds rank 1
      for (const auto& a : c.answers) EXPECT_EQ(a.size(), 6u);
      EXPECT_EQ(c.meta.extra.at("vocab_size").get<int>(), (3000 - 50) / 50);
    }
  }
  EXPECT_THROW(generate_cases("fwe", {{"alpha", "1.0"}}, 1, env), Error);
}

TEST(TaskMoreQa, SyntheticGoldDocumentHoldsTheAnswer) {
  const TaskEnv env = plain_env();
  auto cases = generate_cases("qa", {{"length", "2000"}, {"num_samples", "5"}}, 9, env);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.id);
    ASSERT_EQ(c.meta.needle_chars.size(), 1u);
    const std::string entity = c.meta.extra.at("entity").get<std::string>();
    const std::string gold = c.context.substr(size_t(c.meta.needle_chars[0]));
    EXPECT_EQ(gold.rfind("Document ", 0), 0u);
    const std::string doc = gold.substr(0, gold.find("\n\nDocument "));
    EXPECT_NE(doc.find(entity), std::string::npos);
    EXPECT_NE(doc.find(c.answers[0]), std::string::npos);
    EXPECT_NE(c.question.find(entity), std::string::npos);
    EXPECT_EQ(c.scorer, "string_match_part");
    EXPECT_GT(c.meta.extra.at("num_docs").get<int>(), 5);
    // The asked-about person has exactly one document.
    size_t count = 0;
    for (size_t at = c.context.find(entity + "\n"); at != std::string::npos; at = c.context.find(entity + "\n", at + 1))
      ++count;
    EXPECT_EQ(count, 1u);
  }
}

TEST(TaskMoreQa, SquadFileSkipsUnanswerableAndUsesAllDocsWhenShort) {
  const TaskEnv env = plain_env();
  auto cases = generate_cases("qa", {{"file", fixture("qa_squad.json")}, {"length", "2000"}}, 1, env);
  ASSERT_EQ(cases.size(), 3u);  // 4 questions, one unanswerable
  std::set<std::string> ids;
  for (const Case& c : cases) {
    ids.insert(c.meta.extra.at("question_id").get<std::string>());
    EXPECT_EQ(c.meta.extra.at("source"), "squad");
    EXPECT_EQ(c.meta.extra.at("num_docs").get<int>(), 4);  // every paragraph fits
    EXPECT_LE(c.meta.token_length + c.max_new_tokens, 2000);
    for (const auto& a : c.answers) EXPECT_NE(c.context.find(a), std::string::npos);
  }
  EXPECT_EQ(ids, (std::set<std::string>{"q1", "q3", "q4"}));
  // Duplicate answer texts are kept once.
  for (const Case& c : cases)
    if (c.meta.extra.at("question_id") == "q1") {
      EXPECT_EQ(c.answers, std::vector<std::string>{"1871"});
    }
  // A short target keeps fewer documents, gold included.
  auto shorter = generate_cases("qa", {{"file", fixture("qa_squad.json")}, {"length", "150"}}, 1, env);
  for (const Case& c : shorter) {
    EXPECT_LT(c.meta.extra.at("num_docs").get<int>(), 4);
    EXPECT_NE(c.context.find(c.answers[0]), std::string::npos);
  }
}

TEST(TaskMoreQa, HotpotGoldParagraphsBothPresent) {
  const TaskEnv env = plain_env();
  auto cases = generate_cases("qa", {{"file", fixture("qa_hotpot.json")}, {"length", "200"}, {"format", "hotpot"}}, 3,
                              env);
  ASSERT_EQ(cases.size(), 2u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.id);
    EXPECT_EQ(c.meta.needle_chars.size(), 2u);
    EXPECT_EQ(c.meta.extra.at("source"), "hotpot");
    if (c.meta.extra.at("question_id") == "h1") {
      EXPECT_NE(c.context.find("She plays the oboe"), std::string::npos);
      EXPECT_NE(c.context.find("founded by Ilsa Varn"), std::string::npos);
      EXPECT_EQ(c.answers, std::vector<std::string>{"oboe"});
    }
  }
  EXPECT_NE(error_of([&] { generate_cases("qa", {{"file", fixture("qa_hotpot.json")}, {"format", "squad"}}, 1, env); })
                .find("qa_hotpot.json"),
            std::string::npos);
}

TEST(TaskMoreSummarization, KeyFactsInReportAndSummary) {
  const TaskEnv env = plain_env();
  auto cases = generate_cases("summarization", {{"length", "3000"}, {"num_samples", "3"}, {"num_facts", "10"}}, 6, env);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.id);
    ASSERT_EQ(c.answers.size(), 1u);
    const std::string& summary = c.answers[0];
    ASSERT_EQ(c.extra_scorers.size(), 3u);
    EXPECT_EQ(c.extra_scorers[0].scorer, "rouge1");
    EXPECT_EQ(c.extra_scorers[1].scorer, "rouge2");
    EXPECT_EQ(c.extra_scorers[2].scorer, "key_fact_recall");
    const auto& keys = c.extra_scorers[2].references;
    EXPECT_EQ(keys.size(), 10u);
    EXPECT_EQ(c.meta.extra.at("key_facts").size(), 10u);
    for (const auto& k : keys) {
      EXPECT_NE(c.context.find(k), std::string::npos) << k;
      EXPECT_NE(summary.find(k), std::string::npos) << k;
    }
    EXPECT_DOUBLE_EQ(score_prediction(c.scorer, summary, c.answers), 100.0);
    auto extra = score_extra(c, summary);
    ASSERT_EQ(extra.size(), 3u);
    for (const auto& [id, s] : extra) EXPECT_DOUBLE_EQ(s, 100.0) << id;
    // Half the facts stated: recall 50.
    std::string half;
    for (size_t k = 0; k < 5; ++k) half += keys[k] + ". ";
    EXPECT_DOUBLE_EQ(score_prediction("key_fact_recall", half, keys), 50.0);
    // Facts spread evenly through the report, in order.
    EXPECT_TRUE(std::is_sorted(c.meta.needle_chars.begin(), c.meta.needle_chars.end()));
    EXPECT_NEAR(c.meta.depths.front(), 100.0 / 11, 1e-9);
    EXPECT_GT(score_prediction("rougeL", "The report describes nothing of note.", c.answers), 0.0);
    EXPECT_LT(score_prediction("rougeL", "The report describes nothing of note.", c.answers), 30.0);
  }
  EXPECT_THROW(generate_cases("summarization", {{"num_facts", "13"}}, 1, env), Error);
}

// ---------------------------------------------------------------------------------------------
// Loaders.

TEST(TaskMoreLoaders, RulerJsonlReplaysInputAndPrefixExactly) {
  const TaskEnv env = plain_env();
  const auto rows = datasets::read_jsonl(fixture("ruler_jsonl.jsonl"));
  for (const char* split : {"last_line", "none"}) {
    auto cases = generate_cases("ruler_jsonl", {{"file", fixture("ruler_jsonl.jsonl")}, {"split", split}}, 1, env);
    ASSERT_EQ(cases.size(), rows.size());
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      SCOPED_TRACE(c.id);
      const auto& row = rows[i].value;
      PromptText p = render_prompt(c, env.chat);
      EXPECT_EQ(p.context_part + p.question_part,
                row["input"].get<std::string>() + row["answer_prefix"].get<std::string>());
      EXPECT_EQ(c.answers, row["outputs"].get<std::vector<std::string>>());
      EXPECT_EQ(c.id, "ruler_jsonl/" + std::to_string(i));  // the row's position (RULER's index may repeat)
      EXPECT_EQ(c.meta.extra.at("index"), row["index"]);
      EXPECT_EQ(c.question.empty(), std::string(split) == "none");
      if (std::string(split) == "last_line") {
        EXPECT_TRUE(c.question.rfind("What", 0) == 0 || c.question.rfind("Which", 0) == 0) << c.question;
      }
      EXPECT_GT(c.meta.token_length, 0);
      EXPECT_EQ(c.meta.extra.at("length"), row["length"]);
    }
  }
  auto part = generate_cases("ruler_jsonl", {{"file", fixture("ruler_jsonl.jsonl")}, {"scorer", "string_match_part"},
                                             {"num_samples", "1"}}, 1, env);
  ASSERT_EQ(part.size(), 1u);
  EXPECT_EQ(part[0].scorer, "string_match_part");
  EXPECT_THROW(generate_cases("ruler_jsonl", {{"file", fixture("ruler_jsonl.jsonl")}, {"scorer", "bleu"}}, 1, env),
               Error);
  // With a chat template the file's text sits whole inside the user turn.
  TaskEnv chat{&smollm2(), resolve_chat_format("chatml", "")};
  auto c = generate_cases("ruler_jsonl", {{"file", fixture("ruler_jsonl.jsonl")}}, 1, chat).at(0);
  PromptText p = render_prompt(c, chat.chat);
  EXPECT_NE((p.context_part + p.question_part).find(rows[0].value["input"].get<std::string>()), std::string::npos);
  EXPECT_NE(p.question_part.find("<|im_start|>assistant\n" + c.answer_prefix), std::string::npos);
}

TEST(TaskMoreLoaders, KvpressRowsKeepTheirFields) {
  const TaskEnv env = plain_env();
  auto cases = generate_cases("kvpress_jsonl", {{"file", fixture("kvpress_jsonl.jsonl")}}, 1, env);
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].answers, std::vector<std::string>{"eleven"});
  EXPECT_EQ(cases[1].answers, (std::vector<std::string>{"the green kiosk", "green kiosk"}));
  EXPECT_EQ(cases[0].max_new_tokens, 16);
  EXPECT_EQ(cases[1].max_new_tokens, 12);
  PromptText p = render_prompt(cases[0], env.chat);
  EXPECT_EQ(p.context_part + p.question_part, cases[0].context + cases[0].question + cases[0].answer_prefix);
  auto fixed = generate_cases("kvpress_jsonl", {{"file", fixture("kvpress_jsonl.jsonl")}, {"max_new_tokens", "40"}},
                              1, env);
  EXPECT_EQ(fixed[1].max_new_tokens, 40);
}

TEST(TaskMoreLoaders, LongBenchPromptsAndMiddleTruncation) {
  const TaskEnv env = plain_env();
  auto full = generate_cases("longbench", {{"file", fixture("longbench.jsonl")}}, 1, env);
  ASSERT_EQ(full.size(), 3u);
  EXPECT_EQ(full[0].meta.extra.at("dataset"), "gov_report");
  EXPECT_EQ(full[1].meta.extra.at("dataset"), "qmsum");
  EXPECT_EQ(full[2].meta.extra.at("dataset"), "multi_news");
  EXPECT_NE(full[1].question.find("What did the group decide about the printer?"), std::string::npos);
  for (const Case& c : full) {
    EXPECT_EQ(c.max_new_tokens, 512);
    EXPECT_EQ(c.scorer, "rougeL");
    EXPECT_FALSE(c.meta.extra.contains("truncated"));
    EXPECT_DOUBLE_EQ(score_prediction(c.scorer, c.answers[0], c.answers), 100.0);
  }
  // A tight target cuts the middle of the document: its start and end survive, the intro stays whole.
  auto cut = generate_cases("longbench", {{"file", fixture("longbench.jsonl")}, {"length", "590"},
                                          {"num_samples", "1"}}, 1, env);
  ASSERT_EQ(cut.size(), 1u);
  const Case& c = cut[0];
  EXPECT_TRUE(c.meta.extra.value("truncated", false));
  EXPECT_LE(c.meta.token_length + c.max_new_tokens, 590);
  EXPECT_EQ(c.meta.target_length, 590);
  EXPECT_NE(c.context.find("Report:\nThe Office of River Maintenance"), std::string::npos);
  EXPECT_NE(c.context.find("district road budget."), std::string::npos);
  EXPECT_LT(c.context.size(), full[0].context.size());
  // The dataset from the parameter overrides the rows'; an unknown one is an error naming the line.
  auto as_news = generate_cases("longbench", {{"file", fixture("longbench.jsonl")}, {"dataset", "multi_news"}}, 1, env);
  EXPECT_EQ(as_news[0].meta.extra.at("dataset"), "multi_news");
  const std::string path = write_tmp("lb_unknown.jsonl", R"({"input": "", "context": "x", "answers": ["y"], "dataset": "narrativeqa"})" "\n");
  std::string m = error_of([&] { generate_cases("longbench", {{"file", path}}, 1, env); });
  EXPECT_NE(m.find(path + ":1:"), std::string::npos) << m;
  EXPECT_NE(m.find("narrativeqa"), std::string::npos) << m;
  EXPECT_THROW(generate_cases("longbench", {{"file", fixture("longbench.jsonl")}, {"length", "520"}}, 1, env), Error);
}

TEST(TaskMoreLoaders, BadFilesNameTheFileAndLine) {
  const TaskEnv env = plain_env();
  const std::string missing = (test::tmp_dir() / "no_such_file.jsonl").string();
  for (const char* task : {"ruler_jsonl", "kvpress_jsonl", "longbench", "qa"}) {
    std::string m = error_of([&] { generate_cases(task, {{"file", missing}}, 1, env); });
    EXPECT_NE(m.find(missing), std::string::npos) << task << ": " << m;
    EXPECT_NE(m.find("cannot open"), std::string::npos) << task << ": " << m;
  }
  EXPECT_NE(error_of([&] { generate_cases("ruler_jsonl", {}, 1, env); }).find("file=PATH"), std::string::npos);

  const std::string good = R"({"index": 0, "input": "a\nb?", "outputs": ["1"], "length": 3, "answer_prefix": ""})";
  const std::string bad = write_tmp("bad_line.jsonl", good + "\n\n" + R"({"index": 1, "input": "x", "outputs": )" + "\n");
  std::string m = error_of([&] { generate_cases("ruler_jsonl", {{"file", bad}}, 1, env); });
  EXPECT_NE(m.find(bad + ":3: malformed JSON line"), std::string::npos) << m;

  const std::string no_outputs = write_tmp("no_outputs.jsonl", good + "\r\n" + R"({"index": 1, "input": "x"})" + "\r\n");
  m = error_of([&] { generate_cases("ruler_jsonl", {{"file", no_outputs}}, 1, env); });
  EXPECT_NE(m.find(no_outputs + ":2: field 'outputs' is missing"), std::string::npos) << m;

  const std::string not_object = write_tmp("not_object.jsonl", "[1, 2]\n");
  m = error_of([&] { generate_cases("kvpress_jsonl", {{"file", not_object}}, 1, env); });
  EXPECT_NE(m.find(not_object + ":1: expected a JSON object"), std::string::npos) << m;

  const std::string wrong_type = write_tmp("wrong_type.jsonl", R"({"context": 5, "question": "q", "answer": "a", "max_new_tokens": 3})" "\n");
  m = error_of([&] { generate_cases("kvpress_jsonl", {{"file", wrong_type}}, 1, env); });
  EXPECT_NE(m.find(wrong_type + ":1: field 'context' must be a string"), std::string::npos) << m;

  const std::string no_max = write_tmp("no_max.jsonl", R"({"context": "c", "question": "q", "answer": "a"})" "\n");
  m = error_of([&] { generate_cases("kvpress_jsonl", {{"file", no_max}}, 1, env); });
  EXPECT_NE(m.find(no_max + ":1: field 'max_new_tokens'"), std::string::npos) << m;

  const std::string empty = write_tmp("empty.jsonl", "\n  \n");
  m = error_of([&] { generate_cases("kvpress_jsonl", {{"file", empty}}, 1, env); });
  EXPECT_NE(m.find(empty + ": the file holds no JSON rows"), std::string::npos) << m;

  const std::string bad_json = write_tmp("bad_squad.json", "{\n  \"data\": [\n    {\"title\": }\n  ]\n}\n");
  m = error_of([&] { generate_cases("qa", {{"file", bad_json}}, 1, env); });
  EXPECT_NE(m.find(bad_json + ":3: malformed JSON"), std::string::npos) << m;

  const std::string odd = write_tmp("odd.json", "{\"rows\": []}\n");
  m = error_of([&] { generate_cases("qa", {{"file", odd}}, 1, env); });
  EXPECT_NE(m.find("cannot tell the format"), std::string::npos) << m;

  // The CLI turns a loader error into one "error:" line and exit code 2.
  auto r = test::run_kvbench("show-case ruler_jsonl --param file='" + bad + "'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("error:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(bad + ":3:"), std::string::npos) << r.output;
}

// ---------------------------------------------------------------------------------------------
// Haystack directory.

TEST(TaskMoreCorpus, SortedTxtFilesSplitIntoSentences) {
  const auto& corpus = datasets::load_corpus(fixture("corpus"));
  ASSERT_EQ(corpus.files.size(), 2u);  // notes.md is not a .txt file
  EXPECT_NE(corpus.files[0].find("a_first.txt"), std::string::npos);
  EXPECT_NE(corpus.files[1].find("part2/b_second.txt"), std::string::npos);
  const std::vector<std::string> want = {
      "The tide came in slowly over the flat sand. ", "Gulls circled above the harbour wall! ",
      "A boy counted the boats, one by one.\n\n", "Later the fog rolled in from the sea. ",
      "Nobody could see the far shore? ", "The lamps were lit early.\n\n",
      "In the hills the shepherds moved their flocks \"before the first frost.\" ", "The path was steep and narrow. ",
      "They rested at the spring.\n\n"};
  EXPECT_EQ(corpus.units, want);
  auto s = datasets::corpus_stream(fixture("corpus"));
  EXPECT_EQ(s.unit(0), s.unit(want.size()));  // repeats from the start
  EXPECT_TRUE(datasets::corpus_has_word(fixture("corpus"), "shepherds"));
  EXPECT_FALSE(datasets::corpus_has_word(fixture("corpus"), "zebra"));

  const std::string missing = (test::tmp_dir() / "no_such_dir").string();
  EXPECT_NE(error_of([&] { datasets::load_corpus(missing); }).find(missing), std::string::npos);
  const auto empty_dir = test::tmp_dir() / "empty_corpus";
  std::filesystem::create_directories(empty_dir);
  EXPECT_NE(error_of([&] { datasets::load_corpus(empty_dir.string()); }).find("no *.txt files"), std::string::npos);
}

TEST(TaskMoreCorpus, NiahUsesTheDirectoryAndTheCliFlag) {
  const TaskEnv env = plain_env();
  auto cases = generate_cases("niah_single", {{"length", "1500"}, {"num_samples", "2"}, {"haystack", "dir"},
                                              {"haystack_dir", fixture("corpus")}, {"value_type", "word"},
                                              {"word_source", "generated"}}, 1, env);
  for (const Case& c : cases) {
    EXPECT_NE(c.context.find("The tide came in slowly"), std::string::npos);
    EXPECT_NE(c.context.find("They rested at the spring."), std::string::npos);
    EXPECT_NE(c.context.find(c.answers[0]), std::string::npos);
    EXPECT_FALSE(datasets::corpus_has_word(fixture("corpus"), c.answers[0]));
  }
  EXPECT_NE(error_of([&] { generate_cases("niah_single", {{"haystack", "dir"}}, 1, env); }).find("haystack_dir"),
            std::string::npos);
  // --haystack-dir sets haystack=dir and haystack_dir.
  const std::string model = " --model '" + smollm2_dir().string() + "'";
  auto show = test::run_kvbench("show-case niah_single --param length=400 --haystack-dir '" + fixture("corpus") + "'" +
                                model);
  EXPECT_EQ(show.exit_code, 0) << show.output;
  EXPECT_NE(show.output.find("The tide came in slowly"), std::string::npos) << show.output;
  auto clash = test::run_kvbench("show-case niah_single --param haystack=noise --haystack-dir '" + fixture("corpus") +
                                 "'" + model);
  EXPECT_EQ(clash.exit_code, 2) << clash.output;
  EXPECT_NE(clash.output.find("haystack=noise"), std::string::npos) << clash.output;
  auto no_param = test::run_kvbench("show-case mqar --haystack-dir '" + fixture("corpus") + "'");
  EXPECT_EQ(no_param.exit_code, 2) << no_param.output;
  EXPECT_NE(no_param.output.find("no haystack_dir parameter"), std::string::npos) << no_param.output;
}

// ---------------------------------------------------------------------------------------------
// Scorers.

TEST(TaskMoreScorers, RougeF1EdgeCases) {
  const std::vector<std::string> ref = {"The cat sat on the mat."};
  for (const char* id : {"rouge1", "rouge2", "rougeL"}) {
    SCOPED_TRACE(id);
    EXPECT_DOUBLE_EQ(score_prediction(id, "the cat sat on the mat", ref), 100.0);
    EXPECT_DOUBLE_EQ(score_prediction(id, "", ref), 0.0);
    EXPECT_DOUBLE_EQ(score_prediction(id, "   \n\t", ref), 0.0);
    EXPECT_DOUBLE_EQ(score_prediction(id, "日本語のテキスト", ref), 0.0);  // non-ASCII is dropped by the tokenizer
    EXPECT_THROW(score_prediction(id, "x", {}), Error);
    // Max over references: the second reference matches exactly.
    EXPECT_DOUBLE_EQ(score_prediction(id, "dogs bark loudly", {"the cat sat", "Dogs bark loudly!"}), 100.0);
  }
  // Stemming on: "running cats" == "run cat".
  EXPECT_DOUBLE_EQ(rouge1_f1("running cats", {"run cat"}), 100.0);
  // Hand-computed: prediction "the cat sat" vs reference (6 tokens): P = 3/3, R = 3/6, F = 2/3.
  EXPECT_NEAR(rouge1_f1("the cat sat", ref), 200.0 / 3.0, 1e-9);
  EXPECT_NEAR(rougeL_f1("the cat sat", ref), 200.0 / 3.0, 1e-9);
  // Bigrams: "the cat", "cat sat" both in the reference's 5 bigrams: P = 1, R = 2/5.
  EXPECT_NEAR(rouge2_f1("the cat sat", ref), 100.0 * 2 * 0.4 / 1.4, 1e-9);
  // Accented words split at the accent: "café" -> "caf".
  EXPECT_DOUBLE_EQ(rouge1_f1("café", {"caf"}), 100.0);
}

TEST(TaskMoreScorers, KeyFactRecallEdgeCases) {
  EXPECT_DOUBLE_EQ(key_fact_recall("", {"Pagaildale", "1926"}), 0.0);
  EXPECT_DOUBLE_EQ(key_fact_recall("Founded in 1926 in PAGAILDALE.", {"Pagaildale", "1926"}), 100.0);
  EXPECT_DOUBLE_EQ(key_fact_recall("founded in 1926", {"Pagaildale", "1926"}), 50.0);
  EXPECT_DOUBLE_EQ(key_fact_recall("led by Fudoura\n  Thisou", {"Fudoura Thisou"}), 100.0);  // whitespace runs
  EXPECT_DOUBLE_EQ(key_fact_recall("ÄRGER in Zürich", {"ärger", "zürich", "Genf"}), 200.0 / 3.0);  // unicode case
  EXPECT_DOUBLE_EQ(key_fact_recall("a\x01" "b", {"a b"}), 100.0);  // control characters count as whitespace
  EXPECT_THROW(key_fact_recall("x", {}), Error);
  EXPECT_DOUBLE_EQ(score_prediction("key_fact_recall", "x y", {"y"}), 100.0);
  Case c;
  c.extra_scorers = {{"rouge1", {"a b c"}}, {"key_fact_recall", {"b", "z"}}};
  auto s = score_extra(c, "a b");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].first, "rouge1");
  EXPECT_NEAR(s[0].second, 100.0 * 2 * (1.0 * 2.0 / 3.0) / (1.0 + 2.0 / 3.0), 1e-9);
  EXPECT_EQ(s[1].first, "key_fact_recall");
  EXPECT_DOUBLE_EQ(s[1].second, 50.0);
}

}  // namespace
}  // namespace kvb
