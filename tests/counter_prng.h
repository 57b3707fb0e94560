// Counter-based PRNG for test fixtures, bit-identical to scripts/parity/counter_prng.py (which documents
// the recipe): SplitMix64 outputs from a per-(seed, stream) key, uniforms from the top 53 bits, and
// approximately Gaussian values as a centred Irwin-Hall sum of 4 uniforms. Only integer arithmetic and
// correctly rounded float64 add / multiply / sqrt are used, so numpy and C++ agree bit for bit.
// Also: FNV-1a 64 (fixture digests) and float32 -> float16 with round to nearest even.
#pragma once
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kvb::test::prng {

inline constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;

// SplitMix64's output function.
constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

constexpr uint64_t fnv1a64(const uint8_t* p, size_t n, uint64_t h = 0xCBF29CE484222325ULL) {
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ULL;
  return h;
}
inline uint64_t fnv1a64(std::string_view s) { return fnv1a64(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

// The stream of a named object (e.g. a tensor name): FNV-1a 64 of its UTF-8 bytes.
inline uint64_t stream_of(std::string_view name) { return fnv1a64(name); }

// Element i of stream (seed, stream) is the (i+1)-th SplitMix64 output from state `key(seed, stream)`.
constexpr uint64_t key(uint64_t seed, uint64_t stream) { return mix64(mix64(seed + kGamma) ^ stream); }
constexpr uint64_t bits(uint64_t key, uint64_t i) { return mix64(key + (i + 1) * kGamma); }

// A double in [0, 1): the top 53 bits of bits(key, i), times 2^-53 (exact).
inline double uniform(uint64_t key, uint64_t i) { return double(bits(key, i) >> 11) * 0x1p-53; }

// Mean 0, variance 1, support [-2 sqrt 3, 2 sqrt 3]: ((u(4i) + u(4i+1)) + u(4i+2)) + u(4i+3), centred.
inline double normal(uint64_t key, uint64_t i) {
  double s = uniform(key, 4 * i);
  s = s + uniform(key, 4 * i + 1);
  s = s + uniform(key, 4 * i + 2);
  s = s + uniform(key, 4 * i + 3);
  return (s - 2.0) * std::sqrt(3.0);
}

// float32 -> IEEE half, round to nearest even, subnormals kept, overflow to infinity (as numpy / torch).
inline uint16_t f32_to_f16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7FFFFFFFu;
  if (ax > 0x7F800000u) return uint16_t(sign | 0x7E00u);  // NaN
  if (ax >= 0x477FF000u) return uint16_t(sign | 0x7C00u);  // >= 65520 (incl. inf) rounds to inf
  auto round_shift = [](uint32_t m, uint32_t shift) {      // m / 2^shift, round to nearest even
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return q;
  };
  if (ax < 0x38800000u) {  // below 2^-14: a half subnormal (or zero); the unit is 2^-24
    const uint32_t e = ax >> 23;
    if (e < 102) return sign;  // below 2^-25: rounds to zero
    return uint16_t(sign | round_shift((ax & 0x7FFFFFu) | 0x800000u, 126 - e));  // may carry into 0x0400
  }
  const uint32_t q = ((((ax >> 23) - 112) << 10) | ((ax & 0x7FFFFFu) >> 13));
  const uint32_t rem = ax & 0x1FFFu;
  return uint16_t(sign | (q + ((rem > 0x1000u || (rem == 0x1000u && (q & 1u))) ? 1u : 0u)));
}

}  // namespace kvb::test::prng
