// cwe: common words extraction as RULER's common_words_extraction: a numbered word list where num_cw
// words appear freq_cw times and every other word freq_ucw times; answer = the common words. Below
// 4K tokens (RULER) or when 30 / 3 do not fit, the counts are 6 / 1. Try: kvbench show-case cwe --model PATH.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "core/random.h"
#include "datasets/text_sources.h"
#include "eval/prompt.h"
#include "eval/task.h"

namespace kvb::tasks {
namespace {

// "1. word 2. word ..." with `common` x fc and `uncommon` x fu entries shuffled by `order_seed`.
std::string numbered_list(const std::vector<std::string>& common, int fc, const std::vector<std::string>& uncommon,
                          int fu, uint64_t order_seed) {
  std::vector<const std::string*> entries;
  for (const auto& w : common)
    for (int r = 0; r < fc; ++r) entries.push_back(&w);
  for (const auto& w : uncommon)
    for (int r = 0; r < fu; ++r) entries.push_back(&w);
  Rng order(order_seed);
  order.shuffle(entries);
  std::string s;
  for (size_t i = 0; i < entries.size(); ++i) s += fmt::format("{}{}. {}", i ? " " : "", i + 1, *entries[i]);
  return s;
}

struct Counts {
  int fc, fu;                  // common / rare repeats in the real list
  int ex_fc, ex_fu, ex_rare;   // the worked example: repeats and number of rare words
};

std::vector<Case> generate_cwe(const TaskParams& p, uint64_t seed, const TaskEnv& env) {
  const int length = int(p.get_int("length")), samples = int(p.get_int("num_samples"));
  const int max_new = int(p.get_int("max_new_tokens")), num_cw = int(p.get_int("num_cw"));
  const bool auto_fc = p.get_string("freq_cw") == "auto", auto_fu = p.get_string("freq_ucw") == "auto";
  // RULER's sizes: from 4096 tokens common x 30, rare x 3, example num_cw x 10 + 3 num_cw rare x 3;
  // below, common x 6, rare x 1, example num_cw x 3 + num_cw rare x 1. Explicit counts override.
  auto counts = [&](bool long_ctx) {
    Counts c = long_ctx ? Counts{30, 3, 10, 3, 3 * num_cw} : Counts{6, 1, 3, 1, num_cw};
    if (!auto_fc) c.fc = int(p.get_int("freq_cw"));
    if (!auto_fu) c.fu = int(p.get_int("freq_ucw"));
    return c;
  };
  const auto& pool = datasets::word_list(p.get_string("word_source"));
  KVB_CHECK(num_cw >= 1 && num_cw <= 100, "task cwe: num_cw must be in 1..100, got {}", num_cw);
  for (bool long_ctx : {false, true}) {
    const Counts c = counts(long_ctx);
    KVB_CHECK(c.fu >= 1 && c.fc > c.fu, "task cwe: need freq_cw > freq_ucw >= 1, got {} and {}", c.fc, c.fu);
  }
  KVB_CHECK(samples >= 0 && max_new >= 1, "task cwe: num_samples >= 0 and max_new_tokens >= 1 required");
  const size_t reserved = size_t(5 * num_cw);
  KVB_CHECK(pool.size() > reserved, "task cwe: the word list has only {} words", pool.size());

  std::vector<Case> out;
  for (int i = 0; i < samples; ++i) {
    Rng rng = Rng::derive(seed, uint64_t(i));
    std::vector<size_t> perm = rng.sample_indices(pool.size(), pool.size());
    auto words = [&](size_t from, size_t n) {
      std::vector<std::string> w;
      for (size_t k = from; k < from + n; ++k) w.push_back(pool[perm[k]]);
      return w;
    };
    const std::vector<std::string> common = words(0, size_t(num_cw));
    const std::vector<std::string> ex_common = words(size_t(num_cw), size_t(num_cw));
    const uint64_t ex_order = rng.next(), order = rng.next();
    const std::string question = fmt::format(
        "Which {} words appear most often in the numbered list above? Give only the words.", num_cw);
    const std::string prefix = fmt::format("The {} words that appear most often in the list are:", num_cw);
    const std::string id = fmt::format("cwe/{}/{}", seed, i);
    auto builder = [&](const Counts& n) {
      const std::string head = fmt::format(
          "Below is a numbered list of words. A few words are repeated many times; every other word appears only "
          "a few times. Afterwards you will be asked for the words that appear most often.\n\nHere is a short "
          "example first.\n\n{}\n\nQuestion: {}\nAnswer: {} {}.\n\nNow the real list.\n\n",
          numbered_list(ex_common, n.ex_fc, words(size_t(2 * num_cw), size_t(n.ex_rare)), n.ex_fu, ex_order),
          question, prefix, fmt::join(ex_common, ", "));
      return [&, head, n](int units) {
        KVB_CHECK(reserved + size_t(units) <= pool.size(),
                  "task cwe case {}: {} rare words needed but the word list has {} (use word_source=system or a "
                  "shorter length)", id, units, pool.size() - reserved);
        Case c;
        c.id = id;
        c.question = question;
        c.answer_prefix = prefix;
        c.answers = common;
        c.max_new_tokens = max_new;
        c.scorer = "string_match_all";
        c.context = head + numbered_list(common, n.fc, words(reserved, size_t(units)), n.fu, order);
        c.meta.extra = {{"common_words", common}, {"freq_cw", n.fc}, {"freq_ucw", n.fu}};
        return c;
      };
    };
    bool long_ctx = length >= 4096;
    if (long_ctx && (auto_fc || auto_fu)) {
      // The long counts need the list of common words alone to fit; with costly tokens (made-up
      // words) they may not at 4K, and the short counts are used instead.
      KVB_CHECK(env.tokenizer != nullptr, "task cwe: fitting to a token length needs a tokenizer");
      Case base = builder(counts(true))(0);
      long_ctx = int(encode_prompt(base, env).size()) + max_new <= length;
    }
    out.push_back(fit_to_length(builder(counts(long_ctx)), length, env, fmt::format("task cwe case {}", id)));
  }
  return out;
}

KVB_REGISTER_TASK(cwe, 1, "RULER-style common words extraction: find the most repeated words of a list",
                  "string_match_all",
                  std::vector<ParamSpec>{
                      {"length", "4096", "target tokens: prompt (chat template applied) + max_new_tokens"},
                      {"num_samples", "100", "cases to generate"},
                      {"max_new_tokens", "120", "tokens the model may generate"},
                      {"num_cw", "10", "common words (the answer)"},
                      {"freq_cw", "auto", "times each common word appears (auto: 30 from 4096 tokens if the list fits, else 6)"},
                      {"freq_ucw", "auto", "times each other word appears (auto: 3 from 4096 tokens if the list fits, else 1)"},
                      {"word_source", "auto", "words from: auto | system (/usr/share/dict/words) | generated"},
                  },
                  generate_cwe);

}  // namespace
}  // namespace kvb::tasks
