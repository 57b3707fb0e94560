// Helpers shared by the synthetic tasks that place items (chain lines, key facts) into a filler
// haystack: the haystack kinds (noise | essay | dir) and insertion at depths by characters, as niah.cpp.
// Used by tasks/vt.cpp and tasks/summarization.cpp; exercised by tests/test_tasks_more.cpp.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "datasets/text_sources.h"

namespace kvb::tasks {

// "noise" | "essay" (seeded) | "dir" (the *.txt corpus under `dir`); anything else throws kvb::Error.
std::shared_ptr<datasets::UnitStream> make_haystack(const std::string& task, const std::string& kind,
                                                    uint64_t seed, const std::string& dir);

struct Interleaved {
  std::string text;
  std::vector<int> item_chars;  // byte offset of each item in `text`
};
// The first `units` units of `stream` with items[j] inserted (followed by `item_sep`) at the unit
// boundary whose share of the haystack's characters is nearest to depths[j] percent. `depths`
// ascending, one per item. Trailing spaces and newlines are trimmed.
Interleaved interleave(datasets::UnitStream& stream, int units, const std::vector<double>& depths,
                       const std::vector<std::string>& items, const std::string& item_sep = " ");

// Depths of n items evenly spread strictly inside (0, 100): 100 (j + 1) / (n + 1).
std::vector<double> even_depths(size_t n);

}  // namespace kvb::tasks
