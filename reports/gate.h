// The regression gate: compares a candidate results database with a baseline (a database, or a JSON
// file of expected per-case scores that a project keeps in its repository) configuration by
// configuration. A score regression needs both a drop above the tolerance and significance on the
// paired per-case outcomes (exact McNemar for 0/1 scores, paired bootstrap otherwise); a latency
// regression needs a slowdown above the tolerance that a Wilcoxon signed-rank test on the per-case
// timings confirms. `kvbench gate`, `kvbench baseline`; tests/test_gate.cpp.
#pragma once
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reports/results_data.h"

namespace kvb::reports {

// One configuration's per-case outcomes.
struct ConfigOutcomes {
  std::string config_hash, label;
  std::map<std::string, double> scores;   // case id -> score; a case that errored scores 0
  std::map<std::string, double> seconds;  // case id -> prefill + decode seconds (ok cases)
  std::map<std::string, std::string> errors;  // case id -> reason
  double expected_mean = NAN;  // a JSON baseline entry with only a mean score (no per-case scores)
  int64_t expected_n = 0;
};
using Outcomes = std::map<std::string, ConfigOutcomes>;  // by config hash

// From a results database (skipped cases left out), or from a baseline JSON file.
Outcomes outcomes_from_results(const ResultsData& data, const std::vector<Filter>& filters = {});
Outcomes load_baseline(const std::filesystem::path& path);  // .db / .sqlite or .json; throws kvb::Error
// The baseline JSON of a database: {"kvbench_baseline": 1, "configs": [{config_hash, label, n,
// mean_score, scores: {case: score}, seconds?: {case: s}}]}.
nlohmann::json baseline_json(const Outcomes& o, bool with_timings, const std::string& source);

struct GateOptions {
  double max_drop = 1.0;       // score points (0..100) the mean may drop before it can be a regression
  double alpha = 0.05;         // significance level of the one-sided tests
  double max_slowdown = 1.10;  // candidate / baseline median per-case time
  bool check_latency = true;
  bool allow_missing = false;  // configurations of the baseline absent from the candidate do not fail
};

struct ConfigVerdict {
  std::string config_hash, label;
  size_t paired = 0, unpaired = 0;  // cases on both sides; cases on one side only
  double base_mean = NAN, cand_mean = NAN, drop = NAN;
  std::string test;  // "mcnemar" | "paired bootstrap" | "binomial vs expected" | "bootstrap vs expected"
  double p_value = 1.0;
  bool score_regression = false;
  double slowdown = NAN, latency_p = 1.0;
  bool latency_regression = false;
  size_t cand_errors = 0;
  std::string first_error;
};

struct GateResult {
  std::vector<ConfigVerdict> verdicts;                       // matched configurations
  std::vector<std::string> missing_in_candidate, new_in_candidate;  // labels (hash)
  bool latency_compared = false;
  bool passed() const;
  size_t regressions() const;
};

GateResult run_gate(const Outcomes& base, const Outcomes& cand, const GateOptions& o);
std::string gate_summary_text(const GateResult& r, const GateOptions& o);
std::string gate_markdown(const GateResult& r, const GateOptions& o);
std::string gate_junit(const GateResult& r, const GateOptions& o);

}  // namespace kvb::reports
