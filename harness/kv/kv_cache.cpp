// KV cache storage and compaction; see kv_cache.h.
#include "kv/kv_cache.h"

#include <atomic>
#include <cstring>

#include "core/error.h"

namespace kvb {

uint64_t EditStamp::fresh() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

KVCache::KVCache(int n_layers, int n_kv_heads, int head_dim)
    : n_layers_(n_layers), n_kv_heads_(n_kv_heads), head_dim_(head_dim), heads_(size_t(n_layers) * n_kv_heads) {}

void KVCache::append(int layer, int kv_head, const float* k, const float* v, int64_t stride, const int32_t* pos,
                     int64_t n) {
  HeadCache& h = mutable_head(layer, kv_head);
  const int64_t D = head_dim_;
  size_t old = h.keys_.size();
  h.keys_.resize(old + size_t(n * D));
  h.values_.resize(old + size_t(n * D));
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(h.keys_.data() + old + i * D, k + i * stride, D * sizeof(float));
    std::memcpy(h.values_.data() + old + i * D, v + i * stride, D * sizeof(float));
  }
  h.positions_.insert(h.positions_.end(), pos, pos + n);
  if (!h.logit_bias_.empty()) h.logit_bias_.resize(h.positions_.size(), 0.0f);
  if (codec_) quantize_old_entries(h);
}

void KVCache::append_compensation(int layer, int kv_head, const float* key, const float* value, int32_t position,
                                  float logit_bias) {
  HeadCache& h = mutable_head(layer, kv_head);
  KVB_CHECK(!h.is_quantized(), "KV cache layer {} head {}: compensation entries go before KIVI encoding", layer,
            kv_head);
  // Exact reservations: the appended entry costs its own bytes, not a doubled capacity.
  h.keys_.reserve(h.keys_.size() + size_t(head_dim_));
  h.values_.reserve(h.values_.size() + size_t(head_dim_));
  h.positions_.reserve(h.positions_.size() + 1);
  if (h.logit_bias_.empty()) {
    h.logit_bias_.reserve(h.positions_.size() + 1);
    h.logit_bias_.assign(h.positions_.size(), 0.0f);
  }
  h.keys_.insert(h.keys_.end(), key, key + head_dim_);
  h.values_.insert(h.values_.end(), value, value + head_dim_);
  h.positions_.push_back(position);
  h.logit_bias_.push_back(logit_bias);
  h.stamp_.renew();  // every entry's logit bias may have been created here
  layer_changed(layer);
}

void KVCache::quantize_old_entries(HeadCache& h) {
  const KiviConfig& cfg = *codec_;
  const int64_t D = head_dim_, fp = h.size() - h.quantized_.n;  // fp32 entries
  const int64_t n_q = fp >= cfg.residual + cfg.group ? ((fp - cfg.residual) / cfg.group) * cfg.group : 0;
  if (n_q == 0) return;
  kivi_quantize_append(h.quantized_, cfg, D, h.keys_.data(), h.values_.data(), n_q);
  h.keys_.erase(h.keys_.begin(), h.keys_.begin() + n_q * D);
  h.values_.erase(h.values_.begin(), h.values_.begin() + n_q * D);
  h.stamp_.renew();  // the quantized entries now read back dequantized
}

void KVCache::set_codec(const KiviConfig& cfg) {
  KVB_CHECK(cfg.group >= 1 && cfg.residual >= 0, "kivi: group {} / residual {} out of range", cfg.group, cfg.residual);
  codec_ = cfg;
  for (auto& h : heads_) {
    quantize_old_entries(h);
    h.keys_.shrink_to_fit();  // the quantized entries' fp32 storage is released here
    h.values_.shrink_to_fit();
    h.quantized_.k_codes.shrink_to_fit();
    h.quantized_.v_codes.shrink_to_fit();
    h.quantized_.k_scale.shrink_to_fit();
    h.quantized_.k_min.shrink_to_fit();
    h.quantized_.v_scale.shrink_to_fit();
    h.quantized_.v_min.shrink_to_fit();
  }
  for (int l = 0; l < n_layers_; ++l) layer_changed(l);
}

KVCache::DenseRows KVCache::dense_rows(int layer, int kv_head, std::vector<float>& kbuf, std::vector<float>& vbuf) const {
  const HeadCache& h = head(layer, kv_head);
  if (!h.is_quantized()) return {h.keys_.data(), h.values_.data()};
  const int64_t D = head_dim_, T = h.size(), nq = h.quantized_.n;
  kbuf.resize(size_t(T * D));
  vbuf.resize(size_t(T * D));
  kivi_dequantize(h.quantized_, *codec_, D, kbuf.data(), vbuf.data());
  std::copy(h.keys_.begin(), h.keys_.end(), kbuf.begin() + nq * D);
  std::copy(h.values_.begin(), h.values_.end(), vbuf.begin() + nq * D);
  return {kbuf.data(), vbuf.data()};
}

HeadRows KVCache::rows(int layer, int kv_head) const {
  HeadRows r;
  r.n_ = head(layer, kv_head).size();
  r.dim_ = head_dim_;
  const DenseRows d = dense_rows(layer, kv_head, r.kbuf_, r.vbuf_);
  r.keys_ = d.keys;
  r.values_ = d.values;
  return r;
}

void KVCache::keep(int layer, int kv_head, std::span<const int32_t> indices) {
  HeadCache& h = mutable_head(layer, kv_head);
  KVB_CHECK(!h.is_quantized(), "KV cache layer {} head {}: entries stored with the KIVI codec cannot be evicted "
            "(compress before encoding)", layer, kv_head);
  const int64_t D = head_dim_, T = h.size();
  int32_t prev = -1;
  for (int32_t idx : indices) {
    KVB_CHECK(idx > prev && idx < T, "KV cache keep set for layer {} head {}: index {} out of order or range (size {})",
              layer, kv_head, idx, T);
    prev = idx;
  }
  HeadCache out;
  out.keys_.resize(indices.size() * D);
  out.values_.resize(indices.size() * D);
  out.positions_.resize(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    std::memcpy(out.keys_.data() + i * D, h.keys_.data() + indices[i] * D, D * sizeof(float));
    std::memcpy(out.values_.data() + i * D, h.values_.data() + indices[i] * D, D * sizeof(float));
    out.positions_[i] = h.positions_[indices[i]];
  }
  out.zeroed_key_channels_ = std::move(h.zeroed_key_channels_);
  if (!h.logit_bias_.empty())
    for (int32_t idx : indices) out.logit_bias_.push_back(h.logit_bias_[size_t(idx)]);
  h = std::move(out);  // the old buffers are freed here
  if (mirror_.get()) mirror_.get()->on_keep(layer, kv_head, indices);
}

std::vector<int32_t> HeadCache::key_channels(int head_dim) const {
  std::vector<int32_t> out;
  size_t z = 0;
  for (int32_t c = 0; c < head_dim; ++c) {
    if (z < zeroed_key_channels_.size() && zeroed_key_channels_[z] == c) {
      ++z;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void KVCache::zero_key_channels(int layer, int kv_head, std::span<const int32_t> channels) {
  HeadCache& h = mutable_head(layer, kv_head);
  KVB_CHECK(!h.is_quantized(), "KV cache layer {} head {}: key channels of KIVI-encoded entries cannot be pruned",
            layer, kv_head);
  int32_t prev = -1;
  for (int32_t c : channels) {
    KVB_CHECK(c > prev && c < head_dim_, "KV cache: key channel {} of layer {} head {} out of order or range", c, layer,
              kv_head);
    prev = c;
  }
  for (int64_t j = 0; j < h.size(); ++j)
    for (int32_t c : channels) h.keys_[size_t(j * head_dim_ + c)] = 0.0f;
  h.zeroed_key_channels_.assign(channels.begin(), channels.end());
  h.stamp_.renew();
  layer_changed(layer);
}

void KVCache::reserve(int64_t n_tokens) {
  for (auto& h : heads_) {
    h.keys_.reserve(size_t(n_tokens * head_dim_));
    h.values_.reserve(size_t(n_tokens * head_dim_));
    h.positions_.reserve(size_t(n_tokens));
  }
}

void KVCache::reserve_additional(int64_t n_tokens) {
  for (auto& h : heads_) {
    const size_t t = size_t(h.size() - h.quantized_.n + n_tokens);
    h.keys_.reserve(t * size_t(head_dim_));
    h.values_.reserve(t * size_t(head_dim_));
    h.positions_.reserve(size_t(h.size() + n_tokens));
  }
}

void KVCache::clear() {
  for (auto& h : heads_) h = HeadCache{};
  codec_.reset();
  next_position_ = 0;
  for (int l = 0; l < n_layers_; ++l) layer_changed(l);
}

size_t KVCache::resident_bytes() const {
  size_t b = 0;
  for (auto& h : heads_)
    b += (h.keys_.capacity() + h.values_.capacity() + h.logit_bias_.capacity()) * sizeof(float) +
         h.positions_.capacity() * sizeof(int32_t) +
         h.quantized_.bytes();
  return b;
}

size_t KVCache::nominal_bytes() const {
  return size_t(next_position_) * heads_.size() * (2 * size_t(head_dim_) * sizeof(float) + sizeof(int32_t));
}

int64_t KVCache::cached_tokens() const {
  int64_t n = 0;
  for (auto& h : heads_) n += h.size();
  return n;
}

}  // namespace kvb
