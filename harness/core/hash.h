// FNV-1a 64 (Fowler, Noll, Vo; http://www.isthe.com/chongo/tech/comp/fnv/): the one hash behind
// config hashes, case hashes, model-file digests and the oracle's checkpoint key. Not cryptographic.
// Exercised by tests/test_store.cpp (config and case hashes) and tests/test_oracle*.cpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvb {

inline constexpr uint64_t kFnv1a64Offset = 0xcbf29ce484222325ULL;

// Continues the hash `h` over n bytes (start with kFnv1a64Offset).
constexpr uint64_t fnv1a64(const unsigned char* p, size_t n, uint64_t h = kFnv1a64Offset) {
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}
inline uint64_t fnv1a64(std::string_view bytes, uint64_t h = kFnv1a64Offset) {
  return fnv1a64(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), h);
}
// As 16 lower-case hex digits.
std::string fnv1a64_hex(std::string_view bytes);

}  // namespace kvb
