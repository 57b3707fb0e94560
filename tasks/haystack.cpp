// Haystack kinds and depth insertion for the synthetic tasks (see haystack.h); the insertion rule
// is niah.cpp's (nearest unit boundary by characters). Exercised by tests/test_tasks_more.cpp.
#include "tasks/haystack.h"

#include <cmath>

#include "core/error.h"

namespace kvb::tasks {

std::shared_ptr<datasets::UnitStream> make_haystack(const std::string& task, const std::string& kind,
                                                    uint64_t seed, const std::string& dir) {
  if (kind == "noise") return std::make_shared<datasets::UnitStream>(datasets::noise_stream());
  if (kind == "essay") return std::make_shared<datasets::UnitStream>(datasets::essay_stream(seed));
  if (kind == "dir") {
    KVB_CHECK(!dir.empty(), "task {}: haystack=dir needs haystack_dir=DIR (or --haystack-dir DIR)", task);
    return std::make_shared<datasets::UnitStream>(datasets::corpus_stream(dir));
  }
  KVB_FAIL("task {}: parameter haystack='{}' is not one of: noise, essay, dir", task, kind);
}

Interleaved interleave(datasets::UnitStream& stream, int units, const std::vector<double>& depths,
                       const std::vector<std::string>& items, const std::string& item_sep) {
  KVB_CHECK(depths.size() == items.size(), "interleave: {} depths for {} items", depths.size(), items.size());
  std::vector<size_t> cum(size_t(units) + 1, 0);
  for (int u = 0; u < units; ++u) cum[size_t(u) + 1] = cum[size_t(u)] + stream.unit(size_t(u)).size();
  std::vector<int> at;
  for (double d : depths) {
    const double want = d / 100.0 * double(cum.back());
    int best = 0;
    for (int u = 1; u <= units; ++u)
      if (std::abs(double(cum[size_t(u)]) - want) < std::abs(double(cum[size_t(best)]) - want)) best = u;
    at.push_back(best);
  }
  Interleaved out;
  size_t next = 0;
  for (int u = 0; u <= units; ++u) {
    while (next < items.size() && at[next] <= u) {
      out.item_chars.push_back(int(out.text.size()));
      out.text += items[next++] + item_sep;
    }
    if (u < units) out.text += stream.unit(size_t(u));
  }
  while (!out.text.empty() && (out.text.back() == ' ' || out.text.back() == '\n')) out.text.pop_back();
  return out;
}

std::vector<double> even_depths(size_t n) {
  std::vector<double> d;
  for (size_t j = 0; j < n; ++j) d.push_back(100.0 * double(j + 1) / double(n + 1));
  return d;
}

}  // namespace kvb::tasks
