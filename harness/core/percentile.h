// Nearest-rank percentile (core math): the decode-step latency columns (p50, p95) of stored rows.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

namespace kvb {

// Nearest-rank percentile (p in 0..100) of unsorted values: the smallest value with at least p%
// of the values at or below it; 0 for none.
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  size_t rank = size_t(std::ceil(p / 100.0 * double(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

}  // namespace kvb
