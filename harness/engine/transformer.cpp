// The transformer on its backend; see transformer.h.
#include "engine/transformer.h"

#include "core/error.h"

namespace kvb {

namespace {

void check_token_ids(std::span<const int32_t> tokens, int64_t vocab_size) {
  for (size_t i = 0; i < tokens.size(); ++i)
    KVB_CHECK(tokens[i] >= 0 && tokens[i] < vocab_size, "token id {} at index {} is outside the vocabulary [0, {})",
              tokens[i], i, vocab_size);
}

}  // namespace

Transformer::Transformer(const ModelConfig& config, const ModelWeights& weights, EngineOptions options)
    : config_(config), weights_(weights), options_(std::move(options)),
      backend_(make_forward_backend(config_, weights_, options_)) {}

Transformer::~Transformer() = default;
Transformer::Transformer(Transformer&&) noexcept = default;

std::string Transformer::device() const { return backend_->device(); }
DeviceMemory Transformer::device_memory() const { return backend_->memory(); }
void Transformer::reset_device_peak_memory() { backend_->reset_peak_memory(); }

Tensor Transformer::forward(std::span<const int32_t> tokens, KVCache& cache, LogitRows rows,
                            ForwardObserver* observer) {
  check_token_ids(tokens, config_.vocab_size);
  return backend_->forward(tokens, cache, rows, observer);
}

int32_t Transformer::forward_greedy(std::span<const int32_t> tokens, KVCache& cache, ForwardObserver* observer) {
  KVB_CHECK(!tokens.empty(), "forward_greedy: no tokens");
  check_token_ids(tokens, config_.vocab_size);
  return backend_->forward_greedy(tokens, cache, observer);
}

std::vector<int32_t> Transformer::forward_greedy_batch(std::span<const int32_t> tokens,
                                                       std::span<KVCache* const> caches,
                                                       std::span<ForwardObserver* const> observers) {
  KVB_CHECK(caches.size() == tokens.size(), "forward_greedy_batch: {} tokens for {} caches", tokens.size(),
            caches.size());
  KVB_CHECK(observers.empty() || observers.size() == tokens.size(), "forward_greedy_batch: {} observers for {} tokens",
            observers.size(), tokens.size());
  check_token_ids(tokens, config_.vocab_size);
  std::vector<ForwardObserver*> none;
  if (observers.empty()) {
    none.assign(tokens.size(), nullptr);
    observers = none;
  }
  return backend_->forward_greedy_batch(tokens, caches, observers);
}

}  // namespace kvb
