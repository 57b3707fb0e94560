// The KV cache: the only code that mutates cached keys and values. Storage is ragged per
// (layer, KV head): each head keeps its own list of tokens (post-RoPE key [D], value [D] and the
// token's original position), so methods can evict per head and the memory is really freed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "kv/kivi_codec.h"

namespace kvb {

// A number no other head state shares: renewed on every change to entries a head already holds, and on
// every copy or move (so a restored snapshot never passes for the head it replaced). Appending entries
// keeps it: a reader that summarised entries [0, n) under a stamp may extend that summary when the
// stamp is unchanged and the head has grown (quest's page bounds, methods/quest.cpp).
class EditStamp {
 public:
  EditStamp() : value_(fresh()) {}
  EditStamp(const EditStamp&) : value_(fresh()) {}
  EditStamp(EditStamp&&) noexcept : value_(fresh()) {}
  EditStamp& operator=(const EditStamp&) {
    renew();
    return *this;
  }
  EditStamp& operator=(EditStamp&&) noexcept {
    renew();
    return *this;
  }
  void renew() { value_ = fresh(); }
  uint64_t value() const { return value_; }

 private:
  static uint64_t fresh();
  uint64_t value_;
};

// One (layer, KV head) of the cache. Read-only outside KVCache: a method sees every entry through
// KVCache::rows (dense fp32, dequantized when KIVI-encoded), never the storage itself, so it cannot
// index packed or dropped rows by accident.
class HeadCache {
 public:
  int64_t size() const { return int64_t(positions_.size()); }
  bool is_quantized() const { return quantized_.n > 0; }
  // Entries [0, n_quantized()) live packed in quantized() (KIVI codec); the rest in fp32.
  int64_t n_quantized() const { return quantized_.n; }
  const KiviBlock& quantized() const { return quantized_; }
  // The fp32 rows: entries [n_quantized(), size()), [size() - n_quantized(), D] post-RoPE. Only the
  // attention kernels and the device mirror read these; methods use KVCache::rows.
  const std::vector<float>& fp_keys() const { return keys_; }
  const std::vector<float>& fp_values() const { return values_; }
  const std::vector<int32_t>& positions() const { return positions_; }  // [T] original positions
  // [T] added to each entry's attention logit (razor_attention's compensation entry stands for n
  // dropped tokens: log n); empty = all zero.
  const std::vector<float>& logit_bias() const { return logit_bias_; }
  // Key channels a method pruned (think), ascending.
  const std::vector<int32_t>& zeroed_key_channels() const { return zeroed_key_channels_; }
  // The key channels still carrying data: every channel but the zeroed ones.
  std::vector<int32_t> key_channels(int head_dim) const;
  // Unchanged while this head only grows by appended entries (EditStamp).
  uint64_t edit_stamp() const { return stamp_.value(); }

 private:
  friend class KVCache;
  KiviBlock quantized_;
  std::vector<float> keys_;         // [T - quantized_.n, D] post-RoPE
  std::vector<float> values_;       // [T - quantized_.n, D]
  std::vector<int32_t> positions_;  // [T]
  std::vector<int32_t> zeroed_key_channels_;
  std::vector<float> logit_bias_;   // [T] or empty
  EditStamp stamp_;
};

// Every entry of one head as dense fp32 rows: a view of the head's storage, or (KIVI) a dequantized
// copy it owns. Valid while the cache is not changed.
class HeadRows {
 public:
  HeadRows(HeadRows&&) noexcept = default;
  HeadRows(const HeadRows&) = delete;
  HeadRows& operator=(const HeadRows&) = delete;
  int64_t size() const { return n_; }
  const float* keys() const { return keys_; }      // [T, D]
  const float* values() const { return values_; }  // [T, D]
  const float* key(int64_t j) const { return keys_ + j * dim_; }
  const float* value(int64_t j) const { return values_ + j * dim_; }

 private:
  friend class KVCache;
  HeadRows() = default;
  int64_t n_ = 0, dim_ = 0;
  const float* keys_ = nullptr;
  const float* values_ = nullptr;
  std::vector<float> kbuf_, vbuf_;  // the dequantized copy (KIVI), else empty
};

// A copy of the cache kept elsewhere that must follow its changes: the CUDA backend's device cache
// (backends/cuda/cuda_forward.cpp). Appends are made by the engine on both sides; every other change
// is reported here: keep sets (applied on the device by a gather kernel), and changes that are
// copied over whole (compensation entries, zeroed key channels, the KIVI codec, clear).
class KVCacheMirror {
 public:
  virtual ~KVCacheMirror() = default;
  virtual void on_keep(int layer, int kv_head, std::span<const int32_t> indices) = 0;
  virtual void on_layer_changed(int layer) = 0;
};

class KVCache {
 public:
  KVCache(int n_layers, int n_kv_heads, int head_dim);

  int n_layers() const { return n_layers_; }
  int n_kv_heads() const { return n_kv_heads_; }
  int head_dim() const { return head_dim_; }
  // The position the next token gets: tokens seen so far, evicted ones included.
  int32_t next_position() const { return next_position_; }
  void advance(int32_t n_tokens) { next_position_ += n_tokens; }

  const HeadCache& head(int layer, int kv_head) const { return heads_[size_t(layer) * n_kv_heads_ + kv_head]; }

  // Appends n tokens to one head: k, v are [n, D] with row stride `stride` floats.
  void append(int layer, int kv_head, const float* k, const float* v, int64_t stride, const int32_t* pos, int64_t n);
  // Keeps only the tokens at `indices` (strictly increasing indices into the head's current
  // contents) and releases the memory of the others.
  void keep(int layer, int kv_head, std::span<const int32_t> indices);
  // Appends one summary entry (key, value [D]) with an attention-logit bias to a head: a
  // compensation entry standing for dropped tokens (razor_attention).
  void append_compensation(int layer, int kv_head, const float* key, const float* value, int32_t position,
                           float logit_bias);
  // Zeroes `channels` (ascending) of every key the head holds now (ThinK's channel pruning, as kvpress
  // applies it: keys appended later keep all channels).
  void zero_key_channels(int layer, int kv_head, std::span<const int32_t> channels);
  // Stores every head with the KIVI codec from now on: entries older than the residual window are
  // quantized and packed (now, and as tokens are appended); their fp32 storage is freed.
  void set_codec(const KiviConfig& cfg);
  const std::optional<KiviConfig>& codec() const { return codec_; }
  // Keys and values of one head as dense fp32 [T, D]: the head's own storage, or (KIVI) its
  // dequantized copy in kbuf / vbuf.
  struct DenseRows {
    const float* keys;
    const float* values;
  };
  DenseRows dense_rows(int layer, int kv_head, std::vector<float>& kbuf, std::vector<float>& vbuf) const;
  // The same as an object that owns its copy: what methods read (scorers, selectors, compensation).
  HeadRows rows(int layer, int kv_head) const;
  // Reserves room for `n_tokens` per head (avoids reallocation during a long prefill).
  void reserve(int64_t n_tokens);
  // Reserves room for `n_tokens` more per head than each head holds now.
  void reserve_additional(int64_t n_tokens);
  void clear();

  // The mirror that follows this cache (owned by it); null when there is none. A copy of the cache
  // has no mirror.
  KVCacheMirror* mirror() const { return mirror_.get(); }
  void set_mirror(std::unique_ptr<KVCacheMirror> m) { mirror_.ptr = std::move(m); }

  // Bytes held by K/V/position storage right now (allocated capacity, all heads).
  size_t resident_bytes() const;
  // Bytes an uncompressed float32 cache would hold for next_position() tokens.
  size_t nominal_bytes() const;
  // Tokens cached in total over all (layer, head) pairs.
  int64_t cached_tokens() const;

 private:
  int n_layers_, n_kv_heads_, head_dim_;
  int32_t next_position_ = 0;
  std::vector<HeadCache> heads_;  // [L * Hkv]
  std::optional<KiviConfig> codec_;
  struct MirrorSlot {  // copies as empty: a mirror follows one cache
    std::unique_ptr<KVCacheMirror> ptr;
    MirrorSlot() = default;
    MirrorSlot(const MirrorSlot&) {}
    MirrorSlot(MirrorSlot&&) noexcept = default;
    MirrorSlot& operator=(const MirrorSlot&) {
      ptr.reset();
      return *this;
    }
    MirrorSlot& operator=(MirrorSlot&&) noexcept = default;
    KVCacheMirror* get() const { return ptr.get(); }
  } mirror_;
  HeadCache& mutable_head(int layer, int kv_head) { return heads_[size_t(layer) * n_kv_heads_ + kv_head]; }
  void quantize_old_entries(HeadCache& h);
  void layer_changed(int layer) {
    if (mirror_.get()) mirror_.get()->on_layer_changed(layer);
  }
};

}  // namespace kvb
