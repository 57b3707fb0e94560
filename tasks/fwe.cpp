// fwe: frequent words extraction as RULER's freq_words_extraction: coded pseudo-words whose counts
// follow a Zipf law (rank k ~ k^-alpha), the top-ranked one a noise token of dots; answer = the next 3.
// Try: kvbench show-case fwe --param alpha=2.0 --model PATH; tests/test_tasks_more.cpp.
#include <fmt/format.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "core/random.h"
#include "eval/prompt.h"
#include "eval/task.h"

namespace kvb::tasks {
namespace {

// Riemann zeta(alpha), alpha > 1: 1000 terms plus the Euler-Maclaurin tail (error < 1e-12).
double zeta(double alpha) {
  const int K = 1000;
  double s = 0;
  for (int k = 1; k < K; ++k) s += std::pow(double(k), -alpha);
  const double tail = std::pow(double(K), 1.0 - alpha) / (alpha - 1.0) + 0.5 * std::pow(double(K), -alpha) +
                      alpha / 12.0 * std::pow(double(K), -alpha - 1.0);
  return s + tail;
}

// Count of the rank-k word (k from 1) among `total` words: floor(total k^-alpha / zeta(alpha)).
std::vector<int> zipf_counts(int vocab, int total, double alpha) {
  const double z = zeta(alpha);
  std::vector<int> counts;
  for (int k = 1; k <= vocab; ++k) counts.push_back(int(std::floor(double(total) * std::pow(double(k), -alpha) / z)));
  return counts;
}

std::vector<Case> generate_fwe(const TaskParams& p, uint64_t seed, const TaskEnv& env) {
  const int length = int(p.get_int("length")), samples = int(p.get_int("num_samples"));
  const int max_new = int(p.get_int("max_new_tokens")), word_len = int(p.get_int("word_length"));
  const double alpha = p.get_double("alpha");
  int vocab = int(p.get_int("vocab_size"));
  if (vocab == 0) vocab = std::max(10, (length - 50) / 50);  // RULER: (max_len - 50) / 50
  KVB_CHECK(alpha > 1.0 && alpha <= 10.0, "task fwe: alpha must be in (1, 10], got {}", alpha);
  KVB_CHECK(word_len >= 3 && word_len <= 16, "task fwe: word_length must be in 3..16, got {}", word_len);
  KVB_CHECK(vocab >= 5 && vocab <= 100000, "task fwe: vocab_size must be 0 (auto) or in 5..100000, got {}", vocab);
  KVB_CHECK(samples >= 0 && max_new >= 1, "task fwe: num_samples >= 0 and max_new_tokens >= 1 required");
  const std::string noise = "...";

  std::vector<Case> out;
  for (int i = 0; i < samples; ++i) {
    Rng rng = Rng::derive(seed, uint64_t(i));
    std::vector<std::string> words{noise};  // rank 1 is the noise token
    std::set<std::string> seen;
    while (int(words.size()) < vocab) {
      std::string w;
      for (int c = 0; c < word_len; ++c) w.push_back(char('a' + rng.below(26)));
      if (seen.insert(w).second) words.push_back(w);
    }
    const std::vector<std::string> answers(words.begin() + 1, words.begin() + 4);
    const uint64_t order_seed = rng.next();
    const std::string id = fmt::format("fwe/{}/{}", seed, i);
    const std::string head =
        "The text below is written in a made-up code: a long run of coded words separated by spaces. Count how "
        "often each coded word occurs, because afterwards you will be asked for the three most frequent ones. "
        "The dots (...) are not words; leave them out.\n\n";
    auto build = [&](int units) {  // a unit is 10 words of the Zipf budget (RULER's increment)
      const std::vector<int> counts = zipf_counts(vocab, 10 * units, alpha);
      std::vector<const std::string*> seq;
      for (int k = 0; k < vocab; ++k)
        for (int r = 0; r < counts[size_t(k)]; ++r) seq.push_back(&words[size_t(k)]);
      Rng order(order_seed);
      order.shuffle(seq);
      Case c;
      c.id = id;
      c.context = head;
      for (size_t j = 0; j < seq.size(); ++j) c.context += (j ? " " : "") + *seq[j];
      c.question = "Which three coded words occur most often in the coded text above? Do not count the dots. Give "
                   "only the three words.";
      c.answer_prefix = "The three most frequent coded words are:";
      c.answers = answers;
      c.max_new_tokens = max_new;
      c.scorer = "string_match_all";
      c.meta.extra = {{"alpha", alpha}, {"vocab_size", vocab}, {"total_words", int(seq.size())},
                      {"top_counts", std::vector<int>(counts.begin(), counts.begin() + 5)}};
      return c;
    };
    Case c = fit_to_length(build, length, env, fmt::format("task fwe case {}", id));
    const auto top = c.meta.extra.at("top_counts").get<std::vector<int>>();
    KVB_CHECK(top[3] > top[4] && top[3] > 0,
              "task fwe case {}: length {} leaves too few words for a unique top 3 (counts {}, {}, {} vs {})", id,
              length, top[1], top[2], top[3], top[4]);
    out.push_back(std::move(c));
  }
  return out;
}

KVB_REGISTER_TASK(fwe, 1, "RULER-style frequent words extraction: the 3 most frequent coded words (Zipf counts)",
                  "string_match_all",
                  std::vector<ParamSpec>{
                      {"length", "4096", "target tokens: prompt (chat template applied) + max_new_tokens"},
                      {"num_samples", "100", "cases to generate"},
                      {"max_new_tokens", "50", "tokens the model may generate"},
                      {"alpha", "2.0", "Zipf exponent: the rank-k word appears ~ k^-alpha times"},
                      {"vocab_size", "0", "coded words (0: (length - 50) / 50, as RULER)"},
                      {"word_length", "6", "letters per coded word"},
                  },
                  generate_fwe);

}  // namespace
}  // namespace kvb::tasks
