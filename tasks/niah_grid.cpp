// niah_grid: the needle heatmap (gkamradt's needle test): one case per (length, depth) cell, lengths
// linear in [min_length, max_length] (or an explicit list), depths evenly over 0..100%.
// Try: kvbench show-case niah_grid --param num_lengths=2 --model PATH; tests/test_tasks.cpp.
#include <fmt/format.h>

#include <cmath>

#include "core/error.h"
#include "tasks/niah.h"

namespace kvb::tasks {
namespace {

std::vector<Case> generate_grid(const TaskParams& p, uint64_t seed, const TaskEnv& env) {
  NiahConfig cfg = niah_config("niah_grid", p);
  std::vector<int64_t> lengths = p.get_int_list("lengths");
  if (lengths.empty()) {
    const int64_t lo = p.get_int("min_length"), hi = p.get_int("max_length"), n = p.get_int("num_lengths");
    KVB_CHECK(n >= 1 && lo >= 1 && hi >= lo, "task niah_grid: need num_lengths >= 1 and 1 <= min_length <= max_length");
    for (int64_t i = 0; i < n; ++i)
      lengths.push_back(n == 1 ? hi : lo + int64_t(std::llround(double(hi - lo) * double(i) / double(n - 1))));
  }
  const int64_t nd = p.get_int("num_depths");
  KVB_CHECK(nd >= 1 && nd <= 1000, "task niah_grid: num_depths must be in 1..1000, got {}", nd);
  std::vector<Case> out;
  uint64_t index = 0;
  for (int64_t len : lengths) {
    KVB_CHECK(len >= 1, "task niah_grid: length {} is not positive", len);
    cfg.length = int(len);
    for (int64_t d = 0; d < nd; ++d) {
      const double depth = nd == 1 ? 50.0 : 100.0 * double(d) / double(nd - 1);
      for (int s = 0; s < cfg.num_samples; ++s, ++index) {
        std::string id = fmt::format("niah_grid/{}/L{}/D{}/{}", seed, len, d, s);
        out.push_back(make_niah_case(cfg, seed, index, id, {depth}, env));
      }
    }
  }
  return out;
}

std::vector<ParamSpec> grid_params() {
  std::vector<ParamSpec> ps = niah_params(
      {"num_samples", "max_new_tokens", "haystack", "key_type", "value_type", "word_source"},
      {{"num_samples", "1"}, {"max_new_tokens", "32"}});
  ps[0].description = "cases per (length, depth) cell";
  ps.insert(ps.begin(), {{"lengths", "", "comma-separated target lengths (overrides min/max/num_lengths)"},
                         {"min_length", "1000", "shortest target length"},
                         {"max_length", "16000", "longest target length"},
                         {"num_lengths", "8", "lengths, evenly spaced from min_length to max_length"},
                         {"num_depths", "11", "depths, evenly spaced over 0..100%"}});
  return ps;
}

KVB_REGISTER_TASK(niah_grid, 1, "Needle heatmap: one needle per (length, depth) cell", "string_match_all",
                  grid_params(), generate_grid);

}  // namespace
}  // namespace kvb::tasks
