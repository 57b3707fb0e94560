// The HTML report (`kvbench report DB -o report.html`): one self-contained file (inline CSS and SVG, no
// script, nothing fetched) with a summary table per budget (bootstrap 95% intervals), score vs
// compression per task, NIAH depth x length heatmaps, latency, memory, a score / memory Pareto chart,
// errors and provenance. Samples are aggregated before anything is drawn, so the file size depends on
// the number of configurations, not of samples. docs/reports.md; tests/test_report.cpp.
#pragma once
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "reports/results_data.h"
#include "reports/svg_chart.h"

namespace kvb::reports {

struct ReportOptions {
  std::string title = "kvbench report";
  std::vector<Filter> filters;  // a ratio filter keeps `full` (the uncompressed reference), as in `kvbench table`
  std::string generator;        // "kvbench 0.1.0 (commit)" for the footer
  std::string command;          // the command line, for the footer
};

// A compression budget: the uncompressed reference (method `full`), a compression ratio or a token budget.
struct BudgetKey {
  enum Kind { Reference = 0, Ratio = 1, Tokens = 2 };
  Kind kind = Reference;
  double value = 0;
  std::string label() const;        // "full attention", "ratio 0.5", "256 tokens"
  std::string short_label() const;  // "full", "0.5", "256t"
  auto operator<=>(const BudgetKey&) const = default;
};
BudgetKey budget_of(const SampleRow& s);

// Mean score of a set of samples with its 95% bootstrap interval.
struct ScoreCell {
  size_t n = 0;
  double mean = NAN, lo = NAN, hi = NAN;
};

// One method x budget configuration group, pooled over tasks, lengths and seeds (ok samples).
struct GroupStats {
  size_t n = 0;
  double score = NAN;          // mean of the per-task means (as the table's average column)
  double prefill_s = NAN;      // mean prefill seconds
  double decode_ms = NAN;      // median of the per-case median decode step, ms
  double resident_bytes = NAN; // mean resident KV bytes after compression
  double nominal_bytes = NAN;  // mean KV bytes an uncompressed fp32 cache would hold
  double read_bytes = NAN;     // mean K/V bytes a decode step read (selectors read a subset); NaN: not stored
};

struct HeatmapGroup {
  std::string task, series;
  BudgetKey budget;
  Heatmap map;
};

// Errors and skipped cases of one configuration.
struct ErrorGroup {
  std::string config, status, first_reason;
  size_t count = 0;
};

// Multi-question mode: the rows that answered questions of one shared context (samples.context_id).
struct ContextGroup {
  std::string task, context_id;
  // (series, budget) -> its rows' (case id, score), one per question, in case-id order.
  std::map<std::pair<std::string, BudgetKey>, std::vector<std::pair<std::string, double>>> answers;
};

struct ReportData {
  size_t total = 0, ok = 0, errors = 0, skipped = 0;  // samples passing the filters
  size_t stored = 0;                                  // samples in the database
  std::vector<std::string> series;                    // reference series first, then method labels
  std::set<std::string> reference;                    // series of method `full`
  std::map<std::string, std::string> colors;          // series -> colour, the same in every chart
  std::vector<std::string> tasks;
  std::vector<BudgetKey> budgets;  // compressed budgets, ratios then token budgets
  std::map<std::tuple<std::string, BudgetKey, std::string>, ScoreCell> cells;  // (series, budget, task)
  std::map<std::pair<std::string, BudgetKey>, GroupStats> groups;              // (series, budget)
  std::map<BudgetKey, double> nominal_at;  // mean nominal KV bytes of the compressed samples per budget
  std::vector<HeatmapGroup> heatmaps;
  std::vector<ErrorGroup> error_groups;
  std::vector<std::string> notes;  // what was pooled (lengths, seeds, modes)
  std::vector<ContextGroup> contexts;  // ok rows with a shared context, grouped by (task, context id)
};

// Groups the samples that pass the filters and computes every number the report shows.
ReportData aggregate_report(const ResultsData& data, const ReportOptions& o);

// The whole document.
std::string render_html_report(const ResultsData& data, const ReportOptions& o);

// Sections (html_report_charts.cpp), each a <section> with its heading, or a note when it has no data.
std::string render_score_charts(const ReportData& d);  // score vs budget per task, CI bands, full dashed
std::string render_heatmaps(const ReportData& d);      // NIAH depth x length per task, method and budget
std::string render_cost_charts(const ReportData& d);   // latency and memory vs budget
std::string render_pareto(const ReportData& d);        // mean score vs mean resident KV, frontier

}  // namespace kvb::reports
