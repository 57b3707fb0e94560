// The CPU forward pass; see cpu_forward.h. Shapes: n tokens in a chunk, E embedding, Hq/Hkv heads,
// D head dim, F feed-forward, V vocabulary.
#include "backends/cpu/cpu_forward.h"

#include "backends/cpu/blas_kernels.h"
#include "core/simd.h"

#include <cmath>

#include "backends/cpu/int8_gemm.h"
#include "backends/cpu/attention.h"
#include "backends/cpu/attention_calibration.h"
#include "backends/cpu/ops.h"
#include "core/log.h"

namespace kvb::cpu {

namespace {

class CpuForward final : public ForwardBackend {
 public:
  CpuForward(const ModelConfig& config, const ModelWeights& weights, const EngineOptions& options)
      : config_(config),
        weights_(weights),
        prefill_chunk_(options.prefill_chunk),
        mode_(parse_matmul_mode(options.matmul)),
        inv_freq_(rope_inv_freq(config)) {
    static bool warned = false;
    if (mode_ == MatmulMode::Int8 && resolve_int8_kernel(Int8Kernel::Auto) == Int8Kernel::Portable && !warned) {
      warned = true;
      log_warn("--matmul int8 runs the portable integer loop ({}): far slower than --matmul f32 on this CPU",
               cpu_has_avx2_fma() ? "KVB_INT8_KERNEL=portable" : "no AVX2 on this CPU");
    }
  }

  Tensor forward(std::span<const int32_t> tokens, KVCache& cache, LogitRows rows, ForwardObserver* observer) override {
    const int64_t E = config_.n_embd, V = config_.vocab_size, N = int64_t(tokens.size());
    Tensor out;
    if (rows == LogitRows::All) out = Tensor({N, V});
    if (rows == LogitRows::Last && N > 0) out = Tensor({1, V});
    std::vector<float> x;
    for (int64_t begin = 0; begin < N; begin += prefill_chunk_) {
      const int64_t n = std::min<int64_t>(prefill_chunk_, N - begin);
      x.assign(size_t(n * E), 0.0f);
      forward_chunk(tokens.subspan(begin, n), cache, observer, x.data());
      if (observer && observer->wants_logits()) observe_logits(tokens.subspan(begin, n), x.data(), *observer);
      if (rows == LogitRows::All) logits(x.data(), n, out.ptr() + begin * V);
      if (rows == LogitRows::Last && begin + n == N) logits(x.data() + (n - 1) * E, 1, out.ptr());
    }
    return out;
  }

  int32_t forward_greedy(std::span<const int32_t> tokens, KVCache& cache, ForwardObserver* observer) override {
    const Tensor last = forward(tokens, cache, LogitRows::Last, observer);
    return int32_t(argmax(last.ptr(), config_.vocab_size));
  }

  // B sequences, one token each, through one forward pass (weights read once for all of them).
  std::vector<int32_t> forward_greedy_batch(std::span<const int32_t> tokens, std::span<KVCache* const> caches,
                                            std::span<ForwardObserver* const> observers) override {
    const int64_t B = int64_t(tokens.size()), E = config_.n_embd, V = config_.vocab_size;
    if (B == 1) return {forward_greedy(tokens, *caches[0], observers[0])};
    std::vector<Sequence> seqs;
    for (int64_t b = 0; b < B; ++b) seqs.push_back(Sequence{caches[b], observers[b], b, 1});
    std::vector<float> x(size_t(B * E)), out(size_t(B * V));
    forward_rows(tokens, seqs, x.data());
    logits(x.data(), B, out.data(), /*rows_as_alone=*/true);
    std::vector<int32_t> next(B);
    for (int64_t b = 0; b < B; ++b) next[b] = int32_t(argmax(out.data() + b * V, V));
    return next;
  }

  std::string device() const override {
    // The kernels that run (stored with every run): e.g. "cpu (avx512 kernels, OpenBLAS SkylakeX)".
    const std::string cpu = fmt::format("cpu ({} kernels, OpenBLAS {})", simd_level_name(simd_level()),
                                        blas_kernels_running());
    return mode_ == MatmulMode::Int8 ? cpu + ", matmul " + matmul_description(MatmulMode::Int8) + ", int8 attention scores"
                                     : cpu;
  }

 private:
  // Rows [first, first + count) of a forward pass: one sequence's new tokens.
  struct Sequence {
    KVCache* cache;
    ForwardObserver* observer;
    int64_t first, count;
  };
  void forward_chunk(std::span<const int32_t> tokens, KVCache& cache, ForwardObserver* observer, float* x /* [n, E] */);
  void forward_rows(std::span<const int32_t> tokens, std::span<const Sequence> seqs, float* x /* [n, E] */);
  void logits(const float* x /* [n, E] */, int64_t n, float* out /* [n, V] */, bool rows_as_alone = false) const;
  // The logits of every row of a chunk for an observer that asks for them (ForwardObserver::on_logits),
  // 64 rows at a time so that [n, V] is never held at once.
  void observe_logits(std::span<const int32_t> tokens, const float* x /* [n, E] */, ForwardObserver& obs) const;

  const ModelConfig& config_;
  const ModelWeights& weights_;
  int prefill_chunk_;
  MatmulMode mode_;
  std::vector<float> inv_freq_;  // [D/2]
};

void CpuForward::forward_chunk(std::span<const int32_t> tokens, KVCache& cache, ForwardObserver* observer,
                               float* x /* [n, E] */) {
  const Sequence one{&cache, observer, 0, int64_t(tokens.size())};
  forward_rows(tokens, std::span<const Sequence>(&one, 1), x);
}

// Rows of one or more sequences through every layer: the projections and the feed-forward block take
// all rows at once (for several sequences, as each would get them alone: linear_rows_as_alone), RoPE
// each row at its own position, and attention each sequence over its own cache.
void CpuForward::forward_rows(std::span<const int32_t> tokens, std::span<const Sequence> seqs, float* x /* [n, E] */) {
  const ModelConfig& c = config_;
  const int64_t n = int64_t(tokens.size()), E = c.n_embd, D = c.head_dim, F = c.n_ff;
  const int64_t Hq = c.n_heads, Hkv = c.n_kv_heads, QD = Hq * D, KD = Hkv * D;
  const bool batch = seqs.size() > 1;
  auto project = [&](LinearInput& in, const WeightMatrix& w, float* y, const Tensor* bias = nullptr) {
    if (batch)
      linear_rows_as_alone(in, w, y, bias);
    else
      linear(in, w, y, bias);
  };
  std::vector<int32_t> pos(n);
  for (const Sequence& s : seqs)
    for (int64_t i = 0; i < s.count; ++i) pos[s.first + i] = s.cache->next_position() + int32_t(i);

  for (int64_t i = 0; i < n; ++i) weights_.tok_embd.dequantize_rows(tokens[i], 1, x + i * E);

  std::vector<float> xn(n * E), q(n * QD), k(n * KD), v(n * KD), att(n * QD), o(n * E), gate(n * F), up(n * F);
  std::vector<std::vector<float>> mass;
  const float scale = 1.0f / std::sqrt(float(D));
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& w = weights_.layers[l];
    // Attention block.
    rmsnorm(x, w.attn_norm.ptr(), xn.data(), n, E, E, c.rms_eps);
    const MatmulMode mode = mode_;
    LinearInput attn_in(xn.data(), n, E, mode);  // quantized once for q, k and v in int8 mode
    project(attn_in, w.wq, q.data(), &w.bq);
    project(attn_in, w.wk, k.data(), &w.bk);
    project(attn_in, w.wv, v.data(), &w.bv);
    if (c.qk_norm) {
      rmsnorm(q.data(), w.q_norm.ptr(), q.data(), n * Hq, D, D, c.rms_eps);
      rmsnorm(k.data(), w.k_norm.ptr(), k.data(), n * Hkv, D, D, c.rms_eps);
    }
    rope(q.data(), n, Hq, D, QD, pos.data(), inv_freq_, c.rope_neox);
    rope(k.data(), n, Hkv, D, KD, pos.data(), inv_freq_, c.rope_neox);
    for (const Sequence& s : seqs) {
      KVCache& cache = *s.cache;
      ForwardObserver* observer = s.observer;
      const int64_t at = s.first, m = s.count;
      for (int h = 0; h < Hkv; ++h)
        cache.append(l, h, k.data() + at * KD + h * D, v.data() + at * KD + h * D, KD, pos.data() + at, m);
      const bool want_mass = observer && observer->wants_attention_mass(l);
      if (want_mass) mass.clear();
      const ReadSelection* read = observer ? observer->read_sets(l, q.data() + at * QD, m, cache) : nullptr;
      const PrefillPattern* pattern = observer ? observer->prefill_pattern(l, q.data() + at * QD, m, cache) : nullptr;
      KVB_CHECK(!read || !pattern || pattern->dense(),
                "layer {}: an observer gave both a read selection and a prefill pattern", l);
      if (pattern)
        attention(q.data() + at * QD, m, cache, l, int(Hq), scale, att.data() + at * QD, want_mass ? &mass : nullptr,
                  nullptr, mode, pattern);
      else if (read)
        attention(q.data() + at * QD, m, cache, l, int(Hq), scale, att.data() + at * QD, want_mass ? &mass : nullptr,
                  *read, mode, &inv_freq_, c.rope_neox);
      else
        attention(q.data() + at * QD, m, cache, l, int(Hq), scale, att.data() + at * QD, want_mass ? &mass : nullptr,
                  nullptr, mode);
      if (const AttentionCalibration* calib = observer ? observer->attention_calibration(l) : nullptr;
          calib && calib->any()) {  // act: the calibrated heads recomputed, the others as they are
        KVB_CHECK(!read || read->reads_everything(), "layer {}: attention calibration (act) over a selector's read "
                  "subset is not implemented; run act without a selector", l);
        calibrated_attention(q.data() + at * QD, m, cache, l, int(Hq), scale, att.data() + at * QD,
                             want_mass ? &mass : nullptr, *calib);
      }
      if (observer) {
        LayerObservation obs{l, m, pos.data() + at, q.data() + at * QD, &cache, want_mass ? &mass : nullptr};
        observer->on_layer(obs);
      }
    }
    LinearInput out_in(att.data(), n, QD, mode);
    project(out_in, w.wo, o.data());
    add_in_place(x, o.data(), n * E);
    // Feed-forward block (SwiGLU).
    rmsnorm(x, w.ffn_norm.ptr(), xn.data(), n, E, E, c.rms_eps);
    LinearInput ffn_in(xn.data(), n, E, mode);
    project(ffn_in, w.w_gate, gate.data());
    project(ffn_in, w.w_up, up.data());
    swiglu(gate.data(), up.data(), gate.data(), n * F);
    LinearInput down_in(gate.data(), n, F, mode);
    project(down_in, w.w_down, o.data());
    add_in_place(x, o.data(), n * E);
  }
  for (const Sequence& s : seqs) s.cache->advance(int32_t(s.count));
}

void CpuForward::logits(const float* x, int64_t n, float* out, bool rows_as_alone) const {
  const int64_t E = config_.n_embd;
  std::vector<float> xn(n * E);
  rmsnorm(x, weights_.output_norm.ptr(), xn.data(), n, E, E, config_.rms_eps);
  LinearInput in(xn.data(), n, E, mode_);
  if (rows_as_alone)
    linear_rows_as_alone(in, weights_.lm_head(), out);
  else
    linear(in, weights_.lm_head(), out);
}

void CpuForward::observe_logits(std::span<const int32_t> tokens, const float* x, ForwardObserver& obs) const {
  constexpr int64_t kRows = 64;
  const int64_t E = config_.n_embd, V = config_.vocab_size, n = int64_t(tokens.size());
  std::vector<float> block(size_t(std::min(kRows, n) * V));
  for (int64_t r = 0; r < n; r += kRows) {
    const int64_t m = std::min(kRows, n - r);
    logits(x + r * E, m, block.data());
    obs.on_logits(tokens.data() + r, m, block.data());
  }
}

}  // namespace

std::unique_ptr<ForwardBackend> make_cpu_forward(const ModelConfig& config, const ModelWeights& weights,
                                                 const EngineOptions& options) {
  return std::make_unique<CpuForward>(config, weights, options);
}

}  // namespace kvb::cpu
