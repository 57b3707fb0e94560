// Paper tables from the results store: any two stored dimensions as rows and columns, one metric per
// cell (mean over ok samples, optional 95% bootstrap interval), an average column, the best value per
// column in bold; LaTeX (booktabs), Markdown or CSV. `kvbench table`; tests/test_reports.cpp.
#pragma once
#include <string>
#include <vector>

#include "reports/results_data.h"

namespace kvb::reports {

struct TableOptions {
  std::string rows = "method", cols = "task", metric = "score";
  std::string format = "markdown";  // latex | markdown | csv
  bool ci = false;                  // 95% bootstrap interval per cell
  bool average = true;              // an average column (mean of the row's cells) when there are >= 2 columns
  int decimals = -1;                // -1: the metric's default
  std::vector<Filter> filters;      // a ratio filter keeps `full` rows (the uncompressed reference)
};

// The metrics a cell can show; `higher_is_better` decides which value is bold.
struct MetricInfo {
  std::string id, title, unit;
  bool higher_is_better = true;
  int decimals = 1;
};
const std::vector<MetricInfo>& table_metrics();
const MetricInfo& find_metric(const std::string& id);  // throws kvb::Error listing the known ones

struct TableCell {
  bool present = false;
  double value = 0, lo = 0, hi = 0;
  size_t n = 0;
  bool best = false;
};
struct Table {
  std::string row_dim, col_dim;
  MetricInfo metric;
  std::vector<std::string> row_keys, col_keys;  // col_keys ends with "Avg." when there is an average column
  std::vector<std::vector<TableCell>> cells;    // [row][col]
  size_t samples = 0;                           // ok samples used
};

// Groups the samples (filters applied; only ok samples) and fills the cells. Throws kvb::Error for an
// unknown dimension, metric or format, and when no sample passes the filters.
Table build_table(const ResultsData& data, const TableOptions& o);
std::string render_table(const Table& t, const TableOptions& o);

// Escapes LaTeX's special characters.
std::string latex_escape(const std::string& s);

}  // namespace kvb::reports
