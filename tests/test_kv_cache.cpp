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

// The edit stamp (what quest's kept page bounds rely on): appends keep it; every change to entries a
// head already holds, and every copy or restore, renews it.
TEST(KVCache, EditStampSurvivesAppendsOnlyAndIsRenewedByAnyOtherChange) {
  KVCache c = filled_cache(40);
  const auto stamp = [&](int l, int h) { return c.head(l, h).edit_stamp(); };
  const uint64_t s0 = stamp(0, 0);
  EXPECT_NE(s0, stamp(0, 1));  // no two heads share one
  std::vector<float> row(4, 1.0f);
  const int32_t p = 40;
  c.append(0, 0, row.data(), row.data(), 4, &p, 1);
  EXPECT_EQ(stamp(0, 0), s0) << "an append keeps the stamp";
  const KVCache snapshot = c;
  EXPECT_NE(snapshot.head(0, 0).edit_stamp(), s0) << "a copy is not the head it copied";
  const std::vector<int32_t> keep = {0, 5, 40};
  c.keep(0, 0, keep);
  const uint64_t s1 = stamp(0, 0);
  EXPECT_NE(s1, s0) << "keep";
  c = snapshot;  // a restored snapshot must not pass for the head it replaced
  EXPECT_NE(stamp(0, 0), s1);
  EXPECT_NE(stamp(0, 0), snapshot.head(0, 0).edit_stamp());
  const uint64_t s2 = stamp(0, 1);
  const std::vector<int32_t> channels = {1};
  c.zero_key_channels(0, 1, channels);
  EXPECT_NE(stamp(0, 1), s2) << "zeroed key channels";
  const uint64_t s3 = stamp(1, 0);
  c.append_compensation(1, 0, row.data(), row.data(), 41, 0.5f);
  EXPECT_NE(stamp(1, 0), s3) << "a compensation entry";
  const uint64_t s4 = stamp(1, 1);
  c.set_codec(KiviConfig{2, 8, 8});
  EXPECT_NE(stamp(1, 1), s4) << "KIVI encoding changes what the old entries read back as";
  const uint64_t s5 = stamp(1, 1);
  c.append(1, 1, row.data(), row.data(), 4, &p, 1);  // 8 fp32 entries + 1: below residual + group
  EXPECT_EQ(stamp(1, 1), s5);
  for (int i = 0; i < 8; ++i) c.append(1, 1, row.data(), row.data(), 4, &p, 1);
  EXPECT_NE(stamp(1, 1), s5) << "an append that quantizes a group of older entries";
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
