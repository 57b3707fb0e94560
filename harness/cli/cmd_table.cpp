// `kvbench table DB --rows method --cols task --metric score [--ratio 0.5] [--ci] [--filter dim=v,...]
// --format latex|markdown|csv [-o FILE]`: a paper table from the results store (reports/table.h).
// tests/test_reports.cpp.
#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "reports/table.h"

namespace kvb::cli {
namespace {

struct TableArgs {
  std::string db, output, ratio;
  std::vector<std::string> filters;
  bool no_average = false;
  reports::TableOptions options;
};

void run_table(TableArgs& a) {
  reports::ResultsData data = reports::load_results(a.db);
  for (const std::string& f : a.filters) a.options.filters.push_back(reports::parse_filter(f));
  if (!a.ratio.empty()) a.options.filters.push_back(reports::parse_filter("ratio=" + a.ratio));
  a.options.average = !a.no_average;
  const reports::Table t = reports::build_table(data, a.options);
  const std::string text = reports::render_table(t, a.options);
  if (a.output.empty()) {
    std::cout << text;
    return;
  }
  std::ofstream f(a.output);
  KVB_CHECK(f.good(), "{}: cannot write", a.output);
  f << text;
  KVB_CHECK(f.good(), "{}: write failed", a.output);
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<TableArgs>();
  CLI::App* c = app.add_subcommand("table", "Print a paper table (LaTeX booktabs, Markdown or CSV) from a results database");
  c->add_option("db", a->db, "Results database")->required();
  c->add_option("--rows", a->options.rows, "Row dimension: method, ratio, task, length, model, mode, budget, seed")
      ->capture_default_str();
  c->add_option("--cols", a->options.cols, "Column dimension")->capture_default_str();
  c->add_option("--metric", a->options.metric,
                "Cell metric: score, prefill_seconds, method_ms, decode_ms, kv_resident_mib, kv_read_mib, kv_fraction, "
                "peak_rss_mib, nll, perplexity, n")
      ->capture_default_str();
  c->add_option("--ratio", a->ratio, "Only these compression ratios (comma-separated); `full` rows are kept");
  c->add_option("--filter", a->filters, "dimension=value[,value...] (repeatable)");
  c->add_flag("--ci", a->options.ci, "Add 95% bootstrap confidence intervals");
  c->add_flag("--no-average", a->no_average, "No average column");
  c->add_option("--decimals", a->options.decimals, "Decimals (default: the metric's)");
  c->add_option("--format", a->options.format, "latex, markdown or csv")->capture_default_str();
  c->add_option("-o,--output", a->output, "Write to FILE instead of standard output");
  c->callback([a] { run_table(*a); });
});

}  // namespace
}  // namespace kvb::cli
