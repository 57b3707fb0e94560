// ACT's calibrated head list (Yu et al. 2024, arXiv:2406.15765): the (layer, query head) pairs whose
// attention the act method recalibrates (kv/attention_calibration.h). A calibration artifact (seam (e)
// of docs/methods-wave2), written by `kvbench calibrate act` and read by methods/act.cpp. Text file:
// '#' comment lines, then one "layer head" pair per line (0-based, whitespace-separated). Inline form
// (the act method's heads= parameter): "layer:head,layer:head". Tests: tests/test_act.cpp.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace kvb {

using ActHeads = std::vector<std::pair<int, int>>;  // (layer, query head), sorted, unique

// kvb::Error naming the file (and line) for a missing / unreadable file or a malformed line.
ActHeads read_act_heads(const std::string& path);
// `comment` lines are written first, each prefixed with "# ".
void write_act_heads(const std::string& path, const ActHeads& heads, const std::vector<std::string>& comment = {});
// "3:5,10:2"; kvb::Error naming the bad item.
ActHeads parse_act_heads(const std::string& inline_list);
// True when `s` has the inline form (digits, ':', ',', spaces and at least one ':').
bool is_inline_act_heads(const std::string& s);

}  // namespace kvb
