// KV cache storage and compaction; see kv_cache.h.
#include "kv/kv_cache.h"

#include <cstring>

#include "core/error.h"

namespace kvb {

KVCache::KVCache(int n_layers, int n_kv_heads, int head_dim)
    : n_layers_(n_layers), n_kv_heads_(n_kv_heads), head_dim_(head_dim), heads_(size_t(n_layers) * n_kv_heads) {}

void KVCache::append(int layer, int kv_head, const float* k, const float* v, int64_t stride, const int32_t* pos,
                     int64_t n) {
  HeadCache& h = head(layer, kv_head);
  const int64_t D = head_dim_;
  size_t old = h.keys.size();
  h.keys.resize(old + size_t(n * D));
  h.values.resize(old + size_t(n * D));
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(h.keys.data() + old + i * D, k + i * stride, D * sizeof(float));
    std::memcpy(h.values.data() + old + i * D, v + i * stride, D * sizeof(float));
  }
  h.positions.insert(h.positions.end(), pos, pos + n);
  if (!h.logit_bias.empty()) h.logit_bias.resize(h.positions.size(), 0.0f);
  if (codec_) quantize_old_entries(h);
}

void KVCache::append_compensation(int layer, int kv_head, const float* key, const float* value, int32_t position,
                                  float logit_bias) {
  HeadCache& h = head(layer, kv_head);
  KVB_CHECK(!h.is_quantized(), "KV cache layer {} head {}: compensation entries go before KIVI encoding", layer,
            kv_head);
  // Exact reservations: the appended entry costs its own bytes, not a doubled capacity.
  h.keys.reserve(h.keys.size() + size_t(head_dim_));
  h.values.reserve(h.values.size() + size_t(head_dim_));
  h.positions.reserve(h.positions.size() + 1);
  if (h.logit_bias.empty()) {
    h.logit_bias.reserve(h.positions.size() + 1);
    h.logit_bias.assign(h.positions.size(), 0.0f);
  }
  h.keys.insert(h.keys.end(), key, key + head_dim_);
  h.values.insert(h.values.end(), value, value + head_dim_);
  h.positions.push_back(position);
  h.logit_bias.push_back(logit_bias);
  layer_changed(layer);
}

void KVCache::quantize_old_entries(HeadCache& h) {
  const KiviConfig& cfg = *codec_;
  const int64_t D = head_dim_, fp = h.size() - h.quantized.n;  // fp32 entries
  const int64_t n_q = fp >= cfg.residual + cfg.group ? ((fp - cfg.residual) / cfg.group) * cfg.group : 0;
  if (n_q == 0) return;
  kivi_quantize_append(h.quantized, cfg, D, h.keys.data(), h.values.data(), n_q);
  h.keys.erase(h.keys.begin(), h.keys.begin() + n_q * D);
  h.values.erase(h.values.begin(), h.values.begin() + n_q * D);
}

void KVCache::set_codec(const KiviConfig& cfg) {
  KVB_CHECK(cfg.group >= 1 && cfg.residual >= 0, "kivi: group {} / residual {} out of range", cfg.group, cfg.residual);
  codec_ = cfg;
  for (auto& h : heads_) {
    quantize_old_entries(h);
    h.keys.shrink_to_fit();  // the quantized entries' fp32 storage is released here
    h.values.shrink_to_fit();
    h.quantized.k_codes.shrink_to_fit();
    h.quantized.v_codes.shrink_to_fit();
    h.quantized.k_scale.shrink_to_fit();
    h.quantized.k_min.shrink_to_fit();
    h.quantized.v_scale.shrink_to_fit();
    h.quantized.v_min.shrink_to_fit();
  }
  for (int l = 0; l < n_layers_; ++l) layer_changed(l);
}

KVCache::DenseRows KVCache::dense_rows(int layer, int kv_head, std::vector<float>& kbuf, std::vector<float>& vbuf) const {
  const HeadCache& h = head(layer, kv_head);
  if (!h.is_quantized()) return {h.keys.data(), h.values.data()};
  const int64_t D = head_dim_, T = h.size(), nq = h.quantized.n;
  kbuf.resize(size_t(T * D));
  vbuf.resize(size_t(T * D));
  kivi_dequantize(h.quantized, *codec_, D, kbuf.data(), vbuf.data());
  std::copy(h.keys.begin(), h.keys.end(), kbuf.begin() + nq * D);
  std::copy(h.values.begin(), h.values.end(), vbuf.begin() + nq * D);
  return {kbuf.data(), vbuf.data()};
}

void KVCache::keep(int layer, int kv_head, std::span<const int32_t> indices) {
  HeadCache& h = head(layer, kv_head);
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
  out.keys.resize(indices.size() * D);
  out.values.resize(indices.size() * D);
  out.positions.resize(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    std::memcpy(out.keys.data() + i * D, h.keys.data() + indices[i] * D, D * sizeof(float));
    std::memcpy(out.values.data() + i * D, h.values.data() + indices[i] * D, D * sizeof(float));
    out.positions[i] = h.positions[indices[i]];
  }
  out.zeroed_key_channels = std::move(h.zeroed_key_channels);
  if (!h.logit_bias.empty())
    for (int32_t idx : indices) out.logit_bias.push_back(h.logit_bias[size_t(idx)]);
  h = std::move(out);  // the old buffers are freed here
  if (mirror_.get()) mirror_.get()->on_keep(layer, kv_head, indices);
}

std::vector<int32_t> HeadCache::key_channels(int head_dim) const {
  std::vector<int32_t> out;
  size_t z = 0;
  for (int32_t c = 0; c < head_dim; ++c) {
    if (z < zeroed_key_channels.size() && zeroed_key_channels[z] == c) {
      ++z;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void KVCache::zero_key_channels(int layer, int kv_head, std::span<const int32_t> channels) {
  HeadCache& h = head(layer, kv_head);
  KVB_CHECK(!h.is_quantized(), "KV cache layer {} head {}: key channels of KIVI-encoded entries cannot be pruned",
            layer, kv_head);
  int32_t prev = -1;
  for (int32_t c : channels) {
    KVB_CHECK(c > prev && c < head_dim_, "KV cache: key channel {} of layer {} head {} out of order or range", c, layer,
              kv_head);
    prev = c;
  }
  for (int64_t j = 0; j < h.size(); ++j)
    for (int32_t c : channels) h.keys[size_t(j * head_dim_ + c)] = 0.0f;
  h.zeroed_key_channels.assign(channels.begin(), channels.end());
  layer_changed(layer);
}

void KVCache::reserve(int64_t n_tokens) {
  for (auto& h : heads_) {
    h.keys.reserve(size_t(n_tokens * head_dim_));
    h.values.reserve(size_t(n_tokens * head_dim_));
    h.positions.reserve(size_t(n_tokens));
  }
}

void KVCache::reserve_additional(int64_t n_tokens) {
  for (auto& h : heads_) {
    const size_t t = size_t(h.size() - h.quantized.n + n_tokens);
    h.keys.reserve(t * size_t(head_dim_));
    h.values.reserve(t * size_t(head_dim_));
    h.positions.reserve(size_t(h.size() + n_tokens));
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
    b += (h.keys.capacity() + h.values.capacity() + h.logit_bias.capacity()) * sizeof(float) +
         h.positions.capacity() * sizeof(int32_t) +
         h.quantized.bytes();
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
