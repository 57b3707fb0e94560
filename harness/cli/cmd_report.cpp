// `kvbench report DB -o report.html [--filter dim=v1,v2 ...] [--title T]`: one self-contained HTML file
// (inline CSS and SVG, nothing fetched) with tables, charts, heatmaps, errors and provenance
// (reports/html_report.h, docs/reports.md). tests/test_report.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>

#include "cli/commands.h"
#include "core/error.h"
#include "core/fault_point.h"
#include "core/log.h"
#include "kvb_git_commit.h"  // generated at build time: KVB_GIT_COMMIT
#include "reports/html_report.h"

namespace kvb::cli {
namespace {

namespace fs = std::filesystem;

struct ReportArgs {
  std::string db, output, title = "kvbench report";
  std::vector<std::string> filters;
};

// Single-quotes an argument for the footer's command line when it needs it.
std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=,:") ==
                        std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A filter that matches no stored sample is almost always a typo: fail, listing the stored values.
void check_filter_matches(const reports::ResultsData& data, const reports::Filter& f, const std::string& text) {
  std::set<std::string> values;
  for (const reports::SampleRow& s : data.samples) {
    if (f.dim == "ratio" && s.method == "full") continue;  // full is kept by a ratio filter anyway
    if (reports::passes(s, {f})) return;
    values.insert(reports::dimension_value(s, f.dim));
  }
  if (values.empty()) return;
  std::vector<std::string> shown(values.begin(), values.end());
  std::sort(shown.begin(), shown.end(),
            [&](const std::string& a, const std::string& b) { return reports::dimension_less(f.dim, a, b); });
  const size_t more = shown.size() > 12 ? shown.size() - 12 : 0;
  shown.resize(std::min<size_t>(shown.size(), 12));
  KVB_FAIL("filter '{}': no stored sample has that {} (stored: {}{})", text, f.dim, fmt::join(shown, ", "),
           more ? fmt::format(", ... {} more", more) : "");
}

void run_report(const ReportArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  reports::ReportOptions o;
  o.title = a.title;
  for (const std::string& f : a.filters) o.filters.push_back(reports::parse_filter(f));
  const reports::ResultsData data = reports::load_results(a.db);
  for (size_t i = 0; i < o.filters.size(); ++i) check_filter_matches(data, o.filters[i], a.filters[i]);
  o.generator = fmt::format("kvbench {} ({})", KVB_VERSION, KVB_GIT_COMMIT);
  o.command = "kvbench report " + shell_quote(a.db) + " -o " + shell_quote(a.output);
  for (const std::string& f : a.filters) o.command += " --filter " + shell_quote(f);
  if (a.title != "kvbench report") o.command += " --title " + shell_quote(a.title);

  // Written next to the target and renamed over it: a failed run never leaves half a report.
  const fs::path out = a.output;
  KVB_CHECK(!fs::is_directory(out), "{}: is a directory; give the report's file name with -o", a.output);
  const fs::path tmp = out.string() + ".tmp";
  std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
  KVB_CHECK(file.good(), "{}: cannot write the report ({})", a.output, std::strerror(errno));
  std::string html;
  try {
    html = reports::render_html_report(data, o);
    file.write(html.data(), std::streamsize(html.size() / 2));
    file.flush();
    fault_point("report.write");  // tests/test_storage_faults.cpp: SIGKILL with half the page written
    file.write(html.data() + html.size() / 2, std::streamsize(html.size() - html.size() / 2));
    file.close();
    KVB_CHECK(!file.fail(), "{}: write failed ({})", a.output, std::strerror(errno));
    std::error_code ec;
    fs::rename(tmp, out, ec);
    KVB_CHECK(!ec, "{}: cannot write the report ({})", a.output, ec.message());
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log_info("report: wrote {} ({}, {} samples) in {:.2f} s", a.output, reports::format_bytes(double(html.size())),
           data.samples.size(), secs);
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  CLI::App* c = app.add_subcommand("report", "Write a self-contained HTML report (tables, charts, heatmaps, provenance)");
  c->add_option("db", a->db, "Results database")->required();
  c->add_option("-o,--output", a->output, "HTML file to write")->required();
  c->add_option("--filter", a->filters, "dimension=value[,value...] (repeatable; a ratio filter keeps `full`)");
  c->add_option("--title", a->title, "Report title")->capture_default_str();
  c->callback([a] { run_report(*a); });
});

}  // namespace
}  // namespace kvb::cli
