// perplexity: negative log-likelihood of a text's continuation given its compressed prefix, as PG-19
// language-modelling evaluations do: `length` tokens of running text are prefilled and compressed by
// the method, then the next `continuation` tokens are teacher-forced through the compressed cache and
// -log p of each is recorded (samples.token_nll; perplexity = exp(mean NLL) in reports and tables).
// Text: the project's procedural essay (default) or the *.txt files of text_dir. Try:
// kvbench show-case perplexity --param length=512 --model stories260K; tests/test_perplexity.cpp.
#include <fmt/format.h>

#include "core/error.h"
#include "core/random.h"
#include "datasets/text_sources.h"
#include "eval/task.h"

namespace kvb::tasks {
namespace {

namespace ds = kvb::datasets;

// At least `want` token ids of running text from `stream`, starting at unit `first`.
std::vector<int32_t> text_tokens(ds::UnitStream& stream, size_t first, size_t want, const Tokenizer& tok,
                                 std::string& text) {
  text.clear();
  size_t next = first, step = 64;
  while (true) {
    for (size_t i = 0; i < step; ++i) text += stream.unit(next++);
    std::vector<int32_t> ids = tok.encode(text, /*add_special=*/false);
    if (ids.size() >= want) return ids;
    step *= 2;
    KVB_CHECK(next - first < (size_t(1) << 22), "task perplexity: the text does not grow with its units");
  }
}

std::vector<Case> generate_perplexity(const TaskParams& p, uint64_t seed, const TaskEnv& env) {
  const int length = int(p.get_int("length")), continuation = int(p.get_int("continuation"));
  const int samples = int(p.get_int("num_samples"));
  const std::string source = p.get_string("source"), dir = p.get_string("text_dir");
  KVB_CHECK(env.tokenizer != nullptr, "task perplexity: the cases are the model's token ids; give a model");
  KVB_CHECK(length >= 2, "task perplexity: length must be >= 2 (prefix tokens), got {}", length);
  KVB_CHECK(continuation >= 1, "task perplexity: continuation must be >= 1 (scored tokens), got {}", continuation);
  KVB_CHECK(samples >= 0, "task perplexity: num_samples must be >= 0");
  KVB_CHECK(source == "essay" || source == "dir", "task perplexity: source='{}' is not one of: essay, dir", source);
  KVB_CHECK(source != "dir" || !dir.empty(), "task perplexity: source=dir needs text_dir=DIR (a folder of *.txt files)");
  const Tokenizer& tok = *env.tokenizer;
  const bool bos = tok.spec().add_bos && tok.bos_id() >= 0;
  // input_ids: [BOS] + text tokens, `length` of them the prefix, then `continuation` more; the label
  // at position i is token i + 1, on the continuation's positions (the first continuation token is
  // predicted from inside the prefix and is not scored).
  const size_t total = size_t(length) + size_t(continuation);
  const size_t want = total + 1 - (bos ? 1 : 0);

  std::vector<Case> out;
  for (int s = 0; s < samples; ++s) {
    Rng rng = Rng::derive(seed, uint64_t(s));
    std::string text;
    std::vector<int32_t> ids;
    if (source == "essay") {
      ds::UnitStream stream = ds::essay_stream(rng.next());
      ids = text_tokens(stream, 0, want, tok, text);
    } else {  // a random sentence of the corpus to start from (it repeats from its start when needed)
      const ds::Corpus& corpus = ds::load_corpus(dir);
      ds::UnitStream stream = ds::corpus_stream(dir);
      ids = text_tokens(stream, size_t(rng.below(corpus.units.size())), want, tok, text);
    }
    std::vector<int32_t> all;
    if (bos) all.push_back(tok.bos_id());
    all.insert(all.end(), ids.begin(), ids.begin() + int64_t(want));  // total + 1 tokens
    Case c;
    c.id = fmt::format("perplexity/{}/{}", seed, s);
    c.input_ids.assign(all.begin(), all.begin() + int64_t(total));
    c.labels.assign(total, -100);
    for (size_t i = size_t(length); i < total; ++i) c.labels[i] = all[i + 1];
    std::vector<int32_t> cont(all.begin() + length + 1, all.end());
    c.answers = {tok.decode(cont)};
    c.scorer = "exact_match";
    c.max_new_tokens = continuation;
    c.meta.target_length = int(total);
    c.meta.token_length = length;
    c.meta.extra = {{"source", source}, {"context_tokens", length}, {"token_nll", true},
                    {"continuation_tokens", continuation}};
    out.push_back(std::move(c));
  }
  return out;
}

KVB_REGISTER_TASK(perplexity, 1,
                  "PG-19-style perplexity: NLL of a continuation teacher-forced after the compressed prefix",
                  "exact_match",
                  std::vector<ParamSpec>{
                      {"length", "2048", "prefix tokens (BOS included), prefilled and compressed by the method"},
                      {"continuation", "256", "tokens after the prefix whose NLL is scored"},
                      {"num_samples", "20", "cases (passages) to generate"},
                      {"source", "essay", "essay (the project's procedural essay) | dir (the *.txt files of text_dir)"},
                      {"text_dir", "", "source=dir: folder of *.txt files (e.g. public-domain books)"},
                  },
                  generate_perplexity);

}  // namespace
}  // namespace kvb::tasks
