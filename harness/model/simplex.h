// A small dense simplex solver for the linear programs of the recall oracle (harness/model/oracle.cpp):
// maximise c.x subject to A x <= b, x >= 0 with b >= 0 (the origin is feasible, so no phase 1).
// Tableau method (Dantzig's entering rule, Bland's rule after degenerate pivots, so it terminates);
// deterministic: the same problem gives the same bits. Tests: tests/test_oracle_simplex.cpp.
#pragma once
#include <string>
#include <vector>

namespace kvb {

struct LinearProgram {
  int n_vars = 0;               // n
  std::vector<double> c;        // [n] objective (maximised)
  std::vector<double> a;        // [m, n] row-major constraint matrix
  std::vector<double> b;        // [m] right-hand sides, all >= 0
  int rows() const { return n_vars > 0 ? int(b.size()) : 0; }
  // Appends one constraint row . x <= rhs.
  void add_row(const std::vector<double>& row, double rhs);
};

struct LpSolution {
  enum class Status { Optimal, Unbounded, IterationLimit };
  Status status = Status::Optimal;
  std::vector<double> x;        // [n] a basic optimal solution (Optimal), else the last iterate
  double objective = 0.0;
  int pivots = 0;
};

// Throws kvb::Error when the problem is malformed (sizes, b < 0, non-finite entries).
LpSolution solve_lp(const LinearProgram& lp, int max_pivots = 100000);

std::string lp_status_name(LpSolution::Status s);

}  // namespace kvb
