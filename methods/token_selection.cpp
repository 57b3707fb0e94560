// See token_selection.h.
#include "methods/token_selection.h"

#include <algorithm>
#include <iterator>

#include "backends/cpu/ops.h"

namespace kvb::selection {

HeadParts split_by_context(const HeadCache& h, int64_t n_context) {
  HeadParts p;
  const std::vector<int32_t>& pos = h.positions();
  for (size_t j = 0; j < pos.size(); ++j) (pos[j] < n_context ? p.compressed : p.newer).push_back(int32_t(j));
  return p;
}

void dot_scores(const float* q, const float* keys, std::span<const int32_t> idx, int64_t D, float scale, float* out) {
  cpu::dot_rows(q, keys, idx.data(), int64_t(idx.size()), D, scale, nullptr, out);
}

std::vector<int32_t> sorted_union(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  std::vector<int32_t> out;
  out.reserve(a.size() + b.size());
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace kvb::selection
