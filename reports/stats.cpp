// Statistics for reports and the gate; see stats.h.
#include "reports/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/random.h"

namespace kvb::reports {

double mean(const std::vector<double>& v) {
  if (v.empty()) return NAN;
  return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

Interval bootstrap_mean_ci(const std::vector<double>& v, double level, int resamples, uint64_t seed) {
  if (v.empty()) return {NAN, NAN};
  const size_t n = v.size();
  if (n == 1 || std::all_of(v.begin(), v.end(), [&](double x) { return x == v[0]; })) return {v[0], v[0]};
  Rng rng(seed);
  std::vector<double> means(static_cast<size_t>(resamples));
  for (double& m : means) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += v[rng.below(n)];
    m = s / double(n);
  }
  std::sort(means.begin(), means.end());
  const double a = (1.0 - level) / 2.0;
  auto at = [&](double q) {
    const size_t k = std::min(means.size() - 1, size_t(std::floor(q * double(means.size() - 1) + 0.5)));
    return means[k];
  };
  return {at(a), at(1.0 - a)};
}

McNemar mcnemar_worse(const std::vector<bool>& before_right, const std::vector<bool>& after_right) {
  KVB_CHECK(before_right.size() == after_right.size(), "mcnemar: {} vs {} paired outcomes", before_right.size(),
            after_right.size());
  McNemar m;
  for (size_t i = 0; i < before_right.size(); ++i) {
    if (before_right[i] && !after_right[i]) ++m.worse;
    if (!before_right[i] && after_right[i]) ++m.better;
  }
  const int64_t n = m.worse + m.better;
  // P(X >= worse), X ~ Binomial(n, 1/2), summed in log space.
  double p = 0;
  for (int64_t k = m.worse; k <= n; ++k)
    p += std::exp(std::lgamma(double(n) + 1) - std::lgamma(double(k) + 1) - std::lgamma(double(n - k) + 1) -
                  double(n) * std::log(2.0));
  m.p_value = n == 0 ? 1.0 : std::min(1.0, p);
  return m;
}

double paired_bootstrap_drop_p(const std::vector<double>& before, const std::vector<double>& after, int resamples,
                               uint64_t seed) {
  KVB_CHECK(before.size() == after.size(), "paired bootstrap: {} vs {} paired values", before.size(), after.size());
  const size_t n = before.size();
  if (n == 0) return 1.0;
  std::vector<double> d(n);
  for (size_t i = 0; i < n; ++i) d[i] = before[i] - after[i];
  Rng rng(seed);
  int64_t not_positive = 0;
  for (int b = 0; b < resamples; ++b) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += d[rng.below(n)];
    if (s <= 0) ++not_positive;
  }
  return double(not_positive + 1) / double(resamples + 1);
}

double wilcoxon_greater_p(const std::vector<double>& before, const std::vector<double>& after) {
  KVB_CHECK(before.size() == after.size(), "wilcoxon: {} vs {} paired values", before.size(), after.size());
  std::vector<double> d;
  for (size_t i = 0; i < before.size(); ++i)
    if (after[i] != before[i]) d.push_back(after[i] - before[i]);
  const size_t n = d.size();
  if (n < 6) return 1.0;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return std::fabs(d[a]) < std::fabs(d[b]); });
  // Average ranks of tied |d|; the tie correction sum(t^3 - t) / 48 for the variance.
  std::vector<double> rank(n);
  double tie_term = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && std::fabs(d[order[j + 1]]) == std::fabs(d[order[i]])) ++j;
    const double r = 0.5 * double(i + j) + 1.0;
    for (size_t k = i; k <= j; ++k) rank[order[k]] = r;
    const double t = double(j - i + 1);
    tie_term += t * t * t - t;
    i = j + 1;
  }
  double w_plus = 0;
  for (size_t i = 0; i < n; ++i)
    if (d[i] > 0) w_plus += rank[i];
  const double nn = double(n);
  const double mu = nn * (nn + 1) / 4.0;
  const double sigma = std::sqrt(nn * (nn + 1) * (2 * nn + 1) / 24.0 - tie_term / 48.0);
  if (sigma <= 0) return 1.0;
  const double z = (w_plus - mu - 0.5) / sigma;
  return 0.5 * std::erfc(z / std::sqrt(2.0));  // P(Z >= z)
}

bool is_binary_outcome(const std::vector<double>& v) {
  bool hundred = true, one = true;
  for (double x : v) {
    if (x != 0 && x != 100) hundred = false;
    if (x != 0 && x != 1) one = false;
  }
  return hundred || one;
}

}  // namespace kvb::reports
