// Greedy decoding; see generate.h. Ties in argmax go to the lowest token id (as torch.argmax
// and llama.cpp's greedy sampler do).
#include "engine/generate.h"

#include "backends/cpu/ops.h"
#include "core/error.h"
#include "core/timer.h"

namespace kvb {

namespace {

// One sequence's stopping rules and text, token by token (the same for one sequence and a batch).
class GreedyStream {
 public:
  GreedyStream(const Tokenizer& tok, const GenerationOptions& opt,
               const std::function<void(const std::string&)>* on_token = nullptr)
      : tok_(tok), opt_(opt), on_token_(on_token) {
    r_.stop_reason = "max_new_tokens";
  }
  // Takes the next greedy token; true when the sequence needs another forward pass with it.
  bool accept(int32_t next) {
    if (opt_.stop_at_end_of_generation && tok_.is_end_of_generation(next)) {
      r_.stop_reason = "eog";
      return false;
    }
    r_.tokens.push_back(next);
    std::string text = tok_.decode(r_.tokens, /*skip_special=*/true);
    bool stopped = false;
    for (const auto& s : opt_.stop_strings) {
      size_t at = s.empty() ? std::string::npos : text.find(s);
      if (at != std::string::npos) {
        text.resize(at);
        stopped = true;
      }
    }
    if (on_token_ && *on_token_ && text.size() > r_.text.size() && text.compare(0, r_.text.size(), r_.text) == 0)
      (*on_token_)(text.substr(r_.text.size()));
    r_.text = std::move(text);
    if (stopped) {
      r_.stop_reason = "stop_string";
      return false;
    }
    return int(r_.tokens.size()) < opt_.max_new_tokens;  // the last token needs no forward pass
  }
  bool wants_first() const { return opt_.max_new_tokens > 0; }
  GenerationResult& result() { return r_; }

 private:
  const Tokenizer& tok_;
  const GenerationOptions& opt_;
  const std::function<void(const std::string&)>* on_token_;
  GenerationResult r_;
};

}  // namespace

GenerationResult generate_greedy(Transformer& model, const Tokenizer& tok, KVCache& cache,
                                 std::span<const float> last_logits, const GenerationOptions& opt,
                                 const std::function<void(const std::string&)>& on_token) {
  GreedyStream stream(tok, opt, &on_token);
  int32_t next = int32_t(cpu::argmax(last_logits.data(), int64_t(last_logits.size())));
  Stopwatch total;
  if (stream.wants_first()) {
    while (stream.accept(next)) {
      Stopwatch sw;
      const int32_t one[1] = {next};
      next = model.forward_greedy(one, cache, opt.observer);
      stream.result().step_seconds.push_back(sw.seconds());
    }
  }
  GenerationResult r = std::move(stream.result());
  r.decode_seconds = total.seconds();
  return r;
}

std::vector<GenerationResult> generate_greedy_batch(Transformer& model, const Tokenizer& tok,
                                                    std::span<KVCache* const> caches,
                                                    std::span<const std::span<const float>> last_logits,
                                                    std::span<const GenerationOptions> opts) {
  const size_t B = caches.size();
  KVB_CHECK(last_logits.size() == B && opts.size() == B, "generate_greedy_batch: {} caches, {} logits, {} options", B,
            last_logits.size(), opts.size());
  std::vector<GreedyStream> streams;
  streams.reserve(B);
  std::vector<size_t> active;  // sequences that need another forward pass
  std::vector<int32_t> next(B);
  for (size_t b = 0; b < B; ++b) {
    streams.emplace_back(tok, opts[b]);
    next[b] = int32_t(cpu::argmax(last_logits[b].data(), int64_t(last_logits[b].size())));
    if (streams[b].wants_first() && streams[b].accept(next[b])) active.push_back(b);
  }
  std::vector<double> seconds(B, 0.0);
  std::vector<int32_t> tokens;
  std::vector<KVCache*> step_caches;
  std::vector<ForwardObserver*> step_observers;
  while (!active.empty()) {
    tokens.clear();
    step_caches.clear();
    step_observers.clear();
    for (size_t b : active) {
      tokens.push_back(next[b]);
      step_caches.push_back(caches[b]);
      step_observers.push_back(opts[b].observer);
    }
    Stopwatch sw;
    const std::vector<int32_t> out = model.forward_greedy_batch(tokens, step_caches, step_observers);
    const double share = sw.seconds() / double(active.size());  // each sequence's part of the step
    std::vector<size_t> still;
    for (size_t i = 0; i < active.size(); ++i) {
      const size_t b = active[i];
      next[b] = out[i];
      streams[b].result().step_seconds.push_back(share);
      seconds[b] += share;
      if (streams[b].accept(next[b])) still.push_back(b);
    }
    active = std::move(still);
  }
  std::vector<GenerationResult> results;
  for (size_t b = 0; b < B; ++b) {
    results.push_back(std::move(streams[b].result()));
    results.back().decode_seconds = seconds[b];
  }
  return results;
}

}  // namespace kvb
