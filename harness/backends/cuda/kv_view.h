// What a CUDA attention kernel sees of one layer of the KV cache: plain pointers and per-KV-head
// metadata, no harness types (this header is compiled by nvcc and by the host compiler).
// Built by DeviceKVCache::view() (kv_cache_device.h). Axes: Hkv KV heads, T entries, D head dim.
//
// Entry j of KV head g (0 <= j < T_g, indexed like HeadCache's positions):
//   j <  n_quant: KIVI-packed (kivi_codec.h layout, per head): code of element (j, d) at bit
//                 (j*D + d) * bits of the head's codes; key = k_min[s] + k_scale[s] * code with
//                 s = (j / group) * D + d; value = v_min[s] + v_scale[s] * code with
//                 s = j * ceil(D / vgroup) + d / vgroup
//   j >= n_quant: fp32 row (row_offset + j - n_quant) of k / v ([rows, D])
// logit bias of entry j: bias[entry_offset + j] when has_bias, else 0.
#pragma once
#include <cstdint>

namespace kvb::cuda {

struct DeviceHeadMeta {
  int64_t row_offset = 0;     // first fp32 row of the head in k / v
  int64_t entry_offset = 0;   // first entry of the head in bias
  int64_t code_offset = 0;    // first byte of the head's packed codes in k_codes / v_codes
  int64_t kscale_offset = 0;  // first float of the head's [n_quant / group, D] key scales / mins
  int64_t vscale_offset = 0;  // first float of the head's [n_quant, ceil(D / vgroup)] value scales / mins
  int32_t length = 0;         // T entries
  int32_t n_quant = 0;        // entries [0, n_quant) are KIVI-packed
  int32_t row_capacity = 0;   // fp32 rows allocated (length - n_quant <= row_capacity)
  int32_t has_bias = 0;
};

struct KVLayerView {
  const DeviceHeadMeta* heads = nullptr;  // [Hkv], device memory
  const float* k = nullptr;               // fp32 rows [rows, D]
  const float* v = nullptr;
  const float* bias = nullptr;            // per entry, see has_bias
  const uint8_t* k_codes = nullptr;       // KIVI packed codes (kivi_bits > 0 only)
  const uint8_t* v_codes = nullptr;
  const float* k_scale = nullptr;
  const float* k_min = nullptr;
  const float* v_scale = nullptr;
  const float* v_min = nullptr;
  int n_kv_heads = 0, head_dim = 0;
  int kivi_bits = 0;    // 0: no head of this layer holds packed entries
  int kivi_group = 0;   // tokens per key group
  int kivi_vgroup = 0;  // channels per value group
  int64_t max_length = 0;  // host-side copies: max / min T over the layer's heads (grid sizes, checks)
  int64_t min_length = 0;
};

// Entries each KV head reads (page selection, e.g. quest): head g reads the sorted entry indices
// indices[offsets[g] .. offsets[g + 1]). Device memory; an empty view (indices == nullptr) reads
// every entry.
struct ReadSetsView {
  const int32_t* indices = nullptr;
  const int64_t* offsets = nullptr;  // [Hkv + 1]
  int64_t max_count = 0;             // host-side copy: max entries read by one head
};

}  // namespace kvb::cuda
