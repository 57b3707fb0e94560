// Statistics against textbook values, and paper tables (`kvbench table`) on a database written by a
// real small sweep (tests/test_reports_fixture.h): cells equal SQLite's own averages, LaTeX is booktabs
// with escaped text and bold best values, CSV carries the intervals, and bad input exits with 2.
// Run: build/tests/kvb_tests --gtest_filter='ReportStats*:ReportTable*'
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "reports/stats.h"
#include "reports/table.h"
#include "test_reports_fixture.h"

namespace kvb {
namespace {

using namespace reports;

TEST(ReportStats, McNemarIsTheExactBinomialTail) {
  // 8 pairs got worse, 2 better: P(X >= 8 | n = 10, 1/2) = (45 + 10 + 1) / 1024.
  std::vector<bool> before, after;
  for (int i = 0; i < 8; ++i) before.push_back(true), after.push_back(false);
  for (int i = 0; i < 2; ++i) before.push_back(false), after.push_back(true);
  for (int i = 0; i < 30; ++i) before.push_back(i % 2), after.push_back(i % 2);  // concordant pairs do not count
  const McNemar m = mcnemar_worse(before, after);
  EXPECT_EQ(m.worse, 8);
  EXPECT_EQ(m.better, 2);
  EXPECT_NEAR(m.p_value, 56.0 / 1024.0, 1e-12);
  EXPECT_DOUBLE_EQ(mcnemar_worse({true, false}, {true, false}).p_value, 1.0);
}

TEST(ReportStats, WilcoxonSignedRankNormalApproximation) {
  // Differences 1..10, all positive: W+ = 55, mean 27.5, variance 10*11*21/24 = 96.25;
  // z = (55 - 27.5 - 0.5) / sqrt(96.25) = 2.7521, one-sided p = 0.002960.
  std::vector<double> before(10, 0.0), after;
  for (int i = 1; i <= 10; ++i) after.push_back(i);
  EXPECT_NEAR(wilcoxon_greater_p(before, after), 0.002960, 2e-6);
  // The reverse direction is far from significant.
  EXPECT_GT(wilcoxon_greater_p(after, before), 0.99);
  // Symmetric differences: about one half.
  std::vector<double> b2(10, 5.0), a2 = {4, 6, 3, 7, 2, 8, 1, 9, 0, 10};
  EXPECT_NEAR(wilcoxon_greater_p(b2, a2), 0.5, 0.05);
  // Fewer than 6 non-zero differences: no conclusion.
  EXPECT_EQ(wilcoxon_greater_p({1, 1, 1}, {2, 3, 4}), 1.0);
}

TEST(ReportStats, BootstrapIntervalOfAMean) {
  std::vector<double> v;
  for (int i = 0; i < 100; ++i) v.push_back(i % 2 ? 100.0 : 0.0);
  // Standard error 50 / sqrt(100) = 5: the 95% interval is about 50 +- 9.8.
  const Interval ci = bootstrap_mean_ci(v);
  EXPECT_LT(ci.lo, 50.0);
  EXPECT_GT(ci.hi, 50.0);
  EXPECT_NEAR(ci.hi - ci.lo, 19.6, 3.0);
  const Interval again = bootstrap_mean_ci(v);
  EXPECT_EQ(ci.lo, again.lo);  // seeded: reproducible
  EXPECT_EQ(bootstrap_mean_ci({7, 7, 7}).lo, 7.0);
}

TEST(ReportStats, PairedBootstrapDropPValue) {
  std::vector<double> a = {100, 0, 100, 100, 50, 100}, b = a;
  EXPECT_DOUBLE_EQ(paired_bootstrap_drop_p(a, b), 1.0);  // no difference at all
  std::vector<double> lower;
  for (double x : a) lower.push_back(x - 10);
  EXPECT_LT(paired_bootstrap_drop_p(a, lower, 999), 0.002);  // every case dropped
  EXPECT_TRUE(is_binary_outcome({0, 100, 100}));
  EXPECT_FALSE(is_binary_outcome({0, 50}));
}

// Mean of a metric over ok samples, computed by SQLite itself.
double sql_mean(const std::filesystem::path& db, const std::string& expr, const std::string& where) {
  ResultsStore s(db, true);
  Statement q = s.prepare("SELECT AVG(" + expr + ") FROM samples s JOIN configs c USING (config_hash) WHERE s.status = 'ok' AND " + where);
  EXPECT_TRUE(q.step());
  return q.real(0);
}

TEST(ReportTable, CellsAreTheStoredMeans) {
  const auto db = test::copy_of_fixture("table_means.db");
  const ResultsData data = load_results(db);
  ASSERT_EQ(data.samples.size(), size_t(5 * 2 * 12));  // (full + 2 methods x 2 ratios) x 2 tasks x 12
  // samples.case_meta (schema 2) carries each needle's depth and the target length.
  for (const SampleRow& s : data.samples) {
    EXPECT_EQ(s.target_length, 480) << s.case_id;
    if (s.task == "niah_single") {
      ASSERT_EQ(s.depths.size(), 1u) << s.case_id;
      EXPECT_TRUE(s.depths[0] >= 0 && s.depths[0] <= 100) << s.depths[0];
    }
  }
  for (const std::string metric : {"score", "prefill_seconds"}) {
    TableOptions o;
    o.metric = metric;
    o.filters = {parse_filter("ratio=0.8")};
    const Table t = build_table(data, o);
    ASSERT_EQ(t.row_keys, (std::vector<std::string>{"full", "snapkv", "streaming_llm"}));
    ASSERT_EQ(t.col_keys, (std::vector<std::string>{"niah_multikey", "niah_single", "Avg."}));
    const std::string expr = metric == "score" ? "s.score" : "s.prefill_seconds";
    for (size_t r = 0; r < 3; ++r)
      for (size_t c = 0; c < 2; ++c) {
        const std::string where = "c.method = '" + t.row_keys[r] + "' AND c.task = '" + t.col_keys[c] + "'" +
                                  (r == 0 ? "" : " AND c.compression_ratio = 0.8");
        EXPECT_NEAR(t.cells[r][c].value, sql_mean(db, expr, where), 1e-9) << metric << " " << where;
        EXPECT_EQ(t.cells[r][c].n, 12u);
      }
    for (size_t r = 0; r < 3; ++r)
      EXPECT_NEAR(t.cells[r][2].value, (t.cells[r][0].value + t.cells[r][1].value) / 2, 1e-9);
    // Exactly the best value of each column is bold (higher score, lower prefill time).
    for (size_t c = 0; c < 3; ++c) {
      double best = t.cells[0][c].value;
      for (size_t r = 1; r < 3; ++r)
        best = metric == "score" ? std::max(best, t.cells[r][c].value) : std::min(best, t.cells[r][c].value);
      for (size_t r = 0; r < 3; ++r) {
        if (t.cells[r][c].best) {
          EXPECT_NEAR(t.cells[r][c].value, best, 0.05 * std::fabs(best) + 1e-3);
        }
      }
    }
  }
}

TEST(ReportTable, LatexIsBooktabsWithEscapedNamesAndConsistentDecimals) {
  const auto db = test::copy_of_fixture("table_latex.db");
  const auto r = test::run_kvbench("table '" + db.string() +
                                   "' --rows method --cols task --metric score --ratio 0.5 --ci --format latex");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* s : {"\\begin{tabular}{lrrr}", "\\toprule", "\\midrule", "\\bottomrule", "niah\\_single",
                        "streaming\\_llm", "\\textbf{", "{\\scriptsize ["})
    EXPECT_NE(r.output.find(s), std::string::npos) << s << "\n" << r.output;
  EXPECT_EQ(r.output.find("niah_single"), std::string::npos) << "unescaped underscore\n" << r.output;
  // Every number in a body cell has one decimal.
  std::istringstream lines(r.output.substr(r.output.find("\\midrule")));
  std::regex number(R"(-?[0-9]+(\.[0-9]+)?)");
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" & ") == std::string::npos) continue;
    const std::string cells = line.substr(line.find(" & "));
    for (std::sregex_iterator it(cells.begin(), cells.end(), number), end; it != end; ++it) {
      const std::string n = it->str();
      const size_t dot = n.find('.');
      ASSERT_NE(dot, std::string::npos) << n << " in " << line;
      EXPECT_EQ(n.size() - dot - 1, 1u) << n << " in " << line;
    }
  }
  // Three rows: full (kept by the ratio filter), snapkv and streaming_llm.
  size_t rows = 0;
  for (size_t p = 0; (p = r.output.find(" \\\\\n", p)) != std::string::npos; ++p) ++rows;
  EXPECT_EQ(rows, 4u) << r.output;  // header + 3
}

TEST(ReportTable, MarkdownAndCsvOnAnyDimensions) {
  const auto db = test::copy_of_fixture("table_dims.db");
  auto md = test::run_kvbench("table '" + db.string() + "' --rows ratio --cols method --metric kv_fraction");
  ASSERT_EQ(md.exit_code, 0) << md.output;
  EXPECT_NE(md.output.find("| Ratio \\ Method | full | snapkv | streaming\\_llm | Avg. |"), std::string::npos)
      << md.output;
  EXPECT_NE(md.output.find("| 0.5 |"), std::string::npos) << md.output;
  auto csv = test::run_kvbench("table '" + db.string() + "' --rows method --cols ratio --metric score --ci --format csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  std::istringstream in(csv.output);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "method,0,0 ci_lo,0 ci_hi,0.5,0.5 ci_lo,0.5 ci_hi,0.8,0.8 ci_lo,0.8 ci_hi,Avg.,Avg. ci_lo,Avg. ci_hi");
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    if (f[0] == "snapkv") {
      ASSERT_GE(f.size(), 10u);
      const double v = std::stod(f[4]), lo = std::stod(f[5]), hi = std::stod(f[6]);
      EXPECT_LE(lo, v + 1e-9);
      EXPECT_GE(hi, v - 1e-9);
    }
  }
  EXPECT_EQ(lines, 3);
}

TEST(ReportTable, BadInputIsOneErrorWithExitCode2) {
  const auto db = test::copy_of_fixture("table_bad.db");
  struct Case {
    std::string args, needle;
  } cases[] = {
      {"--rows colour", "unknown dimension 'colour'"},
      {"--metric accuracy", "unknown metric 'accuracy'"},
      {"--format docx", "unknown table format 'docx'"},
      {"--filter method", "expected dimension=value"},
      {"--filter task=nothing_like_this", "no ok sample matches"},
  };
  for (const Case& c : cases) {
    const auto r = test::run_kvbench("table '" + db.string() + "' " + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.needle), std::string::npos) << c.args << "\n" << r.output;
  }
  const auto missing = test::run_kvbench("table '" + (test::tmp_dir() / "no_such.db").string() + "'");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("results database not found"), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace kvb
