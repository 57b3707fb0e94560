// The dense simplex solver (harness/model/simplex.h) on textbook LPs: a known optimum, an unbounded
// problem, Beale's cycling example (terminates under the anti-cycling rule), malformed input,
// bit-identical reruns. Run: build/tests/kvb_tests --gtest_filter='OracleSimplex*'.
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/simplex.h"

namespace kvb {
namespace {

TEST(OracleSimplex, TextbookOptimum) {
  // max 3x + 5y  s.t.  x <= 4, 2y <= 12, 3x + 2y <= 18  ->  36 at (2, 6).
  LinearProgram lp;
  lp.n_vars = 2;
  lp.c = {3, 5};
  lp.add_row({1, 0}, 4);
  lp.add_row({0, 2}, 12);
  lp.add_row({3, 2}, 18);
  LpSolution s = solve_lp(lp);
  ASSERT_EQ(s.status, LpSolution::Status::Optimal);
  EXPECT_NEAR(s.objective, 36.0, 1e-12);
  EXPECT_NEAR(s.x[0], 2.0, 1e-12);
  EXPECT_NEAR(s.x[1], 6.0, 1e-12);
}

TEST(OracleSimplex, Unbounded) {
  // max x  s.t.  -x + y <= 1.
  LinearProgram lp;
  lp.n_vars = 2;
  lp.c = {1, 0};
  lp.add_row({-1, 1}, 1);
  EXPECT_EQ(solve_lp(lp).status, LpSolution::Status::Unbounded);
}

TEST(OracleSimplex, BealeCyclingExampleTerminates) {
  // Beale (1955): Dantzig's rule with naive tie-breaking cycles on this degenerate LP. Optimum 5/4
  // at x = (1, 0, 1, 0).
  LinearProgram lp;
  lp.n_vars = 4;
  lp.c = {0.75, -20, 0.5, -6};
  lp.add_row({0.25, -8, -1, 9}, 0);
  lp.add_row({0.5, -12, -0.5, 3}, 0);
  lp.add_row({0, 0, 1, 0}, 1);
  LpSolution s = solve_lp(lp);
  ASSERT_EQ(s.status, LpSolution::Status::Optimal);
  EXPECT_NEAR(s.objective, 1.25, 1e-12);
  EXPECT_NEAR(s.x[0], 1.0, 1e-12);
  EXPECT_NEAR(s.x[2], 1.0, 1e-12);
}

TEST(OracleSimplex, DegenerateOriginAndDeterminism) {
  // max x + y + z with many redundant constraints through the origin's faces: optimum 3 at (1, 1, 1).
  LinearProgram lp;
  lp.n_vars = 3;
  lp.c = {1, 1, 1};
  for (int i = 0; i < 3; ++i) {
    std::vector<double> r(3, 0.0);
    r[size_t(i)] = 1;
    lp.add_row(r, 1);
    lp.add_row(r, 1);
  }
  lp.add_row({1, 1, 1}, 3);
  lp.add_row({1, -1, 0}, 0);
  LpSolution a = solve_lp(lp), b = solve_lp(lp);
  ASSERT_EQ(a.status, LpSolution::Status::Optimal);
  EXPECT_NEAR(a.objective, 3.0, 1e-12);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.pivots, b.pivots);
}

TEST(OracleSimplex, RejectsMalformedProblems) {
  LinearProgram lp;
  lp.n_vars = 2;
  lp.c = {1, 1};
  lp.add_row({1, 1}, -1);  // origin infeasible: this solver has no phase 1
  EXPECT_THROW(solve_lp(lp), Error);
  LinearProgram bad;
  bad.n_vars = 2;
  bad.c = {1};
  EXPECT_THROW(solve_lp(bad), Error);
  EXPECT_THROW(lp.add_row({1, 2, 3}, 1), Error);
}

TEST(OracleSimplex, IterationLimitIsReported) {
  LinearProgram lp;
  lp.n_vars = 2;
  lp.c = {3, 5};
  lp.add_row({1, 0}, 4);
  lp.add_row({0, 2}, 12);
  lp.add_row({3, 2}, 18);
  EXPECT_EQ(solve_lp(lp, 1).status, LpSolution::Status::IterationLimit);
}

}  // namespace
}  // namespace kvb
