// Dense tableau simplex; see simplex.h. Columns: the n structural variables, then m slacks.
// Entering variable: most negative reduced cost (lowest index on ties); after kDegenerateRun
// pivots without progress, Bland's rule (lowest index) until the objective improves again, which
// rules out cycling. Leaving row: minimum ratio, ties to the lowest basic variable index.
#include "model/simplex.h"

#include <cmath>

#include "core/error.h"

namespace kvb {

void LinearProgram::add_row(const std::vector<double>& row, double rhs) {
  KVB_CHECK(int(row.size()) == n_vars, "LinearProgram::add_row: row has {} entries, the problem has {} variables",
            row.size(), n_vars);
  a.insert(a.end(), row.begin(), row.end());
  b.push_back(rhs);
}

std::string lp_status_name(LpSolution::Status s) {
  switch (s) {
    case LpSolution::Status::Optimal: return "optimal";
    case LpSolution::Status::Unbounded: return "unbounded";
    case LpSolution::Status::IterationLimit: return "iteration limit";
  }
  return "?";
}

LpSolution solve_lp(const LinearProgram& lp, int max_pivots) {
  const int n = lp.n_vars;
  KVB_CHECK(n > 0, "solve_lp: the problem has no variables");
  KVB_CHECK(int(lp.c.size()) == n, "solve_lp: objective has {} entries for {} variables", lp.c.size(), n);
  const int m = int(lp.b.size());
  KVB_CHECK(lp.a.size() == size_t(m) * size_t(n), "solve_lp: A has {} entries, expected {} x {}", lp.a.size(), m, n);
  for (int i = 0; i < m; ++i)
    KVB_CHECK(std::isfinite(lp.b[size_t(i)]) && lp.b[size_t(i)] >= 0,
              "solve_lp: b[{}] = {} (this solver needs b >= 0: the origin must be feasible)", i, lp.b[size_t(i)]);
  for (double v : lp.a) KVB_CHECK(std::isfinite(v), "solve_lp: A has a non-finite entry");
  for (double v : lp.c) KVB_CHECK(std::isfinite(v), "solve_lp: c has a non-finite entry");

  const int cols = n + m + 1;  // structural, slacks, rhs
  const int rhs = n + m;
  std::vector<double> t(size_t(m + 1) * size_t(cols), 0.0);  // [m + 1, cols]; row m = reduced costs
  auto at = [&](int i, int j) -> double& { return t[size_t(i) * size_t(cols) + size_t(j)]; };
  std::vector<int> basis(static_cast<size_t>(m));
  double scale = 0;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      at(i, j) = lp.a[size_t(i) * size_t(n) + size_t(j)];
      scale = std::max(scale, std::fabs(at(i, j)));
    }
    at(i, n + i) = 1.0;
    at(i, rhs) = lp.b[size_t(i)];
    basis[size_t(i)] = n + i;
  }
  for (int j = 0; j < n; ++j) at(m, j) = -lp.c[size_t(j)];
  const double eps = 1e-11 * std::max(1.0, scale);

  LpSolution sol;
  const int kDegenerateRun = 50;
  int degenerate = 0;
  bool bland = false;
  while (true) {
    // Entering column.
    int enter = -1;
    double best = -eps;
    for (int j = 0; j < n + m; ++j) {
      const double r = at(m, j);
      if (r < best) {
        enter = j;
        if (bland) break;
        best = r;
      }
    }
    if (enter < 0) {
      sol.status = LpSolution::Status::Optimal;
      break;
    }
    if (sol.pivots >= max_pivots) {
      sol.status = LpSolution::Status::IterationLimit;
      break;
    }
    // Leaving row: minimum ratio; ties to the lowest basic index.
    int leave = -1;
    double ratio = 0;
    for (int i = 0; i < m; ++i) {
      const double p = at(i, enter);
      if (p <= eps) continue;
      const double r = at(i, rhs) / p;
      if (leave < 0 || r < ratio - 1e-14 * std::max(1.0, std::fabs(ratio)) ||
          (std::fabs(r - ratio) <= 1e-14 * std::max(1.0, std::fabs(ratio)) && basis[size_t(i)] < basis[size_t(leave)])) {
        leave = i;
        ratio = r;
      }
    }
    if (leave < 0) {
      sol.status = LpSolution::Status::Unbounded;
      break;
    }
    // Pivot.
    const double p = at(leave, enter);
    for (int j = 0; j < cols; ++j) at(leave, j) /= p;
    at(leave, enter) = 1.0;
    for (int i = 0; i <= m; ++i) {
      if (i == leave) continue;
      const double f = at(i, enter);
      if (f == 0.0) continue;
      for (int j = 0; j < cols; ++j) at(i, j) -= f * at(leave, j);
      at(i, enter) = 0.0;
      if (i < m && at(i, rhs) < 0 && at(i, rhs) > -eps) at(i, rhs) = 0.0;  // round-off below zero
    }
    basis[size_t(leave)] = enter;
    ++sol.pivots;
    if (ratio <= eps) {
      if (++degenerate >= kDegenerateRun) bland = true;
    } else {
      degenerate = 0;
      bland = false;
    }
  }
  sol.x.assign(size_t(n), 0.0);
  for (int i = 0; i < m; ++i)
    if (basis[size_t(i)] < n) sol.x[size_t(basis[size_t(i)])] = at(i, rhs);
  sol.objective = 0;
  for (int j = 0; j < n; ++j) sol.objective += lp.c[size_t(j)] * sol.x[size_t(j)];
  return sol;
}

}  // namespace kvb
