// KV cache: ragged per-head storage, compaction frees memory, positions stay original.
#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "kv/kv_cache.h"

namespace kvb {
namespace {

KVCache filled_cache(int T) {
  KVCache c(2, 3, 4);
  std::vector<float> k(T * 3 * 4), v(T * 3 * 4);
  std::iota(k.begin(), k.end(), 0.0f);
  std::iota(v.begin(), v.end(), 1000.0f);
  std::vector<int32_t> pos(T);
  std::iota(pos.begin(), pos.end(), 0);
  for (int l = 0; l < 2; ++l)
    for (int h = 0; h < 3; ++h) c.append(l, h, k.data() + h * 4, v.data() + h * 4, 12, pos.data(), T);
  c.advance(T);
  return c;
}

TEST(KVCache, AppendStoresRowsPerHead) {
  KVCache c = filled_cache(5);
  const HeadCache& h = c.head(1, 2);
  ASSERT_EQ(h.size(), 5);
  // token 3, head 2: source offset 3*12 + 2*4 = 44
  EXPECT_EQ(h.fp_keys()[3 * 4 + 0], 44.0f);
  EXPECT_EQ(h.fp_values()[3 * 4 + 1], 1045.0f);
  EXPECT_EQ(c.cached_tokens(), 2 * 3 * 5);
  EXPECT_EQ(c.next_position(), 5);
}

TEST(KVCache, KeepCompactsAndFreesMemory) {
  KVCache c = filled_cache(100);
  const size_t before = c.resident_bytes();
  std::vector<int32_t> keep = {0, 1, 50, 99};
  c.keep(0, 1, keep);
  const HeadCache& h = c.head(0, 1);
  ASSERT_EQ(h.size(), 4);
  EXPECT_EQ(h.positions(), (std::vector<int32_t>{0, 1, 50, 99}));
  EXPECT_EQ(h.fp_keys()[2 * 4], float(50 * 12 + 1 * 4));
  // 96 tokens x (2 x 4 floats + 1 position) were released
  EXPECT_EQ(before - c.resident_bytes(), size_t(96) * (8 * sizeof(float) + sizeof(int32_t)));
  EXPECT_EQ(c.nominal_bytes(), size_t(100) * 6 * (8 * sizeof(float) + sizeof(int32_t)));
  EXPECT_EQ(c.head(0, 0).size(), 100);  // other heads untouched
}

TEST(KVCache, KeepRejectsUnsortedOrOutOfRange) {
  KVCache c = filled_cache(10);
  std::vector<int32_t> unsorted = {3, 2};
  std::vector<int32_t> out_of_range = {3, 10};
  EXPECT_THROW(c.keep(0, 0, unsorted), Error);
  EXPECT_THROW(c.keep(0, 0, out_of_range), Error);
}

}  // namespace
}  // namespace kvb
