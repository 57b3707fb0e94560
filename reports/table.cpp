// Paper tables; see table.h.
#include "reports/table.h"

// GCC 12 reports a false -Wrestrict on `"literal" + std::string` (GCC bug 105329).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "reports/stats.h"

namespace kvb::reports {
namespace {

// The per-sample value of a metric.
double metric_value(const SampleRow& s, const std::string& id) {
  if (id == "score") return s.score;
  if (id == "prefill_seconds") return s.prefill_seconds;
  if (id == "method_ms") return 1e3 * s.method_seconds;
  if (id == "decode_ms") return 1e3 * s.decode_p50_seconds;
  if (id == "kv_resident_mib") return double(s.kv_resident_bytes) / double(1 << 20);
  if (id == "kv_read_mib") return s.read_bytes_mean > 0 ? s.read_bytes_mean / double(1 << 20) : NAN;  // 0: no decode step
  if (id == "kv_fraction") return s.kv_nominal_bytes > 0 ? 100.0 * double(s.kv_resident_bytes) / double(s.kv_nominal_bytes) : NAN;
  if (id == "peak_rss_mib") return double(s.peak_rss_bytes) / double(1 << 20);
  if (id == "nll" || id == "perplexity") return s.mean_nll();  // perplexity: exp of the group's mean, below
  if (id == "n") return 1.0;
  KVB_FAIL("unknown metric '{}'", id);
}

std::string number(double v, int decimals) { return fmt::format("{:.{}f}", v, decimals); }

std::string markdown_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|' || c == '*' || c == '_' || c == '`' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string dim_title(const std::string& dim) {
  if (dim == "method") return "Method";
  if (dim == "ratio") return "Ratio";
  if (dim == "task") return "Task";
  if (dim == "length") return "Length";
  if (dim == "model") return "Model";
  if (dim == "mode") return "Mode";
  if (dim == "budget") return "Budget";
  if (dim == "seed") return "Seed";
  return dim;
}

}  // namespace

const std::vector<MetricInfo>& table_metrics() {
  static const std::vector<MetricInfo> metrics = {
      {"score", "score", "0-100", true, 1},
      {"prefill_seconds", "prefill", "s", false, 3},
      {"method_ms", "method hooks", "ms", false, 2},
      {"decode_ms", "decode per token (median)", "ms", false, 2},
      {"kv_resident_mib", "resident KV", "MiB", false, 2},
      {"kv_read_mib", "KV read per decode step (mean)", "MiB", false, 2},
      {"kv_fraction", "resident / nominal KV", "%", false, 1},
      {"peak_rss_mib", "peak RSS", "MiB", false, 1},
      {"nll", "NLL per token", "nats", false, 3},
      {"perplexity", "perplexity", "exp(mean NLL)", false, 2},
      {"n", "ok samples", "", true, 0},
  };
  return metrics;
}

const MetricInfo& find_metric(const std::string& id) {
  for (const MetricInfo& m : table_metrics())
    if (m.id == id) return m;
  std::vector<std::string> ids;
  for (const MetricInfo& m : table_metrics()) ids.push_back(m.id);
  KVB_FAIL("unknown metric '{}' (known: {})", id, fmt::join(ids, ", "));
}

Table build_table(const ResultsData& data, const TableOptions& o) {
  KVB_CHECK(o.format == "latex" || o.format == "markdown" || o.format == "csv",
            "unknown table format '{}' (latex, markdown or csv)", o.format);
  KVB_CHECK(o.rows != o.cols, "rows and columns are both '{}'", o.rows);
  Table t;
  t.row_dim = o.rows;
  t.col_dim = o.cols;
  t.metric = find_metric(o.metric);
  if (o.decimals >= 0) t.metric.decimals = o.decimals;
  // A ratio filter keeps the uncompressed reference rows.
  std::vector<Filter> filters, ratio_filters;
  for (const Filter& f : o.filters) (f.dim == "ratio" ? ratio_filters : filters).push_back(f);

  std::map<std::string, std::map<std::string, std::vector<double>>> groups;  // row -> col -> values
  std::set<std::string> rows, cols;
  for (const SampleRow& s : data.samples) {
    if (!s.ok()) continue;
    if (!passes(s, filters)) continue;
    if (!ratio_filters.empty() && s.method != "full" && !passes(s, ratio_filters)) continue;
    const double v = metric_value(s, t.metric.id);
    if (std::isnan(v)) continue;
    const std::string r = dimension_value(s, o.rows), c = dimension_value(s, o.cols);
    groups[r][c].push_back(v);
    rows.insert(r);
    cols.insert(c);
    ++t.samples;
  }
  KVB_CHECK(t.samples > 0, "{}: no ok sample matches the filters", data.path.string());
  t.row_keys.assign(rows.begin(), rows.end());
  t.col_keys.assign(cols.begin(), cols.end());
  std::sort(t.row_keys.begin(), t.row_keys.end(),
            [&](const std::string& a, const std::string& b) { return dimension_less(o.rows, a, b); });
  std::sort(t.col_keys.begin(), t.col_keys.end(),
            [&](const std::string& a, const std::string& b) { return dimension_less(o.cols, a, b); });
  const bool average = o.average && t.col_keys.size() >= 2 && t.metric.id != "n";
  const size_t data_cols = t.col_keys.size();
  if (average) t.col_keys.push_back("Avg.");

  t.cells.assign(t.row_keys.size(), std::vector<TableCell>(t.col_keys.size()));
  for (size_t r = 0; r < t.row_keys.size(); ++r) {
    double sum = 0;
    size_t present = 0;
    for (size_t c = 0; c < data_cols; ++c) {
      auto it = groups[t.row_keys[r]].find(t.col_keys[c]);
      if (it == groups[t.row_keys[r]].end()) continue;
      TableCell& cell = t.cells[r][c];
      cell.present = true;
      cell.n = it->second.size();
      cell.value = t.metric.id == "n" ? double(cell.n) : mean(it->second);
      if (o.ci && t.metric.id != "n") {
        const Interval ci = bootstrap_mean_ci(it->second);
        cell.lo = ci.lo;
        cell.hi = ci.hi;
      }
      if (t.metric.id == "perplexity") {  // exp of the mean NLL per token (cases have equal continuations)
        cell.value = std::exp(cell.value);
        cell.lo = std::exp(cell.lo);
        cell.hi = std::exp(cell.hi);
      }
      sum += cell.value;
      ++present;
    }
    // The average is over the row's columns; a row missing a column gets none (not comparable).
    if (average && present == data_cols) {
      TableCell& cell = t.cells[r][data_cols];
      cell.present = true;
      cell.value = sum / double(present);
      for (size_t c = 0; c < data_cols; ++c) cell.n += t.cells[r][c].n;
    }
  }
  // Best per column, at the displayed precision (ties are all bold).
  for (size_t c = 0; c < t.col_keys.size(); ++c) {
    double best = NAN;
    auto shown = [&](double v) { return std::round(v * std::pow(10.0, t.metric.decimals)); };
    for (size_t r = 0; r < t.row_keys.size(); ++r) {
      const TableCell& cell = t.cells[r][c];
      if (!cell.present) continue;
      if (std::isnan(best) || (t.metric.higher_is_better ? shown(cell.value) > best : shown(cell.value) < best))
        best = shown(cell.value);
    }
    size_t present = 0;
    for (size_t r = 0; r < t.row_keys.size(); ++r) present += t.cells[r][c].present;
    if (present < 2) continue;  // nothing to compare
    for (size_t r = 0; r < t.row_keys.size(); ++r)
      if (t.cells[r][c].present && shown(t.cells[r][c].value) == best) t.cells[r][c].best = true;
  }
  return t;
}

std::string latex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': case '%': case '$': case '#': case '_': case '{': case '}':
        out += '\\';
        out += c;
        break;
      case '~': out += "\\textasciitilde{}"; break;
      case '^': out += "\\textasciicircum{}"; break;
      case '\\': out += "\\textbackslash{}"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_table(const Table& t, const TableOptions& o) {
  const int d = t.metric.decimals;
  const std::string metric_caption =
      t.metric.title + (t.metric.unit.empty() ? "" : " (" + t.metric.unit + ")");
  std::string out;
  if (o.format == "csv") {
    out += csv_field(t.row_dim);
    for (const std::string& c : t.col_keys) {
      out += "," + csv_field(c);
      if (o.ci) out += "," + csv_field(c + " ci_lo") + "," + csv_field(c + " ci_hi");
    }
    out += "\n";
    for (size_t r = 0; r < t.row_keys.size(); ++r) {
      out += csv_field(t.row_keys[r]);
      for (size_t c = 0; c < t.col_keys.size(); ++c) {
        const TableCell& cell = t.cells[r][c];
        out += ',';
        if (cell.present) out += number(cell.value, d);
        if (o.ci) {
          const bool has = cell.present && t.col_keys[c] != "Avg." && o.metric != "n";
          out += ',';
          if (has) out += number(cell.lo, d);
          out += ',';
          if (has) out += number(cell.hi, d);
        }
      }
      out += "\n";
    }
    return out;
  }
  auto cell_text = [&](const TableCell& cell, bool is_avg, bool latex) -> std::string {
    if (!cell.present) return latex ? "--" : "–";
    std::string v = number(cell.value, d);
    if (cell.best) v = latex ? "\\textbf{" + v + "}" : "**" + v + "**";
    if (o.ci && !is_avg && o.metric != "n")
      v += latex ? fmt::format(" {{\\scriptsize [{}, {}]}}", number(cell.lo, d), number(cell.hi, d))
                 : fmt::format(" [{}, {}]", number(cell.lo, d), number(cell.hi, d));
    return v;
  };
  if (o.format == "markdown") {
    out += fmt::format("| {} \\ {} |", dim_title(t.row_dim), dim_title(t.col_dim));
    for (const std::string& c : t.col_keys) out += " " + markdown_escape(c) + " |";
    out += "\n|:--|";
    for (size_t c = 0; c < t.col_keys.size(); ++c) out += "--:|";
    out += "\n";
    for (size_t r = 0; r < t.row_keys.size(); ++r) {
      out += "| ";
      out += markdown_escape(t.row_keys[r]);
      out += " |";
      for (size_t c = 0; c < t.col_keys.size(); ++c) {
        out += ' ';
        out += cell_text(t.cells[r][c], t.col_keys[c] == "Avg.", false);
        out += " |";
      }
      out += "\n";
    }
    out += fmt::format("\n{}: mean over {} ok samples{}; best per column in bold.\n", metric_caption, t.samples,
                       o.ci ? ", [95% bootstrap interval]" : "");
    return out;
  }
  // LaTeX, booktabs.
  out += "% kvbench table: " + latex_escape(metric_caption) + fmt::format(", mean over {} ok samples", t.samples) +
         (o.ci ? ", [95% bootstrap interval]" : "") + "\n";
  out += "\\begin{tabular}{l" + std::string(t.col_keys.size(), 'r') + "}\n\\toprule\n";
  out += latex_escape(dim_title(t.row_dim));
  for (const std::string& c : t.col_keys) out += " & " + latex_escape(c);
  out += " \\\\\n\\midrule\n";
  for (size_t r = 0; r < t.row_keys.size(); ++r) {
    out += latex_escape(t.row_keys[r]);
    for (size_t c = 0; c < t.col_keys.size(); ++c)
      out += " & " + cell_text(t.cells[r][c], t.col_keys[c] == "Avg.", true);
    out += " \\\\\n";
  }
  out += "\\bottomrule\n\\end{tabular}\n";
  return out;
}

}  // namespace kvb::reports
