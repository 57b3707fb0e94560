// CPU forward pass; see transformer.h. Shapes: n tokens in a chunk, E embedding, Hq/Hkv heads,
// D head dim, F feed-forward, V vocabulary.
#include "model/transformer.h"

#include <cmath>
#include <map>
#include <mutex>

#include <fmt/ranges.h>

#include "backends/cpu/ops.h"

namespace kvb {

namespace {

struct BackendEntry {
  ForwardBackendFactory factory;
  std::function<std::string()> unavailable;
};
std::map<std::string, BackendEntry>& backend_registry() {
  static std::map<std::string, BackendEntry> r;
  return r;
}
std::mutex backend_registry_mutex;

constexpr const char* kCudaNotBuilt =
    "backend 'cuda' is not available: this kvbench was built without the CUDA backend (configure with "
    "-DKVB_CUDA=ON on a machine with nvcc; `kvbench list backends` shows what is built in)";

}  // namespace

void register_forward_backend(const std::string& name, ForwardBackendFactory factory,
                              std::function<std::string()> unavailable) {
  std::lock_guard lock(backend_registry_mutex);
  backend_registry()[name] = {std::move(factory), std::move(unavailable)};
}

std::string backend_unavailable_reason(const std::string& name) {
  if (name == "cpu") return "";
  std::function<std::string()> probe;
  {
    std::lock_guard lock(backend_registry_mutex);
    auto it = backend_registry().find(name);
    if (it == backend_registry().end())
      return name == "cuda" ? std::string(kCudaNotBuilt) : fmt::format("unknown backend '{}'", name);
    probe = it->second.unavailable;
  }
  return probe ? probe() : std::string();
}

std::vector<std::string> forward_backends() {
  std::lock_guard lock(backend_registry_mutex);
  std::vector<std::string> out{"cpu"};
  for (const auto& [name, entry] : backend_registry()) out.push_back(name);
  return out;
}

Transformer::Transformer(const ModelConfig& config, const ModelWeights& weights, RunnerOptions options)
    : config_(config), weights_(weights), options_(options), inv_freq_(cpu::rope_inv_freq(config)) {
  KVB_CHECK(options_.prefill_chunk > 0, "prefill chunk must be positive, got {}", options_.prefill_chunk);
  int8_matmul_ = cpu::parse_matmul_mode(options_.matmul) == cpu::MatmulMode::Int8;
  if (options_.backend == "cpu") return;
  KVB_CHECK(!int8_matmul_, "matmul 'int8' is a cpu backend option; backend '{}' uses --device-dtype",
            options_.backend);
  ForwardBackendFactory factory;
  {
    std::lock_guard lock(backend_registry_mutex);
    auto it = backend_registry().find(options_.backend);
    if (it != backend_registry().end()) factory = it->second.factory;
  }
  if (!factory && options_.backend == "cuda") KVB_FAIL("{}", kCudaNotBuilt);
  KVB_CHECK(bool(factory), "unknown backend '{}' (built in: {})", options_.backend, fmt::join(forward_backends(), ", "));
  backend_ = factory(config_, weights_, options_);
}

Transformer::~Transformer() = default;
Transformer::Transformer(Transformer&&) noexcept = default;

std::string Transformer::device() const {
  if (backend_) return backend_->device();
  return int8_matmul_ ? "cpu, matmul " + cpu::matmul_description(cpu::MatmulMode::Int8) + ", int8 attention scores"
                      : std::string("cpu");
}
DeviceMemory Transformer::device_memory() const { return backend_ ? backend_->memory() : DeviceMemory{}; }
void Transformer::reset_device_peak_memory() {
  if (backend_) backend_->reset_peak_memory();
}

Tensor Transformer::forward(std::span<const int32_t> tokens, KVCache& cache, LogitRows rows,
                            ForwardObserver* observer) {
  const int64_t E = config_.n_embd, V = config_.vocab_size, N = int64_t(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i)
    KVB_CHECK(tokens[i] >= 0 && tokens[i] < V, "token id {} at index {} is outside the vocabulary [0, {})",
              tokens[i], i, V);
  if (backend_) return backend_->forward(tokens, cache, rows, observer);
  Tensor out;
  if (rows == LogitRows::All) out = Tensor({N, V});
  if (rows == LogitRows::Last && N > 0) out = Tensor({1, V});
  std::vector<float> x;
  for (int64_t begin = 0; begin < N; begin += options_.prefill_chunk) {
    const int64_t n = std::min<int64_t>(options_.prefill_chunk, N - begin);
    x.assign(size_t(n * E), 0.0f);
    forward_chunk(tokens.subspan(begin, n), cache, observer, x.data());
    if (rows == LogitRows::All) logits(x.data(), n, out.ptr() + begin * V);
    if (rows == LogitRows::Last && begin + n == N) logits(x.data() + (n - 1) * E, 1, out.ptr());
  }
  return out;
}

int32_t Transformer::forward_greedy(std::span<const int32_t> tokens, KVCache& cache, ForwardObserver* observer) {
  KVB_CHECK(!tokens.empty(), "forward_greedy: no tokens");
  if (backend_) {
    for (size_t i = 0; i < tokens.size(); ++i)
      KVB_CHECK(tokens[i] >= 0 && tokens[i] < config_.vocab_size,
                "token id {} at index {} is outside the vocabulary [0, {})", tokens[i], i, config_.vocab_size);
    return backend_->forward_greedy(tokens, cache, observer);
  }
  const Tensor logits = forward(tokens, cache, LogitRows::Last, observer);
  return int32_t(cpu::argmax(logits.ptr(), config_.vocab_size));
}

void Transformer::forward_chunk(std::span<const int32_t> tokens, KVCache& cache, ForwardObserver* observer,
                                float* x /* [n, E] */) {
  const ModelConfig& c = config_;
  const int64_t n = int64_t(tokens.size()), E = c.n_embd, D = c.head_dim, F = c.n_ff;
  const int64_t Hq = c.n_heads, Hkv = c.n_kv_heads, QD = Hq * D, KD = Hkv * D;
  std::vector<int32_t> pos(n);
  for (int64_t i = 0; i < n; ++i) pos[i] = cache.next_position() + int32_t(i);

  for (int64_t i = 0; i < n; ++i) weights_.tok_embd.dequantize_rows(tokens[i], 1, x + i * E);

  std::vector<float> xn(n * E), q(n * QD), k(n * KD), v(n * KD), att(n * QD), o(n * E), gate(n * F), up(n * F);
  std::vector<std::vector<float>> mass;
  const float scale = 1.0f / std::sqrt(float(D));
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& w = weights_.layers[l];
    // Attention block.
    cpu::rmsnorm(x, w.attn_norm.ptr(), xn.data(), n, E, E, c.rms_eps);
    const cpu::MatmulMode mode = int8_matmul_ ? cpu::MatmulMode::Int8 : cpu::MatmulMode::F32;
    cpu::LinearInput attn_in(xn.data(), n, E, mode);  // quantized once for q, k and v in int8 mode
    cpu::linear(attn_in, w.wq, q.data(), &w.bq);
    cpu::linear(attn_in, w.wk, k.data(), &w.bk);
    cpu::linear(attn_in, w.wv, v.data(), &w.bv);
    if (c.qk_norm) {
      cpu::rmsnorm(q.data(), w.q_norm.ptr(), q.data(), n * Hq, D, D, c.rms_eps);
      cpu::rmsnorm(k.data(), w.k_norm.ptr(), k.data(), n * Hkv, D, D, c.rms_eps);
    }
    cpu::rope(q.data(), n, Hq, D, QD, pos.data(), inv_freq_, c.rope_neox);
    cpu::rope(k.data(), n, Hkv, D, KD, pos.data(), inv_freq_, c.rope_neox);
    for (int h = 0; h < Hkv; ++h) cache.append(l, h, k.data() + h * D, v.data() + h * D, KD, pos.data(), n);
    const bool want_mass = observer && observer->wants_attention_mass(l);
    if (want_mass) mass.clear();
    const std::vector<std::vector<int32_t>>* read = observer ? observer->read_sets(l, q.data(), n, cache) : nullptr;
    cpu::attention(q.data(), n, cache, l, int(Hq), scale, att.data(), want_mass ? &mass : nullptr, read, mode);
    if (observer) {
      LayerObservation obs{l, n, pos.data(), q.data(), &cache, want_mass ? &mass : nullptr};
      observer->on_layer(obs);
    }
    cpu::LinearInput out_in(att.data(), n, QD, mode);
    cpu::linear(out_in, w.wo, o.data());
    cpu::add_in_place(x, o.data(), n * E);
    // Feed-forward block (SwiGLU).
    cpu::rmsnorm(x, w.ffn_norm.ptr(), xn.data(), n, E, E, c.rms_eps);
    cpu::LinearInput ffn_in(xn.data(), n, E, mode);
    cpu::linear(ffn_in, w.w_gate, gate.data());
    cpu::linear(ffn_in, w.w_up, up.data());
    cpu::swiglu(gate.data(), up.data(), gate.data(), n * F);
    cpu::LinearInput down_in(gate.data(), n, F, mode);
    cpu::linear(down_in, w.w_down, o.data());
    cpu::add_in_place(x, o.data(), n * E);
  }
  cache.advance(int32_t(n));
}

void Transformer::logits(const float* x, int64_t n, float* out) const {
  const int64_t E = config_.n_embd;
  std::vector<float> xn(n * E);
  cpu::rmsnorm(x, weights_.output_norm.ptr(), xn.data(), n, E, E, config_.rms_eps);
  cpu::LinearInput in(xn.data(), n, E, int8_matmul_ ? cpu::MatmulMode::Int8 : cpu::MatmulMode::F32);
  cpu::linear(in, weights_.lm_head(), out);
}

}  // namespace kvb
