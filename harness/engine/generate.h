// Greedy decoding on top of Transformer::forward: stops at an end-of-generation token, a stop
// string or max_new_tokens; reports prefill and per-token decode timings.
#pragma once
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "engine/transformer.h"

namespace kvb {

struct GenerationOptions {
  int max_new_tokens = 128;
  std::vector<std::string> stop_strings;
  bool stop_at_end_of_generation = true;
  ForwardObserver* observer = nullptr;  // sees every decode step's layers (decode-time methods)
};

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated ids (the stopping end-of-generation id excluded)
  std::string text;             // decoded, cut before a stop string
  std::string stop_reason;      // "eog" | "stop_string" | "max_new_tokens"
  double decode_seconds = 0.0;
  std::vector<double> step_seconds;  // per generated token
};

// Greedy continuation from a cache that already holds the prompt, given the prompt's last logits
// [V]. `on_token` (optional) receives each new token's text piece as it is produced.
GenerationResult generate_greedy(Transformer& model, const Tokenizer& tok, KVCache& cache,
                                 std::span<const float> last_logits, const GenerationOptions& opt,
                                 const std::function<void(const std::string&)>& on_token = {});

// Greedy continuations of several independent sequences decoded together: one forward pass per step
// for all that are still generating (Transformer::forward_greedy_batch), each with its own cache,
// options (stop rules, observer) and last logits [V]. Every sequence's tokens and text are what
// generate_greedy gives it alone; its step_seconds / decode_seconds are its share of each batched
// step (the step's wall time divided by the sequences in it), so they add up to the wall time.
std::vector<GenerationResult> generate_greedy_batch(Transformer& model, const Tokenizer& tok,
                                                    std::span<KVCache* const> caches,
                                                    std::span<const std::span<const float>> last_logits,
                                                    std::span<const GenerationOptions> opts);

}  // namespace kvb
