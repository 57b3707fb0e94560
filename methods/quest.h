// Quest's page bounds and page selection (methods/quest.cpp), exposed for the property tests in
// tests/test_quest_kivi.cpp. Axes: T entries of one KV head, D head dim, P pages of `page` entries.
#pragma once
#include <cstdint>
#include <vector>

namespace kvb::quest {

struct PageBounds {
  std::vector<float> min, max;  // [P, D] per-channel min / max of the page's keys
  int64_t n_pages = 0;
};

// Bounds of the pages of keys [T, D] (the last page may be partial).
PageBounds page_bounds(const float* keys, int64_t T, int64_t D, int64_t page);
// `b` holds the bounds of keys [0, n_before); adds keys [n_before, T) (the same rows plus appended
// ones). Bit for bit what page_bounds(keys, T, ...) gives: min and max do not depend on the order.
void extend_page_bounds(PageBounds& b, const float* keys, int64_t n_before, int64_t T, int64_t D, int64_t page);
// Upper bound of q·k over page p: sum_d max(q_d * min_d, q_d * max_d) (>= every true dot product).
float upper_bound(const PageBounds& b, int64_t p, const float* q, int64_t D);
// The `n_pages` pages with the largest upper bounds for query q [D] (ties: torch's top-k rule),
// ascending.
std::vector<int32_t> top_pages(const PageBounds& b, const float* q, int64_t D, int64_t n_pages);

}  // namespace kvb::quest
