// The CUDA forward pass; see cuda_forward.h. Shapes: n tokens in a chunk, E embedding, Hq/Hkv
// heads, D head dim, F feed-forward, V vocabulary, T entries of a head's cache.
#include "backends/cuda/cuda_forward.h"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <optional>
#include <vector>

#include "backends/cpu/ops.h"
#include "backends/cuda/check.h"
#include "backends/cuda/device_info.h"
#include "backends/cuda/kv_cache_device.h"
#include "backends/cuda/memory.h"
#include "backends/cuda/ops.h"
#include "core/error.h"

namespace kvb::cuda {
namespace {

constexpr int64_t kMinReserveRows = 256;  // rows per head a (re)uploaded layer can append

// The device copy of one host KVCache. Keep sets reported by the host are composed per head and
// applied by one gather per layer before the layer is next used; any other change (compensation
// entries, zeroed key channels, the KIVI codec, clear) re-uploads the layer from the host.
class DeviceCacheMirror final : public KVCacheMirror {
 public:
  DeviceCacheMirror(const KVCache& host, const void* owner)
      : owner_(owner),
        dev_(DeviceKVCache::upload(host, kMinReserveRows)),
        pending_(size_t(host.n_layers())),
        dirty_(size_t(host.n_layers()), false) {}

  const void* owner() const { return owner_; }
  DeviceKVCache& device() { return dev_; }

  void on_keep(int layer, int kv_head, std::span<const int32_t> indices) override {
    if (dirty_[size_t(layer)]) return;  // the whole layer is copied over anyway
    auto& sets = pending_[size_t(layer)];
    if (sets.empty()) sets.resize(size_t(dev_.n_kv_heads()));
    auto& s = sets[size_t(kv_head)];
    if (!s) {
      s = std::vector<int32_t>(indices.begin(), indices.end());
      return;
    }
    std::vector<int32_t> composed(indices.size());  // indices into the previous keep set
    for (size_t i = 0; i < indices.size(); ++i) composed[i] = (*s)[size_t(indices[i])];
    *s = std::move(composed);
  }
  void on_layer_changed(int layer) override {
    dirty_[size_t(layer)] = true;
    pending_[size_t(layer)].clear();
  }

  // Brings layer `l` to the host's state with room for `n` more rows per head.
  void sync(int l, const KVCache& host, int64_t n) {
    auto& sets = pending_[size_t(l)];
    if (!dirty_[size_t(l)] && !sets.empty()) {
      std::vector<std::vector<int32_t>> keep(size_t(dev_.n_kv_heads()));
      for (int g = 0; g < dev_.n_kv_heads(); ++g) {
        if (sets[size_t(g)]) {
          keep[size_t(g)] = std::move(*sets[size_t(g)]);
        } else {
          keep[size_t(g)].resize(size_t(dev_.length(l, g)));
          for (size_t j = 0; j < keep[size_t(g)].size(); ++j) keep[size_t(g)][j] = int32_t(j);
        }
      }
      dev_.keep(l, keep);
      sets.clear();
    }
    if (dirty_[size_t(l)] || dev_.free_rows(l) < n) {
      int64_t longest = 0;
      for (int g = 0; g < host.n_kv_heads(); ++g) longest = std::max(longest, host.head(l, g).size());
      dev_.set_layer(l, host, l, std::max({n, kMinReserveRows, longest}));
      dirty_[size_t(l)] = false;
    }
  }

  // After a chunk: every head must hold as many entries on both sides.
  void check_lengths(int l, const KVCache& host) const {
    for (int g = 0; g < host.n_kv_heads(); ++g)
      KVB_CHECK(dev_.length(l, g) == host.head(l, g).size(),
                "cuda backend: layer {} KV head {} holds {} entries on the device and {} on the host", l, g,
                dev_.length(l, g), host.head(l, g).size());
  }

 private:
  const void* owner_;
  DeviceKVCache dev_;
  std::vector<std::vector<std::optional<std::vector<int32_t>>>> pending_;  // [L][Hkv]
  std::vector<bool> dirty_;                                                // [L]
};

// A device buffer that keeps its size and grows on demand (activations of a chunk).
template <class T>
T* grow(DeviceBuffer& b, int64_t count, const char* what) {
  const size_t bytes = size_t(std::max<int64_t>(count, 1)) * sizeof(T);
  if (b.bytes() < bytes) b = DeviceBuffer(bytes, what);
  return b.as<T>();
}

void download(const void* dev, void* host, size_t bytes) {
  if (bytes) KVB_CUDA_CHECK(cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost));
}
void upload(const void* host, void* dev, size_t bytes) {
  if (bytes) KVB_CUDA_CHECK(cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice));
}

WeightType parse_dtype(const std::string& s) {
  if (s == "bf16") return WeightType::BF16;
  if (s == "f16" || s == "fp16") return WeightType::F16;
  if (s == "f32" || s == "fp32") return WeightType::F32;
  KVB_FAIL("--device-dtype '{}': expected bf16, f16 or f32", s);
}

struct DeviceLayer {
  DeviceWeight attn_norm, ffn_norm, q_norm, k_norm, bq, bk, bv;  // f32 vectors (rows = 1)
  DeviceWeight wq, wk, wv, wo, w_gate, w_up, w_down;              // GEMM inputs
};

DeviceWeight vector_weight(const Tensor& t) {
  if (t.data.empty()) return {};
  return upload_weight(t.ptr(), 1, int64_t(t.data.size()), WeightType::F32);
}

class CudaForward final : public ForwardBackend {
 public:
  CudaForward(const ModelConfig& c, const ModelWeights& w, const EngineOptions& o)
      : c_(c), options_(o), dtype_(parse_dtype(o.device_dtype)) {
    device_ = describe_first_device();
    embedding_ = upload_weight(w.tok_embd, WeightType::F32);  // exact rows, as the CPU dequantizes them
    lm_head_ = upload_weight(w.lm_head(), dtype_);
    output_norm_ = vector_weight(w.output_norm);
    for (const LayerWeights& lw : w.layers) {
      DeviceLayer d;
      d.attn_norm = vector_weight(lw.attn_norm);
      d.ffn_norm = vector_weight(lw.ffn_norm);
      d.q_norm = vector_weight(lw.q_norm);
      d.k_norm = vector_weight(lw.k_norm);
      d.bq = vector_weight(lw.bq);
      d.bk = vector_weight(lw.bk);
      d.bv = vector_weight(lw.bv);
      d.wq = upload_weight(lw.wq, dtype_);
      d.wk = upload_weight(lw.wk, dtype_);
      d.wv = upload_weight(lw.wv, dtype_);
      d.wo = upload_weight(lw.wo, dtype_);
      d.w_gate = upload_weight(lw.w_gate, dtype_);
      d.w_up = upload_weight(lw.w_up, dtype_);
      d.w_down = upload_weight(lw.w_down, dtype_);
      layers_.push_back(std::move(d));
    }
    const std::vector<float> inv_freq = rope_inv_freq(c);
    inv_freq_ = to_device(inv_freq.data(), inv_freq.size(), "RoPE inverse frequencies");
    KVB_CUDA_CHECK(cudaDeviceSynchronize());
  }

  std::string device() const override { return fmt::format("{}, {} weights", device_, weight_type_name(dtype_)); }
  DeviceMemory memory() const override {
    const MemoryStats s = memory_stats();
    return {s.current_bytes, s.peak_bytes};
  }
  void reset_peak_memory() override { reset_peak_bytes(); }

  Tensor forward(std::span<const int32_t> tokens, KVCache& cache, LogitRows rows,
                 ForwardObserver* observer) override {
    const int64_t E = c_.n_embd, V = c_.vocab_size, N = int64_t(tokens.size());
    DeviceCacheMirror& mirror = mirror_of(cache);
    Tensor out;
    if (rows == LogitRows::All) out = Tensor({N, V});
    if (rows == LogitRows::Last && N > 0) out = Tensor({1, V});
    for (int64_t begin = 0; begin < N; begin += options_.prefill_chunk) {
      const int64_t n = std::min<int64_t>(options_.prefill_chunk, N - begin);
      float* x = grow<float>(x_, n * E, "activations x");
      forward_chunk(tokens.subspan(size_t(begin), size_t(n)), cache, mirror, observer, x);
      if (observer && observer->wants_logits()) {  // seam (g): every row's logits, apart from `out`
        std::vector<float> rows_logits(size_t(n * V));
        download(logits(x, n), rows_logits.data(), rows_logits.size() * sizeof(float));
        observer->on_logits(tokens.data() + begin, n, rows_logits.data());
      }
      if (rows == LogitRows::All) download(logits(x, n), out.ptr() + begin * V, size_t(n * V) * sizeof(float));
      if (rows == LogitRows::Last && begin + n == N)
        download(logits(x + (n - 1) * E, 1), out.ptr(), size_t(V) * sizeof(float));
    }
    KVB_CUDA_CHECK(cudaDeviceSynchronize());
    return out;
  }

  int32_t forward_greedy(std::span<const int32_t> tokens, KVCache& cache, ForwardObserver* observer) override {
    const int64_t E = c_.n_embd, V = c_.vocab_size, N = int64_t(tokens.size());
    DeviceCacheMirror& mirror = mirror_of(cache);
    float* x = nullptr;
    int64_t n = 0;
    for (int64_t begin = 0; begin < N; begin += options_.prefill_chunk) {
      n = std::min<int64_t>(options_.prefill_chunk, N - begin);
      x = grow<float>(x_, n * E, "activations x");
      forward_chunk(tokens.subspan(size_t(begin), size_t(n)), cache, mirror, observer, x);
    }
    int32_t* d_next = grow<int32_t>(next_, 1, "next token");
    argmax(logits(x + (n - 1) * E, 1), 1, V, d_next);
    int32_t next = -1;
    download(d_next, &next, sizeof next);
    return next;
  }

 private:
  DeviceCacheMirror& mirror_of(KVCache& cache) {
    auto* m = dynamic_cast<DeviceCacheMirror*>(cache.mirror());
    if (m && m->owner() == this) return *m;
    auto fresh = std::make_unique<DeviceCacheMirror>(cache, this);
    DeviceCacheMirror& ref = *fresh;
    cache.set_mirror(std::move(fresh));
    return ref;
  }

  void forward_chunk(std::span<const int32_t> tokens, KVCache& cache, DeviceCacheMirror& mirror,
                     ForwardObserver* observer, float* x /* device [n, E] */) {
    const ModelConfig& c = c_;
    const int64_t n = int64_t(tokens.size()), E = c.n_embd, D = c.head_dim, F = c.n_ff;
    const int64_t Hq = c.n_heads, Hkv = c.n_kv_heads, QD = Hq * D, KD = Hkv * D;
    std::vector<int32_t> pos(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) pos[size_t(i)] = cache.next_position() + int32_t(i);
    int32_t* d_tokens = grow<int32_t>(tokens_, n, "token ids");
    int32_t* d_pos = grow<int32_t>(pos_, n, "positions");
    upload(tokens.data(), d_tokens, size_t(n) * sizeof(int32_t));
    upload(pos.data(), d_pos, size_t(n) * sizeof(int32_t));
    embedding(embedding_, d_tokens, n, x);

    float* xn = grow<float>(xn_, n * E, "activations xn");
    float* q = grow<float>(q_, n * QD, "queries");
    float* k = grow<float>(k_, n * KD, "keys");
    float* v = grow<float>(v_, n * KD, "values");
    float* att = grow<float>(att_, n * QD, "attention output");
    float* o = grow<float>(o_, n * E, "projection output");
    float* gate = grow<float>(gate_, n * F, "ffn gate");
    float* up = grow<float>(up_, n * F, "ffn up");
    std::vector<float> hk(size_t(n * KD)), hv(size_t(n * KD)), hq;
    if (observer) hq.resize(size_t(n * QD));
    std::vector<std::vector<float>> mass;
    const float scale = 1.0f / std::sqrt(float(D));
    for (int l = 0; l < c.n_layers; ++l) {
      const DeviceLayer& w = layers_[size_t(l)];
      const bool codec = cache.codec().has_value();
      if (!codec) mirror.sync(l, cache, n);
      rmsnorm(x, w.attn_norm.data.as<float>(), xn, n, E, E, c.rms_eps);
      linear(xn, n, w.wq, q, w.bq.data.as<float>(), ws_);
      linear(xn, n, w.wk, k, w.bk.data.as<float>(), ws_);
      linear(xn, n, w.wv, v, w.bv.data.as<float>(), ws_);
      if (c.qk_norm) {
        rmsnorm(q, w.q_norm.data.as<float>(), q, n * Hq, D, D, c.rms_eps);
        rmsnorm(k, w.k_norm.data.as<float>(), k, n * Hkv, D, D, c.rms_eps);
      }
      rope(q, n, Hq, D, QD, d_pos, inv_freq_.as<float>(), c.rope_neox);
      rope(k, n, Hkv, D, KD, d_pos, inv_freq_.as<float>(), c.rope_neox);
      // The host cache gets the same entries (methods decide on it); the device cache appends them
      // (fp32 layers) or copies the host's re-encoded layer over (KIVI layers).
      download(k, hk.data(), hk.size() * sizeof(float));
      download(v, hv.data(), hv.size() * sizeof(float));
      for (int h = 0; h < Hkv; ++h) cache.append(l, h, hk.data() + h * D, hv.data() + h * D, KD, pos.data(), n);
      if (codec) {
        mirror.device().set_layer(l, cache, l, 0);
      } else {
        for (int h = 0; h < Hkv; ++h) mirror.device().append(l, h, k + h * D, v + h * D, KD, n);
      }
      mirror.check_lengths(l, cache);
      if (observer) download(q, hq.data(), hq.size() * sizeof(float));

      const KVLayerView kv = mirror.device().view(l);
      const bool want_mass = observer && observer->wants_attention_mass(l);
      const ReadSelection* selection = observer ? observer->read_sets(l, hq.data(), n, cache) : nullptr;
      const AttentionCalibration* calib = observer ? observer->attention_calibration(l) : nullptr;
      KVB_CHECK(!calib || !calib->any(), "cuda backend: layer {}: attention calibration (act) runs on the cpu backend "
                "only (docs/cuda.md)", l);
      KVB_CHECK(!selection || selection->reads_everything() ||
                    (!selection->per_query_head && selection->second.empty() && !selection->compact_positions),
                "cuda backend: layer {}: per-query-head read sets, two-part (log-sum-exp merged) reads and compact "
                "positions (loki, tidaldecode, hip, longheads, retrieval_attention, tokenselect position_mode=compact) run on the "
                "cpu backend only (docs/cuda.md)", l);
      const PrefillPattern* pattern = observer ? observer->prefill_pattern(l, hq.data(), n, cache) : nullptr;
      KVB_CHECK(!pattern || pattern->dense(),
                "cuda backend: layer {}: sparse prefill patterns (minference) run on the cpu backend only (docs/cuda.md)",
                l);
      const std::vector<std::vector<int32_t>>* read =
          selection && !selection->reads_everything() ? &selection->sets : nullptr;
      if (n == 1 && !want_mass) {
        const DeviceReadSets rs = read ? upload_read_sets(*read) : DeviceReadSets{};
        decode_attention(q, kv, int(Hq), scale, att, ws_, rs.view());
      } else {
        KVB_CHECK(!read, "cuda backend: read sets (page selection) apply to decode steps without attention mass; "
                  "layer {} asked for both over {} tokens", l, n);
        float* d_mass = nullptr;
        if (want_mass) {
          d_mass = grow<float>(mass_, Hq * kv.max_length, "attention mass");
          KVB_CUDA_CHECK(cudaMemset(d_mass, 0, size_t(Hq * kv.max_length) * sizeof(float)));
        }
        prefill_attention(q, n, QD, kv, int(Hq), scale, att, QD, d_mass, kv.max_length, n, ws_);
        if (want_mass) download_mass(d_mass, kv.max_length, cache, l, mass);
      }
      if (observer) {
        LayerObservation obs{l, n, pos.data(), hq.data(), &cache, want_mass ? &mass : nullptr};
        observer->on_layer(obs);
      }
      linear(att, n, w.wo, o, nullptr, ws_);
      add(x, o, n * E);
      rmsnorm(x, w.ffn_norm.data.as<float>(), xn, n, E, E, c.rms_eps);
      linear(xn, n, w.w_gate, gate, nullptr, ws_);
      linear(xn, n, w.w_up, up, nullptr, ws_);
      swiglu(gate, up, gate, n * F);
      linear(gate, n, w.w_down, o, nullptr, ws_);
      add(x, o, n * E);
    }
    cache.advance(int32_t(n));
  }

  // mass [Hq, stride] on the device -> [Hq][T of the head's KV head] on the host.
  void download_mass(const float* d_mass, int64_t stride, const KVCache& cache, int l,
                     std::vector<std::vector<float>>& mass) const {
    const int64_t Hq = c_.n_heads, group = c_.n_heads / c_.n_kv_heads;
    std::vector<float> all(size_t(Hq * stride));
    download(d_mass, all.data(), all.size() * sizeof(float));
    mass.assign(size_t(Hq), {});
    for (int64_t qh = 0; qh < Hq; ++qh) {
      const int64_t T = cache.head(l, int(qh / group)).size();
      mass[size_t(qh)].assign(all.begin() + qh * stride, all.begin() + qh * stride + T);
    }
  }

  // Logits [n, V] on the device for x [n, E].
  const float* logits(const float* x, int64_t n) {
    const int64_t E = c_.n_embd, V = c_.vocab_size;
    float* xn = grow<float>(xn_, n * E, "activations xn");
    float* y = grow<float>(logits_, n * V, "logits");
    rmsnorm(x, output_norm_.data.as<float>(), xn, n, E, E, c_.rms_eps);
    linear(xn, n, lm_head_, y, nullptr, ws_);
    return y;
  }

  const ModelConfig& c_;
  EngineOptions options_;
  WeightType dtype_;
  std::string device_;
  DeviceWeight embedding_, lm_head_, output_norm_;
  std::vector<DeviceLayer> layers_;
  DeviceBuffer inv_freq_;
  DeviceBuffer x_, xn_, q_, k_, v_, att_, o_, gate_, up_, tokens_, pos_, mass_, logits_, next_;
  Workspace ws_;
};

}  // namespace

std::string describe_first_device() {
  const DeviceReport r = describe_devices();
  if (r.devices.empty()) return r.error.empty() ? std::string("no CUDA devices listed") : r.error;
  const Device& d = r.devices.front();
  return fmt::format("{} (sm_{}, {:.1f} GiB, driver {}.{}, runtime {}.{})", d.name, d.compute_capability,
                     double(d.memory_bytes) / double(1ull << 30), r.driver_version / 1000, r.driver_version % 1000 / 10,
                     r.runtime_version / 1000, r.runtime_version % 1000 / 10);
}

void register_backend() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto unavailable = []() -> std::string {
      const DeviceReport r = describe_devices();
      if (!r.devices.empty()) return "";
      return fmt::format("backend 'cuda': no usable CUDA device ({})",
                         r.error.empty() ? std::string("no CUDA devices listed") : r.error);
    };
    register_forward_backend(
        "cuda",
        [unavailable](const ModelConfig& c, const ModelWeights& w, const EngineOptions& o) {
          const std::string why = unavailable();
          KVB_CHECK(why.empty(), "{}", why);
          return std::unique_ptr<ForwardBackend>(std::make_unique<CudaForward>(c, w, o));
        },
        unavailable);
  });
}

}  // namespace kvb::cuda
