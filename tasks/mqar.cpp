// mqar: multi-query associative recall (Zoology, Arora et al. 2023, arXiv:2312.04927): n key-value
// pairs, then every key queried again after a power-law gap. form=symbolic gives token ids + labels
// as Zoology does; form=text renders the same instance as a prompt. Try: kvbench show-case mqar.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/random.h"
#include "eval/prompt.h"
#include "eval/task.h"

namespace kvb::tasks {
namespace {

// Token id -> a pronounceable word (3 base-32 syllables: bijective for ids < 32768).
std::string id_word(int32_t id) {
  static const char* const kCons = "bdfgklmnprstvz";  // first 8 used
  static const char* const kVow = "aeio";
  std::string w;
  int x = id;
  for (int i = 0; i < 3; ++i) {
    int s = x % 32;
    x /= 32;
    w.push_back(kCons[s / 4]);
    w.push_back(kVow[s % 4]);
  }
  return w;
}

// Gaps g in [0, space) drawn without replacement with p(g) ~ a (g+1)^(a-1) (Zoology's power law).
// Weights are quantized to integers so the draw is the same on every libm.
std::vector<int> sample_gaps(Rng& rng, int space, int n, double a) {
  std::vector<uint64_t> w(static_cast<size_t>(space));
  for (int g = 0; g < space; ++g) w[size_t(g)] = uint64_t(std::pow(double(g + 1), a - 1.0) * 4294967296.0) + 1;
  std::vector<int> out;
  for (int i = 0; i < n; ++i) {
    uint64_t total = 0;
    for (uint64_t x : w) total += x;
    uint64_t r = rng.below(total);
    int g = 0;
    while (r >= w[size_t(g)]) r -= w[size_t(g++)];
    out.push_back(g);
    w[size_t(g)] = 0;
  }
  return out;
}

std::vector<Case> generate_mqar(const TaskParams& p, uint64_t seed, const TaskEnv& env) {
  const int V = int(p.get_int("vocab_size")), L = int(p.get_int("seq_len")), n = int(p.get_int("num_kv_pairs"));
  const int passes = int(p.get_int("num_passes"));
  const double a = p.get_double("power_a");
  const bool random_fill = p.get_bool("random_non_queries");
  const std::string form = p.get_string("form");
  const int samples = int(p.get_int("num_samples"));
  int max_new = int(p.get_int("max_new_tokens"));
  KVB_CHECK(form == "text" || form == "symbolic", "task mqar: form must be text or symbolic, got '{}'", form);
  KVB_CHECK(L >= 2 && L % 2 == 0, "task mqar: seq_len must be even and >= 2, got {}", L);
  KVB_CHECK(V > L && V <= 32768, "task mqar: vocab_size must exceed seq_len and be <= 32768, got {}", V);
  KVB_CHECK(n >= 1 && passes >= 1, "task mqar: num_kv_pairs and num_passes must be >= 1");
  KVB_CHECK(n < V / 2, "task mqar: {} keys do not fit in the key half [1, {}) of the vocabulary", n, V / 2);
  const int C = 2 * n * passes;
  KVB_CHECK(C + 2 * n <= L, "task mqar: 2*num_kv_pairs*num_passes + 2*num_kv_pairs = {} exceeds seq_len {}",
            C + 2 * n, L);
  KVB_CHECK(a > 0 && a <= 1, "task mqar: power_a must be in (0, 1], got {}", a);
  KVB_CHECK(samples >= 0, "task mqar: num_samples must be >= 0");
  const int questions = questions_per_context("mqar", p);
  KVB_CHECK(questions == 1 || form == "text", "task mqar: questions_per_context > 1 needs form=text");
  KVB_CHECK(questions <= n, "task mqar: questions_per_context {} exceeds num_kv_pairs {} (each question asks at least "
            "one word)", questions, n);
  if (max_new <= 0) max_new = 8 * n + 8;
  const int space = (L - C) / 2;

  std::vector<Case> out;
  for (int s = 0; s < samples; ++s) {
    Rng rng = Rng::derive(seed, uint64_t(s));
    std::vector<int32_t> keys, values;
    for (size_t i : rng.sample_indices(size_t(V / 2 - 1), size_t(n))) keys.push_back(int32_t(i + 1));
    for (size_t i : rng.sample_indices(size_t(V - V / 2), size_t(n))) values.push_back(int32_t(V / 2 + i));
    std::vector<int> gaps = sample_gaps(rng, space, n, a);

    std::vector<int32_t> ex(size_t(L + 1), 0);
    for (int pass = 0; pass < passes; ++pass)
      for (int i = 0; i < n; ++i) {
        ex[size_t(2 * n * pass + 2 * i)] = keys[size_t(i)];
        ex[size_t(2 * n * pass + 2 * i + 1)] = values[size_t(i)];
      }
    std::vector<int32_t> labels(size_t(L), -100);
    for (int i = 0; i < n; ++i) {
      const int at = C + 2 * gaps[size_t(i)];
      ex[size_t(at)] = keys[size_t(i)];
      ex[size_t(at + 1)] = values[size_t(i)];
      labels[size_t(at)] = values[size_t(i)];
    }
    std::vector<int32_t> inputs(ex.begin(), ex.begin() + L);
    if (random_fill)
      for (auto& t : inputs)
        if (t == 0) t = int32_t(rng.below(uint64_t(V)));

    // Query order: by position after the context.
    std::vector<int> order(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) order[size_t(i)] = i;
    std::sort(order.begin(), order.end(), [&](int x, int y) { return gaps[size_t(x)] < gaps[size_t(y)]; });

    Case c;
    c.id = fmt::format("mqar/{}/{}", seed, s);
    c.scorer = "mqar_accuracy";
    c.max_new_tokens = max_new;
    for (int i : order) c.answers.push_back(std::to_string(values[size_t(i)]));
    c.meta.extra = {{"form", form}, {"keys", keys}, {"values", values}, {"gaps", gaps}, {"context_tokens", C}};
    if (form == "symbolic") {
      c.input_ids = std::move(inputs);
      c.labels = std::move(labels);
      for (int i : order) c.meta.needle_tokens.push_back(2 * i);  // where each queried pair sits
      out.push_back(std::move(c));
      continue;
    }
    std::string ctx =
        "Below is a list of pairs, each a made-up word followed by its number. Learn which number belongs "
        "to which word.\n\n";
    for (int pass = 0; pass < passes; ++pass)
      for (int i = 0; i < n; ++i) {
        if (pass == 0) c.meta.needle_chars.push_back(int(ctx.size()));
        ctx += fmt::format("{}: {}\n", id_word(keys[size_t(i)]), values[size_t(i)]);
      }
    ctx.pop_back();
    std::vector<std::string> asked;
    for (int i : order) asked.push_back(id_word(keys[size_t(i)]));
    c.context = std::move(ctx);
    auto question_for = [](const std::vector<std::string>& words) {
      return fmt::format("Give the number that belongs to each of these words, in this order: {}. Answer with "
                         "one line per word, written as word: number.",
                         fmt::join(words, ", "));
    };
    c.question = question_for(asked);
    c.answer_prefix = "";
    for (int i = 0; i < n; ++i) c.meta.depths.push_back(100.0 * i / std::max(1, n - 1));
    if (questions == 1) {
      annotate_tokens(c, env);
      out.push_back(std::move(c));
      continue;
    }
    // Multi-question mode: the queried words in query order, split into `questions` runs.
    std::vector<Question> qs;
    for (int j = 0; j < questions; ++j) {
      const size_t b = size_t(j) * asked.size() / size_t(questions), e = size_t(j + 1) * asked.size() / size_t(questions);
      const std::vector<std::string> words(asked.begin() + std::ptrdiff_t(b), asked.begin() + std::ptrdiff_t(e));
      const std::vector<std::string> answers(c.answers.begin() + std::ptrdiff_t(b), c.answers.begin() + std::ptrdiff_t(e));
      qs.push_back(Question{question_for(words), "", answers, {{"asked", words}}});
    }
    for (Case& q : cases_for_questions(c, qs, env)) out.push_back(std::move(q));
  }
  return out;
}

KVB_REGISTER_TASK(mqar, 1, "Zoology multi-query associative recall (symbolic ids or a text prompt)", "mqar_accuracy",
                  std::vector<ParamSpec>{
                      {"vocab_size", "8192", "V: keys from [1, V/2), values from [V/2, V)"},
                      {"seq_len", "64", "L: symbolic sequence length (even, < V)"},
                      {"num_kv_pairs", "4", "n: key-value pairs, each queried once"},
                      {"num_passes", "1", "times the pairs are repeated in the context"},
                      {"power_a", "0.01", "query gap law p(g) ~ a (g+1)^(a-1)"},
                      {"random_non_queries", "true", "symbolic: fill non-query positions with random ids"},
                      {"form", "text", "text (prompt for an LLM) | symbolic (input_ids + labels)"},
                      {"num_samples", "100", "cases to generate"},
                      {"max_new_tokens", "0", "text form: tokens to generate (0: 8 per pair + 8)"},
                      {"questions_per_context", "1", "text form: questions asked of one context, each about its own "
                                                     "run of the queried words (rows linked by context_id)"},
                  },
                  generate_mqar);

}  // namespace
}  // namespace kvb::tasks
