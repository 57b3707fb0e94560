// Needle-in-a-haystack case builder shared by the niah_* tasks (see niah.h). Structure follows
// RULER's niah generator (needle sentence per key/value, insertion at sentence boundaries by
// depth, binary-searched haystack size); all wording is kvbench's own. Tests: tests/test_tasks.cpp.
#include "tasks/niah.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>

#include "core/error.h"
#include "core/random.h"
#include "datasets/text_sources.h"
#include "eval/prompt.h"

namespace kvb::tasks {
namespace {

namespace ds = kvb::datasets;

struct Nouns {
  std::string one, many;
};
Nouns value_nouns(const std::string& type) {
  if (type == "number") return {"special number", "special numbers"};
  if (type == "word") return {"special word", "special words"};
  return {"special ID", "special IDs"};
}

std::string make_key(Rng& rng, const std::string& type) {
  return type == "uuid" ? ds::uuid4(rng) : ds::key_phrase(rng);
}

std::string make_value(Rng& rng, const NiahConfig& cfg) {
  if (cfg.value_type == "number") return ds::seven_digit_number(rng);
  if (cfg.value_type == "uuid") return ds::uuid4(rng);
  const auto& words = ds::word_list(cfg.word_source);
  while (true) {
    const std::string& w = rng.pick(words);
    if (!ds::is_haystack_word(w) && !(cfg.haystack == "dir" && ds::corpus_has_word(cfg.haystack_dir, w))) return w;
  }
}

std::string needle_sentence(const std::string& key, const std::string& value, const Nouns& n) {
  return fmt::format("A {} for \"{}\" is {}.", n.one, key, value);
}

std::string join_keys(const std::vector<std::string>& keys) {
  std::string out;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) out += keys.size() == 2 ? " and " : (i + 1 == keys.size() ? ", and " : ", ");
    out += "\"" + keys[i] + "\"";
  }
  return out;
}

void check_choice(const std::string& task, const std::string& key, const std::string& value,
                  std::initializer_list<const char*> valid) {
  for (const char* v : valid)
    if (value == v) return;
  std::string list;
  for (const char* v : valid) list += (list.empty() ? "" : ", ") + std::string(v);
  KVB_FAIL("task {}: parameter {}='{}' is not one of: {}", task, key, value, list);
}

}  // namespace

NiahConfig niah_config(const std::string& task, const TaskParams& p) {
  NiahConfig c;
  c.task = task;
  c.haystack = p.get_string("haystack", c.haystack);
  c.key_type = p.get_string("key_type", c.key_type);
  c.value_type = p.get_string("value_type", c.value_type);
  c.num_keys = int(p.get_int("num_keys", c.num_keys));
  c.num_values = int(p.get_int("num_values", c.num_values));
  c.num_queries = int(p.get_int("num_queries", c.num_queries));
  c.depth = p.get_string("depth", c.depth);
  c.length = int(p.get_int("length", c.length));
  c.max_new_tokens = int(p.get_int("max_new_tokens", c.max_new_tokens));
  c.num_samples = int(p.get_int("num_samples", c.num_samples));
  c.word_source = p.get_string("word_source", c.word_source);
  c.haystack_dir = p.get_string("haystack_dir", c.haystack_dir);
  c.form = p.get_string("form", c.form);
  c.vocab_size = int(p.get_int("vocab_size", c.vocab_size));
  c.questions = questions_per_context(task, p);
  check_choice(task, "form", c.form, {"text", "symbolic"});
  check_choice(task, "haystack", c.haystack, {"noise", "essay", "needle", "dir"});
  KVB_CHECK(c.haystack != "dir" || !c.haystack_dir.empty(),
            "task {}: haystack=dir needs haystack_dir=DIR (or --haystack-dir DIR)", task);
  if (c.haystack == "dir") ds::load_corpus(c.haystack_dir);  // a missing or empty directory fails here
  check_choice(task, "key_type", c.key_type, {"word", "uuid"});
  check_choice(task, "value_type", c.value_type, {"number", "word", "uuid"});
  check_choice(task, "word_source", c.word_source, {"auto", "system", "generated"});
  KVB_CHECK(c.num_keys >= 1 && c.num_values >= 1 && c.num_queries >= 1 && c.num_keys <= 1000 &&
                c.num_values <= 1000 && c.num_queries <= 1000,
            "task {}: num_keys, num_values and num_queries must be in 1..1000", task);
  c.num_keys = std::max(c.num_keys, c.num_queries);  // RULER raises K to Q
  KVB_CHECK(c.questions == 1 || c.form == "text", "task {}: questions_per_context > 1 needs form=text", task);
  KVB_CHECK(int64_t(c.num_queries) * c.questions <= 1000, "task {}: num_queries * questions_per_context must be <= 1000",
            task);
  c.num_keys = std::max(c.num_keys, c.num_queries * c.questions);  // every question asks keys of its own
  KVB_CHECK(c.num_samples >= 0, "task {}: num_samples must be >= 0, got {}", task, c.num_samples);
  KVB_CHECK(c.max_new_tokens >= 1, "task {}: max_new_tokens must be >= 1", task);
  if (c.depth != "random") {
    double d = p.get_double("depth");
    KVB_CHECK(d >= 0 && d <= 100, "task {}: depth must be 'random' or a percent in 0..100, got {}", task, c.depth);
  }
  return c;
}

std::vector<ParamSpec> niah_params(const std::vector<std::string>& keys,
                                   const std::vector<std::pair<std::string, std::string>>& defaults) {
  const std::vector<ParamSpec> all = {
      {"length", "4096", "target tokens: prompt (chat template applied) + max_new_tokens"},
      {"num_samples", "100", "cases to generate"},
      {"max_new_tokens", "128", "tokens the model may generate"},
      {"haystack", "essay", "noise | essay | needle (distractor needles) | dir (the *.txt files under haystack_dir)"},
      {"key_type", "word", "word (adjective-noun) | uuid"},
      {"value_type", "number", "number (7 digits) | word | uuid"},
      {"num_keys", "1", "needles with distinct keys (raised to num_queries)"},
      {"num_values", "1", "values per key"},
      {"num_queries", "1", "keys asked about"},
      {"depth", "random", "needle depth: 'random' (40 evenly spaced values) or a percent 0..100"},
      {"word_source", "auto", "word values from: auto | system (/usr/share/dict/words) | generated"},
      {"questions_per_context", "1", "questions asked of one context, each about num_queries keys of its own "
                                     "(rows linked by context_id; the context is prefilled once)"},
  };
  std::vector<ParamSpec> out;
  for (const auto& k : keys) {
    auto it = std::find_if(all.begin(), all.end(), [&](const ParamSpec& s) { return s.name == k; });
    KVB_CHECK(it != all.end(), "niah_params: unknown key {}", k);
    ParamSpec s = *it;
    for (const auto& [name, def] : defaults)
      if (name == k) s.default_value = def;
    out.push_back(s);
    if (k == "haystack") out.push_back({"haystack_dir", "", "directory of *.txt files for haystack=dir (--haystack-dir)"});
  }
  // Every NIAH task also renders in symbolic form (token ids for the recall oracle).
  out.push_back({"form", "text", "text (prompt for an LLM) | symbolic (token ids + labels for builtin:oracle)"});
  out.push_back({"vocab_size", "8192", "symbolic form: vocabulary the ids are drawn from (the oracle's --vocab)"});
  return out;
}

Case make_niah_case(const NiahConfig& cfg, uint64_t seed, uint64_t index, const std::string& id,
                    const std::vector<double>& fixed_depths, const TaskEnv& env) {
  if (cfg.form == "symbolic") return make_symbolic_niah_case(cfg, seed, index, id, fixed_depths);
  NiahConfig one = cfg;
  one.questions = 1;
  return make_niah_cases(one, seed, index, id, fixed_depths, env).at(0);
}

std::vector<Case> make_niah_cases(const NiahConfig& cfg, uint64_t seed, uint64_t index, const std::string& id,
                                  const std::vector<double>& fixed_depths, const TaskEnv& env) {
  if (cfg.form == "symbolic") return {make_symbolic_niah_case(cfg, seed, index, id, fixed_depths)};
  Rng rng = Rng::derive(seed, index);
  const Nouns nouns = value_nouns(cfg.value_type);

  // Keys and values: all distinct.
  std::vector<std::string> keys;
  std::set<std::string> used;
  while (int(keys.size()) < cfg.num_keys) {
    std::string k = make_key(rng, cfg.key_type);
    if (used.insert(k).second) keys.push_back(k);
  }
  std::vector<std::vector<std::string>> values(keys.size());
  for (auto& vs : values)
    while (int(vs.size()) < cfg.num_values) {
      std::string v = make_value(rng, cfg);
      if (used.insert(v).second) vs.push_back(v);
    }
  std::vector<std::string> needles;
  for (size_t k = 0; k < keys.size(); ++k)
    for (const auto& v : values[k]) needles.push_back(needle_sentence(keys[k], v, nouns));
  rng.shuffle(needles);

  // Depths, ascending (needle j is placed at depth_j).
  std::vector<double> depths = fixed_depths;
  if (depths.empty()) {
    if (cfg.depth == "random") {
      const size_t n = needles.size();
      std::vector<size_t> picks = rng.sample_indices(40, std::min<size_t>(n, 40));
      while (picks.size() < n) picks.push_back(rng.below(40));
      for (size_t i : picks) depths.push_back(100.0 * double(i) / 39.0);
    } else {
      depths.assign(needles.size(), TaskParams{{"depth", cfg.depth}}.get_double("depth"));
    }
  }
  KVB_CHECK(depths.size() == needles.size(), "task {}: {} depths for {} needles", cfg.task, depths.size(),
            needles.size());
  std::sort(depths.begin(), depths.end());

  // Haystack units.
  std::shared_ptr<ds::UnitStream> stream;
  if (cfg.haystack == "noise") {
    stream = std::make_shared<ds::UnitStream>(ds::noise_stream());
  } else if (cfg.haystack == "essay") {
    stream = std::make_shared<ds::UnitStream>(ds::essay_stream(rng.next()));
  } else if (cfg.haystack == "dir") {  // the user's corpus from its first sentence, as RULER's essays
    stream = std::make_shared<ds::UnitStream>(ds::corpus_stream(cfg.haystack_dir));
  } else {  // distractor needles with fresh keys and values
    auto drng = std::make_shared<Rng>(rng.next());
    auto taken = std::make_shared<std::set<std::string>>(used);
    NiahConfig dcfg = cfg;
    stream = std::make_shared<ds::UnitStream>([drng, taken, dcfg, nouns](size_t) {
      std::string k, v;
      do k = make_key(*drng, dcfg.key_type); while (taken->count(k));
      do v = make_value(*drng, dcfg); while (taken->count(v));
      return needle_sentence(k, v, nouns) + " ";
    });
  }

  const int q = cfg.num_queries;
  const std::string instruction = fmt::format(
      "The text below hides some {}. Read it closely and remember them, because you will be asked about them "
      "after the text.",
      nouns.many);
  // Question j asks about keys [j * q, (j + 1) * q).
  std::vector<Question> questions;
  for (int j = 0; j < cfg.questions; ++j) {
    std::vector<std::string> asked(keys.begin() + j * q, keys.begin() + (j + 1) * q);
    Question qu;
    for (int i = j * q; i < (j + 1) * q; ++i) qu.answers.insert(qu.answers.end(), values[i].begin(), values[i].end());
    const bool single = qu.answers.size() == 1;
    qu.question = single ? fmt::format("What is the {} for {} in the text above?", nouns.one, join_keys(asked))
                         : fmt::format("What are all the {} for {} in the text above?", nouns.many, join_keys(asked));
    qu.answer_prefix = single ? fmt::format("The {} for {} in the text above is", nouns.one, join_keys(asked))
                              : fmt::format("The {} for {} in the text above are", nouns.many, join_keys(asked));
    qu.extra = {{"queried_keys", asked}};
    questions.push_back(std::move(qu));
  }
  const Question& fit_question = questions[longest_question(questions, env)];  // the context fits every question

  auto build = [&](int units) {
    Case c;
    c.id = id;
    c.question = fit_question.question;
    c.answer_prefix = fit_question.answer_prefix;
    c.answers = fit_question.answers;
    c.max_new_tokens = cfg.max_new_tokens;
    c.scorer = "string_match_all";
    c.meta.depths = depths;
    std::string text = instruction + "\n\n";
    // Needle j goes at the unit boundary whose share of the haystack's characters is nearest to
    // depth_j (characters track tokens far better than unit counts do).
    std::vector<size_t> cum(size_t(units) + 1, 0);
    for (int u = 0; u < units; ++u) cum[size_t(u) + 1] = cum[size_t(u)] + stream->unit(size_t(u)).size();
    auto boundary = [&](double depth) {
      const double want = depth / 100.0 * double(cum.back());
      int best = 0;
      for (int u = 1; u <= units; ++u)
        if (std::abs(double(cum[size_t(u)]) - want) < std::abs(double(cum[size_t(best)]) - want)) best = u;
      return best;
    };
    std::vector<int> at;
    for (double d : depths) at.push_back(boundary(d));
    size_t next_needle = 0;
    for (int u = 0; u <= units; ++u) {
      while (next_needle < needles.size() && at[next_needle] <= u) {
        c.meta.needle_chars.push_back(int(text.size()));
        text += needles[next_needle++] + " ";
      }
      if (u < units) text += stream->unit(size_t(u));
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\n')) text.pop_back();
    c.context = std::move(text);
    c.meta.extra = {{"haystack", cfg.haystack}, {"key_type", cfg.key_type}, {"value_type", cfg.value_type},
                    {"keys", keys},         {"queried_keys", fit_question.extra["queried_keys"]},
                    {"needles", needles}};
    return c;
  };
  const Case base = fit_to_length(build, cfg.length, env, fmt::format("task {} case {}", cfg.task, id));
  if (questions.size() == 1) return {base};
  return cases_for_questions(base, questions, env);
}

std::vector<Case> generate_niah(const NiahConfig& cfg, uint64_t seed, const TaskEnv& env) {
  std::vector<Case> out;
  for (int i = 0; i < cfg.num_samples; ++i)
    for (Case& c : make_niah_cases(cfg, seed, uint64_t(i), fmt::format("{}/{}/{}", cfg.task, seed, i), {}, env))
      out.push_back(std::move(c));
  return out;
}

}  // namespace kvb::tasks
