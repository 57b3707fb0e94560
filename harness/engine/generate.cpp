// Greedy decoding; see generate.h. Ties in argmax go to the lowest token id (as torch.argmax
// and llama.cpp's greedy sampler do).
#include "engine/generate.h"

#include "backends/cpu/ops.h"
#include "core/timer.h"

namespace kvb {

GenerationResult generate_greedy(Transformer& model, const Tokenizer& tok, KVCache& cache,
                                 std::span<const float> last_logits, const GenerationOptions& opt,
                                 const std::function<void(const std::string&)>& on_token) {
  GenerationResult r;
  r.stop_reason = "max_new_tokens";
  int32_t next = int32_t(cpu::argmax(last_logits.data(), int64_t(last_logits.size())));
  Stopwatch total;
  for (int step = 0; step < opt.max_new_tokens; ++step) {
    if (opt.stop_at_end_of_generation && tok.is_end_of_generation(next)) {
      r.stop_reason = "eog";
      break;
    }
    r.tokens.push_back(next);
    std::string text = tok.decode(r.tokens, /*skip_special=*/true);
    bool stopped = false;
    for (const auto& s : opt.stop_strings) {
      size_t at = s.empty() ? std::string::npos : text.find(s);
      if (at != std::string::npos) {
        text.resize(at);
        stopped = true;
      }
    }
    if (on_token && text.size() > r.text.size() && text.compare(0, r.text.size(), r.text) == 0)
      on_token(text.substr(r.text.size()));
    r.text = std::move(text);
    if (stopped) {
      r.stop_reason = "stop_string";
      break;
    }
    if (step + 1 == opt.max_new_tokens) break;  // the last token needs no forward pass
    Stopwatch sw;
    const int32_t one[1] = {next};
    next = model.forward_greedy(one, cache, opt.observer);
    r.step_seconds.push_back(sw.seconds());
  }
  r.decode_seconds = total.seconds();
  return r;
}

}  // namespace kvb
