// Near-miss suggestions for unknown names ("did you mean ...?"): Levenshtein distance over ids of
// methods, tasks, parameters and subcommands. Exercised by tests/test_tasks.cpp and test_method_contract.cpp.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kvb {

// Levenshtein distance, and the candidate nearest to `name` ("" when there are none).
size_t edit_distance(std::string_view a, std::string_view b);
std::string nearest_name(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace kvb
