// Statistics for reports, tables and the regression gate: bootstrap confidence intervals, paired tests
// of a score drop (exact McNemar for 0/1 outcomes, paired bootstrap otherwise) and a rank test of a
// slowdown (Wilcoxon signed-rank on paired timings). Deterministic on every platform: every resampling
// draws from the project's PRNG (core/random.h) with a fixed seed. The one bootstrap of kvbench:
// `eval`, `oracle-check`, reports, tables and the gate all use it.
// Exercised by tests/test_reports.cpp (against textbook values).
#pragma once
#include <cstdint>
#include <vector>

namespace kvb::reports {

double mean(const std::vector<double>& v);  // NaN for none
double median(std::vector<double> v);       // NaN for none

struct Interval {
  double lo = 0, hi = 0;
};
// Percentile bootstrap interval of the mean at `level` (e.g. 0.95); B resamples, seeded.
Interval bootstrap_mean_ci(const std::vector<double>& v, double level = 0.95, int resamples = 2000,
                           uint64_t seed = 0x6b7662);

// One-sided exact McNemar test that `after` is worse than `before` on paired 0/1 outcomes:
// b = pairs right before and wrong after, c = the reverse; p = P(X >= b) for X ~ Binomial(b + c, 1/2).
struct McNemar {
  int64_t worse = 0, better = 0;  // b, c
  double p_value = 1.0;
};
McNemar mcnemar_worse(const std::vector<bool>& before_right, const std::vector<bool>& after_right);

// One-sided paired bootstrap that mean(before - after) > 0: the share of resampled mean differences
// that are <= 0 (plus one, over resamples plus one).
double paired_bootstrap_drop_p(const std::vector<double>& before, const std::vector<double>& after,
                               int resamples = 10000, uint64_t seed = 0x6b7662);

// One-sided Wilcoxon signed-rank test that `after` is larger than `before` (paired): normal
// approximation with tie and zero corrections (Pratt's zeros dropped), continuity corrected.
// Returns 1 with fewer than 6 non-zero differences (too few to conclude anything).
double wilcoxon_greater_p(const std::vector<double>& before, const std::vector<double>& after);

// True when every value is 0 or 100 (or 0 or 1): outcomes of an exact-match scorer.
bool is_binary_outcome(const std::vector<double>& v);

}  // namespace kvb::reports
