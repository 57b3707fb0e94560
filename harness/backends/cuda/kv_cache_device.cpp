// The KV cache on the device; see kv_cache_device.h.
#include "backends/cuda/kv_cache_device.h"

#include <algorithm>
#include <cstring>

#include "backends/cuda/check.h"
#include "core/error.h"

namespace kvb::cuda {

DeviceKVCache::DeviceKVCache(int n_layers, int n_kv_heads, int head_dim)
    : n_layers_(n_layers), n_kv_heads_(n_kv_heads), head_dim_(head_dim), layers_(size_t(n_layers)) {
  KVB_CHECK(n_layers >= 0 && n_kv_heads > 0 && head_dim > 0, "device KV cache: {} layers, {} KV heads, head dim {}",
            n_layers, n_kv_heads, head_dim);
  for (auto& l : layers_) {
    l.heads.resize(size_t(n_kv_heads));
    upload_meta(l, nullptr);
  }
}

DeviceKVCache::Layer& DeviceKVCache::layer_at(int layer) {
  KVB_CHECK(layer >= 0 && layer < n_layers_, "device KV cache: layer {} outside [0, {})", layer, n_layers_);
  return layers_[size_t(layer)];
}

const DeviceKVCache::Layer& DeviceKVCache::layer_at(int layer) const {
  KVB_CHECK(layer >= 0 && layer < n_layers_, "device KV cache: layer {} outside [0, {})", layer, n_layers_);
  return layers_[size_t(layer)];
}

void DeviceKVCache::upload_meta(Layer& l, cudaStream_t stream) {
  const size_t bytes = l.heads.size() * sizeof(DeviceHeadMeta);
  if (l.meta.bytes() != bytes) l.meta = DeviceBuffer(bytes, "KV cache metadata");
  // From pageable memory: returns once the source has been staged, so l.heads may change after.
  KVB_CUDA_CHECK(cudaMemcpyAsync(l.meta.data(), l.heads.data(), bytes, cudaMemcpyHostToDevice, stream));
}

DeviceKVCache DeviceKVCache::upload(const KVCache& cache, int64_t reserve) {
  DeviceKVCache d(cache.n_layers(), cache.n_kv_heads(), cache.head_dim());
  for (int l = 0; l < cache.n_layers(); ++l) d.set_layer(l, cache, l, reserve);
  return d;
}

void DeviceKVCache::set_layer(int dst_layer, const KVCache& cache, int src_layer, int64_t reserve) {
  KVB_CHECK(cache.n_kv_heads() == n_kv_heads_ && cache.head_dim() == head_dim_,
            "device KV cache: host cache has {} KV heads of dim {}, the device cache {} of dim {}", cache.n_kv_heads(),
            cache.head_dim(), n_kv_heads_, head_dim_);
  KVB_CHECK(src_layer >= 0 && src_layer < cache.n_layers(), "device KV cache: host layer {} outside [0, {})",
            src_layer, cache.n_layers());
  KVB_CHECK(reserve >= 0, "device KV cache: reserve {}", reserve);
  Layer& L = layer_at(dst_layer);
  L = Layer{};
  L.heads.resize(size_t(n_kv_heads_));
  const int64_t D = head_dim_;
  int64_t rows = 0, entries = 0, code_bytes = 0, kscales = 0, vscales = 0;
  bool any_bias = false, any_quant = false;
  for (int g = 0; g < n_kv_heads_; ++g) {
    const HeadCache& h = cache.head(src_layer, g);
    DeviceHeadMeta& m = L.heads[size_t(g)];
    const int64_t fp_rows = int64_t(h.fp_keys().size()) / D;
    KVB_CHECK(h.size() + reserve < INT32_MAX, "device KV cache: {} entries in layer {} head {}", h.size(), src_layer, g);
    KVB_CHECK(fp_rows == h.size() - h.n_quantized(), "device KV cache: layer {} head {} holds {} rows for {} entries",
              src_layer, g, fp_rows, h.size() - h.n_quantized());
    m.length = int32_t(h.size());
    m.n_quant = int32_t(h.n_quantized());
    m.row_capacity = int32_t(fp_rows + reserve);
    m.has_bias = h.logit_bias().empty() ? 0 : 1;
    m.row_offset = rows;
    m.entry_offset = entries;
    m.code_offset = code_bytes;
    m.kscale_offset = kscales;
    m.vscale_offset = vscales;
    rows += m.row_capacity;
    entries += m.n_quant + m.row_capacity;
    code_bytes += int64_t(h.quantized().k_codes.size());
    kscales += int64_t(h.quantized().k_scale.size());
    vscales += int64_t(h.quantized().v_scale.size());
    KVB_CHECK(h.quantized().v_codes.size() == h.quantized().k_codes.size(),
              "device KV cache: layer {} head {}: {} key code bytes, {} value code bytes", src_layer, g,
              h.quantized().k_codes.size(), h.quantized().v_codes.size());
    any_bias |= m.has_bias != 0;
    any_quant |= m.n_quant > 0;
  }
  L.codec = cache.codec().has_value();
  if (any_quant) {
    KVB_CHECK(L.codec, "device KV cache: layer {} holds packed entries but the cache has no codec", src_layer);
    const KiviConfig& cfg = *cache.codec();
    L.kivi_bits = cfg.bits;
    L.kivi_group = cfg.group;
    L.kivi_vgroup = int(kivi_value_group(cfg, D));
  }
  L.k = DeviceBuffer(size_t(rows * D) * sizeof(float), "KV cache keys");
  L.v = DeviceBuffer(size_t(rows * D) * sizeof(float), "KV cache values");
  if (any_bias) L.bias = DeviceBuffer(size_t(entries) * sizeof(float), "KV cache logit bias");
  if (any_quant) {
    L.k_codes = DeviceBuffer(size_t(code_bytes), "KIVI key codes");
    L.v_codes = DeviceBuffer(size_t(code_bytes), "KIVI value codes");
    L.k_scale = DeviceBuffer(size_t(kscales) * sizeof(float), "KIVI key scales");
    L.k_min = DeviceBuffer(size_t(kscales) * sizeof(float), "KIVI key mins");
    L.v_scale = DeviceBuffer(size_t(vscales) * sizeof(float), "KIVI value scales");
    L.v_min = DeviceBuffer(size_t(vscales) * sizeof(float), "KIVI value mins");
  }
  for (int g = 0; g < n_kv_heads_; ++g) {
    const HeadCache& h = cache.head(src_layer, g);
    const DeviceHeadMeta& m = L.heads[size_t(g)];
    L.k.upload(h.fp_keys().data(), h.fp_keys().size() * sizeof(float), size_t(m.row_offset * D) * sizeof(float));
    L.v.upload(h.fp_values().data(), h.fp_values().size() * sizeof(float), size_t(m.row_offset * D) * sizeof(float));
    if (m.has_bias) L.bias.upload(h.logit_bias().data(), h.logit_bias().size() * sizeof(float),
                                  size_t(m.entry_offset) * sizeof(float));
    else if (any_bias) {
      const std::vector<float> zeros(size_t(m.length), 0.0f);
      L.bias.upload(zeros.data(), zeros.size() * sizeof(float), size_t(m.entry_offset) * sizeof(float));
    }
    if (m.n_quant > 0) {
      const KiviBlock& b = h.quantized();
      L.k_codes.upload(b.k_codes.data(), b.k_codes.size(), size_t(m.code_offset));
      L.v_codes.upload(b.v_codes.data(), b.v_codes.size(), size_t(m.code_offset));
      L.k_scale.upload(b.k_scale.data(), b.k_scale.size() * sizeof(float), size_t(m.kscale_offset) * sizeof(float));
      L.k_min.upload(b.k_min.data(), b.k_min.size() * sizeof(float), size_t(m.kscale_offset) * sizeof(float));
      L.v_scale.upload(b.v_scale.data(), b.v_scale.size() * sizeof(float), size_t(m.vscale_offset) * sizeof(float));
      L.v_min.upload(b.v_min.data(), b.v_min.size() * sizeof(float), size_t(m.vscale_offset) * sizeof(float));
    }
  }
  upload_meta(L, nullptr);
  KVB_CUDA_CHECK(cudaStreamSynchronize(nullptr));
}

int64_t DeviceKVCache::free_rows(int layer) const {
  const Layer& L = layer_at(layer);
  int64_t free = INT64_MAX;
  for (const auto& m : L.heads) free = std::min<int64_t>(free, m.row_capacity - (m.length - m.n_quant));
  return L.heads.empty() ? 0 : free;
}

KVLayerView DeviceKVCache::view(int layer) const {
  const Layer& L = layer_at(layer);
  KVLayerView v;
  v.heads = L.meta.as<DeviceHeadMeta>();
  v.k = L.k.as<float>();
  v.v = L.v.as<float>();
  v.bias = L.bias.as<float>();
  v.k_codes = L.k_codes.as<uint8_t>();
  v.v_codes = L.v_codes.as<uint8_t>();
  v.k_scale = L.k_scale.as<float>();
  v.k_min = L.k_min.as<float>();
  v.v_scale = L.v_scale.as<float>();
  v.v_min = L.v_min.as<float>();
  v.n_kv_heads = n_kv_heads_;
  v.head_dim = head_dim_;
  v.kivi_bits = L.kivi_bits;
  v.kivi_group = L.kivi_group;
  v.kivi_vgroup = L.kivi_vgroup;
  v.max_length = 0;
  v.min_length = INT64_MAX;
  for (const auto& h : L.heads) {
    v.max_length = std::max<int64_t>(v.max_length, h.length);
    v.min_length = std::min<int64_t>(v.min_length, h.length);
  }
  if (L.heads.empty()) v.min_length = 0;
  return v;
}

void DeviceKVCache::append(int layer, int kv_head, const float* k, const float* v, int64_t stride, int64_t n,
                           cudaStream_t stream) {
  Layer& L = layer_at(layer);
  KVB_CHECK(kv_head >= 0 && kv_head < n_kv_heads_, "device KV cache: KV head {} outside [0, {})", kv_head, n_kv_heads_);
  KVB_CHECK(!L.codec, "device KV cache layer {}: appending to a cache stored with the KIVI codec is not supported "
            "on the device (the host re-quantizes old entries; upload the host cache instead)", layer);
  if (n <= 0) return;
  DeviceHeadMeta& m = L.heads[size_t(kv_head)];
  const int64_t D = head_dim_, used = m.length - m.n_quant;
  KVB_CHECK(used + n <= m.row_capacity, "device KV cache layer {} head {}: appending {} rows to {} of {} reserved "
            "(upload with a larger reserve)", layer, kv_head, n, used, m.row_capacity);
  KVB_CHECK(stride >= D, "device KV cache append: row stride {} below head dim {}", stride, D);
  float* dk = L.k.as<float>() + (m.row_offset + used) * D;
  float* dv = L.v.as<float>() + (m.row_offset + used) * D;
  KVB_CUDA_CHECK(cudaMemcpy2DAsync(dk, size_t(D) * sizeof(float), k, size_t(stride) * sizeof(float),
                                   size_t(D) * sizeof(float), size_t(n), cudaMemcpyDeviceToDevice, stream));
  KVB_CUDA_CHECK(cudaMemcpy2DAsync(dv, size_t(D) * sizeof(float), v, size_t(stride) * sizeof(float),
                                   size_t(D) * sizeof(float), size_t(n), cudaMemcpyDeviceToDevice, stream));
  if (!L.bias.empty())
    KVB_CUDA_CHECK(cudaMemsetAsync(L.bias.as<float>() + m.entry_offset + m.length, 0, size_t(n) * sizeof(float),
                                   stream));  // all-zero bytes are 0.0f
  m.length += int32_t(n);
  upload_meta(L, stream);
}

void DeviceKVCache::keep(int layer, const std::vector<std::vector<int32_t>>& sets, cudaStream_t stream) {
  Layer& L = layer_at(layer);
  KVB_CHECK(int(sets.size()) == n_kv_heads_, "device KV cache keep: {} keep sets for {} KV heads of layer {}",
            sets.size(), n_kv_heads_, layer);
  const int64_t D = head_dim_;
  std::vector<GatherHead> gh(static_cast<size_t>(n_kv_heads_));
  std::vector<DeviceHeadMeta> next = L.heads;
  std::vector<int32_t> flat;
  int64_t rows = 0, max_count = 0;
  for (int g = 0; g < n_kv_heads_; ++g) {
    const DeviceHeadMeta& m = L.heads[size_t(g)];
    const std::vector<int32_t>& s = sets[size_t(g)];
    KVB_CHECK(m.n_quant == 0, "device KV cache layer {} head {}: entries stored with the KIVI codec cannot be evicted "
              "(compress before encoding)", layer, g);
    int32_t prev = -1;
    for (int32_t idx : s) {
      KVB_CHECK(idx > prev && idx < m.length,
                "device KV cache keep set for layer {} head {}: index {} out of order or range (size {})", layer, g,
                idx, m.length);
      prev = idx;
    }
    const int64_t count = int64_t(s.size());
    DeviceHeadMeta& nm = next[size_t(g)];
    nm.length = int32_t(count);
    nm.row_capacity = int32_t(count + (m.row_capacity - m.length));  // keeps the head's unused reserve
    nm.row_offset = rows;
    nm.entry_offset = rows;  // no packed entries: one entry per row
    GatherHead& x = gh[size_t(g)];
    x.src_row = m.row_offset;
    x.dst_row = nm.row_offset;
    x.src_entry = m.entry_offset;
    x.dst_entry = nm.entry_offset;
    x.idx_offset = int64_t(flat.size());
    x.count = int32_t(count);
    x.has_bias = L.bias.empty() ? 0 : 1;
    flat.insert(flat.end(), s.begin(), s.end());
    rows += nm.row_capacity;
    max_count = std::max(max_count, count);
  }
  DeviceBuffer k(size_t(rows * D) * sizeof(float), "KV cache keys"), v(size_t(rows * D) * sizeof(float),
                                                                        "KV cache values");
  DeviceBuffer bias;
  if (!L.bias.empty()) bias = DeviceBuffer(size_t(rows) * sizeof(float), "KV cache logit bias");
  DeviceBuffer d_heads = to_device(gh.data(), gh.size(), "gather heads");
  DeviceBuffer d_idx = to_device(flat.data(), flat.size(), "keep indices");
  gather_kv_rows(L.k.as<float>(), L.v.as<float>(), L.bias.as<float>(), k.as<float>(), v.as<float>(), bias.as<float>(),
                 d_heads.as<GatherHead>(), n_kv_heads_, d_idx.as<int32_t>(), max_count, D, stream);
  KVB_CUDA_CHECK(cudaStreamSynchronize(stream));  // the old buffers and the index arrays are freed below
  L.k = std::move(k);
  L.v = std::move(v);
  L.bias = std::move(bias);
  L.heads = std::move(next);
  upload_meta(L, stream);
}

DeviceKVCache::HostHead DeviceKVCache::download(int layer, int kv_head) const {
  const Layer& L = layer_at(layer);
  KVB_CHECK(kv_head >= 0 && kv_head < n_kv_heads_, "device KV cache: KV head {} outside [0, {})", kv_head, n_kv_heads_);
  KVB_CUDA_CHECK(cudaDeviceSynchronize());
  const DeviceHeadMeta& m = L.heads[size_t(kv_head)];
  const int64_t D = head_dim_, rows = m.length - m.n_quant;
  HostHead h;
  h.length = m.length;
  h.n_quant = m.n_quant;
  h.keys.resize(size_t(rows * D));
  h.values.resize(size_t(rows * D));
  L.k.download(h.keys.data(), h.keys.size() * sizeof(float), size_t(m.row_offset * D) * sizeof(float));
  L.v.download(h.values.data(), h.values.size() * sizeof(float), size_t(m.row_offset * D) * sizeof(float));
  if (m.has_bias) {
    h.bias.resize(size_t(m.length));
    L.bias.download(h.bias.data(), h.bias.size() * sizeof(float), size_t(m.entry_offset) * sizeof(float));
  }
  return h;
}

size_t DeviceKVCache::bytes() const {
  size_t b = 0;
  for (const auto& L : layers_)
    for (const DeviceBuffer* x : {&L.k, &L.v, &L.bias, &L.k_codes, &L.v_codes, &L.k_scale, &L.k_min, &L.v_scale,
                                  &L.v_min, &L.meta})
      b += x->bytes();
  return b;
}

DeviceReadSets upload_read_sets(const std::vector<std::vector<int32_t>>& read) {
  DeviceReadSets r;
  if (read.empty()) return r;
  std::vector<int64_t> offsets{0};
  std::vector<int32_t> flat;
  for (size_t g = 0; g < read.size(); ++g) {
    int32_t prev = -1;
    for (int32_t idx : read[g]) {
      KVB_CHECK(idx > prev, "read set of KV head {}: index {} not strictly increasing", g, idx);
      prev = idx;
    }
    flat.insert(flat.end(), read[g].begin(), read[g].end());
    offsets.push_back(int64_t(flat.size()));
    r.max_count = std::max<int64_t>(r.max_count, int64_t(read[g].size()));
  }
  if (flat.empty()) flat.push_back(0);  // every head reads nothing: keep a valid (unread) pointer
  r.indices = to_device(flat.data(), flat.size(), "read set indices");
  r.offsets = to_device(offsets.data(), offsets.size(), "read set offsets");
  r.empty = false;
  return r;
}

ReadSetsView DeviceReadSets::view() const {
  if (empty) return {};
  return {indices.as<int32_t>(), offsets.as<int64_t>(), max_count};
}

}  // namespace kvb::cuda
