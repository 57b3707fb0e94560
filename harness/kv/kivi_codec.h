// KIVI's storage codec (Liu et al. 2024, arXiv:2402.02750): asymmetric min/max quantization to 2 or 4
// (or 8) bits, keys per channel over groups of `group` tokens, values per token over groups of
// `group` channels, the most recent `residual`..`residual + group - 1` tokens in fp32. Stored packed,
// so resident bytes really shrink. Applied by KVCache (set_codec); tests/test_quest_kivi.cpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvb {

struct KiviConfig {
  int bits = 2;        // 2, 4 or 8
  int group = 32;      // tokens per key group; channels per value group (min with D)
  int residual = 128;  // full-precision recent tokens kept at least
};

// The quantized (older) part of one head: n tokens, token-major [n, D] codes.
struct KiviBlock {
  int64_t n = 0;
  std::vector<uint8_t> k_codes, v_codes;  // packed codes, bits per element
  std::vector<float> k_scale, k_min;      // [n / group, D]
  std::vector<float> v_scale, v_min;      // [n, D / vgroup]
  size_t bytes() const;
};

// Appends `n` tokens (a multiple of cfg.group) of keys / values [n, D] to the block.
void kivi_quantize_append(KiviBlock& b, const KiviConfig& cfg, int64_t D, const float* keys, const float* values,
                          int64_t n);
// Dequantizes the whole block into keys / values [b.n, D].
void kivi_dequantize(const KiviBlock& b, const KiviConfig& cfg, int64_t D, float* keys, float* values);
// Channels per value group for head dim D.
inline int64_t kivi_value_group(const KiviConfig& cfg, int64_t D) { return cfg.group < D ? cfg.group : D; }

}  // namespace kvb
