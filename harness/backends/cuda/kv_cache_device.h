// The KV cache on the device: the same per-(layer, KV head) ragged storage as kv/kv_cache.h —
// fp32 rows, KIVI-packed older entries (kivi_codec.h layout, copied as stored), per-entry logit
// bias — one set of buffers per layer, so compacting a layer really frees its old memory.
// Entries are indexed exactly like the host HeadCache, so keep sets, read sets and attention mass
// mean the same on both sides. Tested in tests/test_cuda_ops.cpp (CudaKVCache.*).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "backends/cuda/kv_view.h"
#include "backends/cuda/memory.h"
#include "backends/cuda/ops.h"
#include "kv/kv_cache.h"

namespace kvb::cuda {

class DeviceKVCache {
 public:
  DeviceKVCache(int n_layers, int n_kv_heads, int head_dim);

  // A device copy of every layer of `cache`; each head gets room for `reserve` more rows (append).
  static DeviceKVCache upload(const KVCache& cache, int64_t reserve = 0);
  // Replaces layer `dst_layer` with a copy of layer `src_layer` of `cache` (same Hkv and D).
  void set_layer(int dst_layer, const KVCache& cache, int src_layer, int64_t reserve = 0);

  int n_layers() const { return n_layers_; }
  int n_kv_heads() const { return n_kv_heads_; }
  int head_dim() const { return head_dim_; }
  int64_t length(int layer, int kv_head) const { return layer_at(layer).heads.at(size_t(kv_head)).length; }
  // Rows every head of `layer` can still append before its buffers must be re-uploaded larger.
  int64_t free_rows(int layer) const;
  // What the attention kernels read.
  KVLayerView view(int layer) const;

  // Appends n tokens to one head: k, v are device [n, D] with row stride `stride` floats (the
  // rows of a [n, Hkv*D] projection at column kv_head*D). The new entries get logit bias 0.
  // Fails when the head's reserve is used up, and for layers stored with the KIVI codec (the
  // device does not re-quantize; the host cache would).
  void append(int layer, int kv_head, const float* k, const float* v, int64_t stride, int64_t n,
              cudaStream_t stream = nullptr);
  // KVCache::keep for every head of a layer at once: sets[g] holds the strictly increasing entry
  // indices head g keeps (sets.size() == Hkv; pass 0..T-1 to keep a head whole). One gather
  // kernel into new buffers, then the old ones are freed. Heads holding KIVI-packed entries
  // cannot be compacted (as on the host).
  void keep(int layer, const std::vector<std::vector<int32_t>>& sets, cudaStream_t stream = nullptr);

  // One head copied back (tests): the fp32 rows [length - n_quant, D] and the bias [length] (empty
  // without bias).
  struct HostHead {
    int64_t length = 0, n_quant = 0;
    std::vector<float> keys, values, bias;
  };
  HostHead download(int layer, int kv_head) const;

  // Device bytes held by all layers (capacity, metadata included).
  size_t bytes() const;

 private:
  struct Layer {
    DeviceBuffer k, v, bias, k_codes, v_codes, k_scale, k_min, v_scale, v_min, meta;
    std::vector<DeviceHeadMeta> heads;  // host copy of `meta`
    bool codec = false;                 // the host cache had the KIVI codec set
    int kivi_bits = 0, kivi_group = 0, kivi_vgroup = 0;
  };
  Layer& layer_at(int layer);
  const Layer& layer_at(int layer) const;
  void upload_meta(Layer& l, cudaStream_t stream);

  int n_layers_, n_kv_heads_, head_dim_;
  std::vector<Layer> layers_;
};

}  // namespace kvb::cuda
