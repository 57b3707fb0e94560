// The HTML report's aggregation and document: header, summary tables, errors, provenance; the chart
// sections are in html_report_charts.cpp. See html_report.h.
#include "reports/html_report.h"

#include <fmt/format.h>
#include <fmt/chrono.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "reports/stats.h"

namespace kvb::reports {
namespace {

using SeriesOf = std::function<std::string(const SampleRow&)>;

// "1.5k" for 1500, "480" for 480.
std::string compact(double v) { return v >= 1000 ? fmt::format("{:g}k", v / 1000) : fmt::format("{:g}", v); }

// NIAH heatmaps: ok samples with exactly one needle, per task and (series, budget); columns are the
// context lengths (the sweep's lengths when several, else the cases' target lengths, bucketed when many),
// rows the needle depth rounded to 10%.
void build_heatmaps(const std::vector<const SampleRow*>& rows, const SeriesOf& series_of, ReportData& d) {
  std::map<std::string, std::vector<const SampleRow*>> by_task;
  for (const SampleRow* s : rows)
    if (s->ok() && s->depths.size() == 1 && std::isfinite(s->score)) by_task[s->task].push_back(s);
  std::map<std::string, size_t> series_rank;
  for (size_t i = 0; i < d.series.size(); ++i) series_rank[d.series[i]] = i;
  for (const auto& [task, ss] : by_task) {
    std::set<int64_t> lengths;
    bool targets = false;
    for (const SampleRow* s : ss) {
      if (s->length > 0) lengths.insert(s->length);
      targets = targets || s->target_length > 0;
    }
    // The sweep's lengths when several, else the cases' target lengths, else the one length, else the
    // context actually built (symbolic cases of a task's own length).
    const int axis = lengths.size() > 1 ? 0 : targets ? 1 : lengths.size() == 1 ? 0 : 2;
    auto xval = [&](const SampleRow& s) {
      return double(axis == 0 ? s.length : axis == 1 ? s.target_length : s.context_tokens);
    };
    const std::string xtitle = axis == 0 ? "context length (tokens)" : axis == 1 ? "target length (tokens)" : "context (tokens)";
    std::set<double> xs;
    for (const SampleRow* s : ss) xs.insert(xval(*s));
    std::vector<double> edges(xs.begin(), xs.end());
    std::vector<std::string> xlabels;
    const bool binned = edges.size() > 12;
    if (binned) {
      edges = nice_ticks(edges.front(), edges.back(), 8);
      for (size_t i = 0; i + 1 < edges.size(); ++i) xlabels.push_back(compact(edges[i]) + "\u2013" + compact(edges[i + 1]));
    } else {
      for (double x : edges) xlabels.push_back(compact(x));
    }
    auto col_of = [&](double x) {
      const size_t i = size_t(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin());
      return std::min(i == 0 ? 0 : i - 1, xlabels.size() - 1);
    };
    std::set<int> depth_rows;
    for (const SampleRow* s : ss) depth_rows.insert(int(std::clamp(std::lround(s->depths[0] / 10.0), 0L, 10L)));
    std::vector<int> ys(depth_rows.begin(), depth_rows.end());
    std::map<std::pair<std::string, BudgetKey>, std::vector<std::vector<std::pair<double, size_t>>>> sums;
    for (const SampleRow* s : ss) {
      auto& grid = sums[{series_of(*s), budget_of(*s)}];
      if (grid.empty()) grid.assign(ys.size(), std::vector<std::pair<double, size_t>>(xlabels.size()));
      const int y = int(std::clamp(std::lround(s->depths[0] / 10.0), 0L, 10L));
      auto& cell = grid[size_t(std::lower_bound(ys.begin(), ys.end(), y) - ys.begin())][col_of(xval(*s))];
      cell.first += s->score;
      ++cell.second;
    }
    std::vector<HeatmapGroup> groups;
    for (const auto& [key, grid] : sums) {
      HeatmapGroup g{task, key.first, key.second, {}};
      g.map.title = key.second.kind == BudgetKey::Reference ? key.first : key.first + " \u00b7 " + key.second.label();
      g.map.x_label = xtitle;
      g.map.y_label = "needle depth";
      g.map.x_labels = xlabels;
      for (int y : ys) g.map.y_labels.push_back(std::to_string(10 * y) + "%");
      for (const auto& row : grid) {
        g.map.values.emplace_back();
        g.map.counts.emplace_back();
        for (const auto& [sum, n] : row) {
          g.map.values.back().push_back(n ? sum / double(n) : NAN);
          g.map.counts.back().push_back(n);
        }
      }
      groups.push_back(std::move(g));
    }
    std::stable_sort(groups.begin(), groups.end(), [&](const HeatmapGroup& a, const HeatmapGroup& b) {
      return std::tie(series_rank[a.series], a.budget) < std::tie(series_rank[b.series], b.budget);
    });
    for (HeatmapGroup& g : groups) d.heatmaps.push_back(std::move(g));
  }
}

std::string esc(const std::string& s) { return html_escape(s); }

std::string swatch(const ReportData& d, const std::string& series) {
  auto it = d.colors.find(series);
  return fmt::format("<span class=\"sw\" style=\"background:{}\"></span>", it == d.colors.end() ? "#999" : it->second);
}

// One table per budget: rows are methods (full first, as reference), columns tasks and their average;
// cells are mean scores with 95% bootstrap intervals; the best compressed method per column in bold.
std::string render_summary(const ReportData& d) {
  std::string h = "<section id=\"summary\"><h2>Summary</h2>";
  h += "<p class=\"note\">Mean score (0\u2013100) over ok samples; small print: 95% bootstrap confidence interval "
       "(hover for n). Bold: best compressed method per column. <i>full</i> (no compression) is the reference row "
       "of every table. Avg.: mean of the task means.</p>";
  std::vector<BudgetKey> budgets = d.budgets;
  if (budgets.empty()) budgets.push_back(BudgetKey{});  // only the reference
  const bool average = d.tasks.size() >= 2;
  h += "<div class=\"tables\">";  // side by side while they fit
  for (const BudgetKey& b : budgets) {
    h += fmt::format("<div class=\"tblock\"><h3>{}</h3><div class=\"scroll\"><table class=\"summary\"><thead><tr>"
                     "<th>method</th>",
                     esc(b.kind == BudgetKey::Reference ? "full attention" : "compression: " + b.label()));
    for (const std::string& t : d.tasks) h += "<th>" + esc(t) + "</th>";
    if (average) h += "<th>Avg.</th>";
    h += "</tr></thead><tbody>";
    struct Row {
      std::string series;
      bool ref;
      std::vector<const ScoreCell*> cells;
      double avg = NAN;
    };
    std::vector<Row> rows;
    for (const std::string& s : d.series) {
      const bool ref = d.reference.count(s) > 0;
      const BudgetKey key = ref ? BudgetKey{} : b;
      Row r{s, ref, {}, NAN};
      size_t present = 0;
      double sum = 0;
      for (const std::string& t : d.tasks) {
        auto it = d.cells.find({s, key, t});
        r.cells.push_back(it == d.cells.end() ? nullptr : &it->second);
        if (it != d.cells.end()) sum += it->second.mean, ++present;
      }
      if (present == 0) continue;
      if (present == d.tasks.size()) r.avg = sum / double(present);
      rows.push_back(std::move(r));
    }
    // Best compressed value per column at the displayed precision (ties all bold).
    const size_t ncols = d.tasks.size() + (average ? 1 : 0);
    std::vector<double> best(ncols, NAN);
    std::vector<size_t> candidates(ncols, 0);
    auto value_at = [&](const Row& r, size_t c) { return c < d.tasks.size() ? (r.cells[c] ? r.cells[c]->mean : NAN) : r.avg; };
    for (const Row& r : rows)
      for (size_t c = 0; c < ncols && !r.ref; ++c) {
        const double v = std::round(value_at(r, c) * 10);
        if (std::isnan(v)) continue;
        ++candidates[c];
        if (std::isnan(best[c]) || v > best[c]) best[c] = v;
      }
    for (const Row& r : rows) {
      h += fmt::format("<tr{}><td>{}{}</td>", r.ref ? " class=\"ref\"" : "", swatch(d, r.series), esc(r.series));
      for (size_t c = 0; c < ncols; ++c) {
        const double v = value_at(r, c);
        const bool is_best = !r.ref && candidates[c] >= 2 && std::round(v * 10) == best[c];
        const std::string cls = is_best ? " class=\"best\"" : "";
        if (std::isnan(v)) {
          h += "<td class=\"na\">\u2013</td>";
        } else if (c < d.tasks.size()) {
          const ScoreCell& cell = *r.cells[c];
          h += fmt::format("<td{} title=\"mean {:.1f}, 95% CI {:.1f}\u2013{:.1f} (bootstrap, n = {})\">{:.1f}"
                           "<small>{:.1f}\u2013{:.1f}</small></td>",
                           cls, cell.mean, cell.lo, cell.hi, cell.n, cell.mean, cell.lo, cell.hi);
        } else {
          h += fmt::format("<td{} title=\"mean of {} task means\">{:.1f}</td>", cls, d.tasks.size(), v);
        }
      }
      h += "</tr>";
    }
    h += "</tbody></table></div></div>";
  }
  return h + "</div></section>";
}

// Perplexity rows (task perplexity: samples.token_nll): exp of the mean NLL per token per method,
// budget and mode (rows) and length (columns); absent when no stored row has token NLLs.
std::string render_perplexity(const ResultsData& data, const ReportOptions& o) {
  std::map<std::string, std::map<int64_t, std::pair<double, int64_t>>> cells;  // row -> length -> (sum, tokens)
  std::set<int64_t> lengths;
  for (const SampleRow& s : data.samples) {
    if (!s.ok() || s.nll_tokens == 0) continue;
    bool keep = true;  // a ratio filter keeps `full`, as everywhere in the report
    for (const Filter& f : o.filters) keep &= (f.dim == "ratio" && s.method == "full") || passes(s, {f});
    if (!keep) continue;
    const std::string budget = s.method == "full" ? "" : s.budget > 0 ? fmt::format(", budget {}", s.budget)
                                                                       : fmt::format(", ratio {}", s.ratio);
    const std::string row = s.method_label + budget + (s.mode == "query_aware" ? ", query-aware" : "");
    auto& c = cells[row][s.length];
    c.first += s.nll_sum;
    c.second += s.nll_tokens;
    lengths.insert(s.length);
  }
  if (cells.empty()) return "";
  std::string h = "<section id=\"perplexity\"><h2>Perplexity</h2><p class=\"note\">exp(mean negative "
                  "log-likelihood per continuation token) after the compressed prefix (task perplexity); lower is "
                  "better; hover for tokens.</p><div class=\"scroll\"><table class=\"summary\"><thead><tr><th>method"
                  "</th>";
  for (int64_t l : lengths) h += fmt::format("<th>length {}</th>", l);
  h += "</tr></thead><tbody>";
  for (const auto& [row, by_length] : cells) {
    h += "<tr><td>" + esc(row) + "</td>";
    for (int64_t l : lengths) {
      auto it = by_length.find(l);
      if (it == by_length.end()) {
        h += "<td class=\"na\">\u2013</td>";
        continue;
      }
      const double mean = it->second.first / double(it->second.second);
      h += fmt::format("<td title=\"mean NLL {:.4f} nats over {} tokens\">{:.2f}</td>", mean, it->second.second,
                       std::exp(mean));
    }
    h += "</tr>";
  }
  return h + "</tbody></table></div></section>";
}

// Multi-question mode: per series and budget, the shared contexts, their questions, the mean score
// and the share of contexts whose every question scored 100; then each context's question scores.
std::string render_contexts(const ReportData& d) {
  if (d.contexts.empty()) return "";
  std::string h = "<section id=\"contexts\"><h2>Questions per shared context</h2>";
  h += fmt::format("<p class=\"note\">{} contexts asked several questions each (multi-question mode: the context is "
                   "prefilled once, each question runs on its own compressed copy of it and is stored as its own "
                   "row).</p>",
                   d.contexts.size());
  struct Sum {
    size_t contexts = 0, questions = 0, all_right = 0;
    double score = 0;
  };
  std::map<std::tuple<std::string, BudgetKey, std::string>, Sum> sums;  // (series, budget, task)
  for (const ContextGroup& g : d.contexts)
    for (const auto& [sb, v] : g.answers) {
      Sum& s = sums[{sb.first, sb.second, g.task}];
      ++s.contexts;
      bool all = true;
      for (const auto& [id, score] : v) s.score += score, ++s.questions, all = all && score >= 100.0;
      s.all_right += all ? 1 : 0;
    }
  h += "<div class=\"scroll\"><table><thead><tr><th>method</th><th>budget</th><th>task</th><th>contexts</th>"
       "<th>questions</th><th>mean score</th><th>contexts all right</th></tr></thead><tbody>";
  for (const auto& [key, s] : sums)
    h += fmt::format("<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1f}</td><td>{:.0f}%</td></tr>",
                     swatch(d, std::get<0>(key)), esc(std::get<0>(key)), esc(std::get<1>(key).label()),
                     esc(std::get<2>(key)), s.contexts, s.questions, s.score / double(s.questions),
                     100.0 * double(s.all_right) / double(s.contexts));
  h += "</tbody></table></div>";
  // Each context: the scores of its questions (in case-id order) per series and budget.
  std::vector<std::pair<std::string, BudgetKey>> columns;
  for (const ContextGroup& g : d.contexts)
    for (const auto& [sb, v] : g.answers)
      if (std::find(columns.begin(), columns.end(), sb) == columns.end()) columns.push_back(sb);
  std::sort(columns.begin(), columns.end());
  h += "<details><summary>Scores of each context's questions</summary><div class=\"scroll\"><table><thead><tr>"
       "<th>task</th><th>context</th>";
  for (const auto& [series, b] : columns) h += fmt::format("<th>{}<small>{}</small></th>", esc(series), esc(b.label()));
  h += "</tr></thead><tbody>";
  const size_t shown = std::min<size_t>(d.contexts.size(), 200);
  for (size_t i = 0; i < shown; ++i) {
    const ContextGroup& g = d.contexts[i];
    h += fmt::format("<tr><td>{}</td><td class=\"mono\">{}</td>", esc(g.task), esc(g.context_id));
    for (const auto& col : columns) {
      auto it = g.answers.find(col);
      std::vector<std::string> scores;
      if (it != g.answers.end())
        for (const auto& [id, score] : it->second) scores.push_back(fmt::format("{:.0f}", score));
      h += fmt::format("<td>{}</td>", fmt::join(scores, " · "));
    }
    h += "</tr>";
  }
  h += "</tbody></table></div></details>";
  if (shown < d.contexts.size())
    h += fmt::format("<p class=\"note\">{} more contexts not shown.</p>", d.contexts.size() - shown);
  return h + "</section>";
}

// Errors and skipped cases grouped by configuration: count and the first reason.
std::string render_errors(const ReportData& d) {
  std::string h = "<section id=\"errors\"><h2>Errors and skipped cases</h2>";
  if (d.error_groups.empty()) return h + "<p class=\"note\">None: every stored case ran.</p></section>";
  h += fmt::format("<p class=\"note\">{} error and {} skipped cases in {} configurations (case id <code>*</code>: "
                   "the configuration could not start).</p>",
                   d.errors, d.skipped, d.error_groups.size());
  h += "<div class=\"scroll\"><table class=\"errors\"><thead><tr><th>configuration</th><th>status</th><th>cases</th>"
       "<th>first reason</th></tr></thead><tbody>";
  const size_t shown = std::min<size_t>(d.error_groups.size(), 500);
  for (size_t i = 0; i < shown; ++i) {
    const ErrorGroup& e = d.error_groups[i];
    h += fmt::format("<tr><td>{}</td><td><span class=\"tag {}\">{}</span></td><td>{}</td><td class=\"reason\">{}</td></tr>",
                     esc(e.config), e.status == "error" ? "err" : "skip", esc(e.status), e.count, esc(e.first_reason));
  }
  h += "</tbody></table></div>";
  if (shown < d.error_groups.size())
    h += fmt::format("<p class=\"note\">{} more configurations not shown.</p>", d.error_groups.size() - shown);
  return h + "</section>";
}

// Runs (build, machine, status) and the sweep configurations they stored.
std::string render_provenance(const ResultsData& data) {
  std::string h = "<section id=\"provenance\"><h2>Provenance</h2>";
  if (data.runs.empty()) return h + "<p class=\"note\">No runs stored.</p></section>";
  h += "<div class=\"scroll\"><table class=\"runs\"><thead><tr><th>run</th><th>status</th><th>started / ended (UTC)"
       "</th><th>command</th><th>commit</th><th>build</th><th>machine</th></tr></thead><tbody>";
  for (const RunRow& r : data.runs) {
    h += fmt::format(
        "<tr><td>{}</td><td><span class=\"tag {}\">{}</span></td><td>{}<br>{}</td><td>{}</td><td><span class=\"mono\">"
        "{}</span>{}</td><td>kvbench {}<br>{} \u00b7 {}</td><td>{} ({} cores) \u00b7 GPU: {}<br>{} \u00b7 {}</td></tr>",
        r.run_id, r.status == "finished" ? "ok" : r.status == "running" ? "skip" : "err", esc(r.status),
        esc(r.started_at), esc(r.ended_at.empty() ? "\u2013" : r.ended_at), esc(r.command), esc(r.git_commit),
        r.git_dirty ? " <span class=\"tag skip\">dirty</span>" : "", esc(r.kvbench_version), esc(r.build_type),
        esc(r.compiler), esc(r.cpu_model), r.cpu_cores, esc(r.gpu.empty() ? "none" : r.gpu), esc(r.host), esc(r.os));
  }
  h += "</tbody></table></div><h3>Sweep configurations</h3>";
  std::map<std::string, std::vector<int64_t>> configs;  // pretty JSON -> runs
  for (const RunRow& r : data.runs) {
    if (r.sweep_config.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(r.sweep_config, nullptr, false);
    configs[j.is_discarded() ? r.sweep_config : j.dump(2)].push_back(r.run_id);
  }
  if (configs.empty()) h += "<p class=\"note\">No sweep configuration stored (runs of <code>kvbench run</code>).</p>";
  for (const auto& [text, runs] : configs)
    h += fmt::format("<details><summary>run{} {}</summary><pre>{}</pre></details>", runs.size() > 1 ? "s" : "",
                     fmt::join(runs, ", "), esc(text));
  return h + "</section>";
}

const char* const kCss = R"css(
:root{--fg:#1f2328;--muted:#59636e;--border:#d1d9e0;--bg:#f6f8fa;--card:#fff;--accent:#0969da}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1280px;margin:0 auto;padding:24px 28px 40px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:0 0 4px}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:var(--muted);margin:0}
nav{margin:12px 0 4px;display:flex;flex-wrap:wrap;gap:4px 16px}
nav a,a{color:var(--accent);text-decoration:none}
section{background:var(--card);border:1px solid var(--border);border-radius:8px;padding:16px 22px 18px;margin:16px 0}
p.note{color:var(--muted);margin:2px 0 10px;font-size:13px}
.scroll{overflow-x:auto}
.tables{display:flex;flex-wrap:wrap;gap:0 32px;align-items:flex-start}
.tblock{max-width:100%}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:4px 0 10px}
th,td{padding:5px 12px;border-bottom:1px solid #eaeef2;text-align:right;vertical-align:top;white-space:nowrap}
th{font-weight:600;background:var(--bg);border-bottom:1px solid var(--border)}
th:first-child,td:first-child{text-align:left}
td small{display:block;color:var(--muted);font-size:11px;font-weight:400}
td.best{font-weight:700;background:#dafbe1}
td.na{color:#b0b7be}
tr.ref td{background:#f6f8fa;font-style:italic}
table.errors td,table.runs td,table.errors th,table.runs th{text-align:left;font-size:12.5px}
table.runs td{white-space:normal;max-width:380px}
td.reason{white-space:normal;min-width:320px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12px}
.mono,code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12px}
pre{background:var(--bg);padding:10px 12px;border-radius:6px;overflow-x:auto;margin:6px 0}
details{margin:4px 0}
summary{cursor:pointer;color:var(--accent)}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:7px}
.tag{display:inline-block;padding:0 7px;border-radius:10px;font-size:11.5px;background:#ddf4ff;color:#0550ae}
.tag.ok{background:#dafbe1;color:#116329}.tag.err{background:#ffebe9;color:#a40e26}.tag.skip{background:#fff8c5;color:#7d4e00}
.charts{display:flex;flex-wrap:wrap;gap:10px 18px;align-items:flex-start}
figure{margin:0}
svg.chart{max-width:100%;height:auto;font-size:11px;overflow:visible}
svg.chart .title{font-size:13px;font-weight:600}
svg.chart .axis{font-size:12px;fill:#444}
svg.chart .pt{font-size:10px;fill:#57606a}
svg.chart .note{fill:#8c959f}
svg.chart .cell{font-size:11px;font-weight:600}
footer{color:var(--muted);font-size:12px;margin-top:18px}
@media print{body{background:#fff}section{break-inside:avoid;border:none}}
)css";

}  // namespace

std::string BudgetKey::label() const {
  if (kind == Reference) return "full attention";
  return kind == Ratio ? fmt::format("ratio {:g}", value) : fmt::format("{:g} tokens", value);
}
std::string BudgetKey::short_label() const {
  if (kind == Reference) return "full";
  return kind == Ratio ? fmt::format("{:g}", value) : fmt::format("{:g}t", value);
}

BudgetKey budget_of(const SampleRow& s) {
  if (s.method == "full") return {};
  if (s.budget > 0) return {BudgetKey::Tokens, double(s.budget)};
  return {BudgetKey::Ratio, s.ratio};
}

ReportData aggregate_report(const ResultsData& data, const ReportOptions& o) {
  ReportData d;
  d.stored = data.samples.size();
  std::vector<Filter> filters, ratio_filters;
  for (const Filter& f : o.filters) (f.dim == "ratio" ? ratio_filters : filters).push_back(f);
  std::vector<const SampleRow*> rows;
  std::set<std::string> models, lengths, seeds, modes;
  for (const SampleRow& s : data.samples) {
    if (!passes(s, filters)) continue;
    if (!ratio_filters.empty() && s.method != "full" && !passes(s, ratio_filters)) continue;
    rows.push_back(&s);
    models.insert(s.model);
    lengths.insert(std::to_string(s.length));
    seeds.insert(std::to_string(s.seed));
    modes.insert(s.mode);
  }
  const bool multi_model = models.size() > 1;
  const SeriesOf series_of = [&](const SampleRow& s) {
    return multi_model ? s.model + " \u00b7 " + s.method_label : s.method_label;
  };

  struct Acc {
    size_t n = 0;
    double prefill = 0, resident = 0, nominal = 0, read = 0;
    size_t n_read = 0;
    std::vector<double> decode_ms;
  };
  std::map<std::tuple<std::string, BudgetKey, std::string>, std::vector<double>> scores;
  std::map<std::pair<std::string, BudgetKey>, Acc> acc;
  std::map<BudgetKey, std::pair<double, size_t>> nominal;
  std::set<std::string> series, tasks;
  std::set<BudgetKey> budgets;
  std::map<std::pair<std::string, std::string>, ErrorGroup> errors;  // (config hash, status)
  for (const SampleRow* s : rows) {
    ++d.total;
    const std::string name = series_of(*s);
    const BudgetKey b = budget_of(*s);
    if (!s->ok()) {
      (s->status == "error" ? d.errors : d.skipped)++;
      ErrorGroup& e = errors[{s->config_hash, s->status}];
      if (e.count++ == 0) {
        e.config = name + (b.kind == BudgetKey::Reference ? "" : " @ " + b.label()) + " \u00b7 " + s->task +
                   (s->length > 0 ? fmt::format(" \u00b7 length {}", s->length) : "") +
                   fmt::format(" \u00b7 seed {}", s->seed);
        e.status = s->status;
        e.first_reason = s->case_id == "*" ? "[configuration] " + s->reason : s->reason;
      }
      continue;
    }
    ++d.ok;
    series.insert(name);
    tasks.insert(s->task);
    if (b.kind != BudgetKey::Reference) budgets.insert(b);
    if (s->method == "full") d.reference.insert(name);
    if (std::isfinite(s->score)) scores[{name, b, s->task}].push_back(s->score);
    Acc& a = acc[{name, b}];
    ++a.n;
    a.prefill += s->prefill_seconds;
    a.resident += double(s->kv_resident_bytes);
    a.nominal += double(s->kv_nominal_bytes);
    if (s->read_bytes_mean > 0) a.read += s->read_bytes_mean, ++a.n_read;
    if (s->decode_p50_seconds > 0) a.decode_ms.push_back(1e3 * s->decode_p50_seconds);
    if (b.kind != BudgetKey::Reference) {
      nominal[b].first += double(s->kv_nominal_bytes);
      ++nominal[b].second;
    }
  }
  d.series.assign(series.begin(), series.end());
  std::stable_sort(d.series.begin(), d.series.end(), [&](const std::string& a, const std::string& b) {
    const bool ra = d.reference.count(a), rb = d.reference.count(b);
    return ra != rb ? ra : dimension_less("method", a, b);
  });
  size_t next_color = 0, next_gray = 0;
  for (const std::string& s : d.series)
    d.colors[s] = d.reference.count(s) ? (next_gray++ == 0 ? "#24292f" : "#8c959f") : palette_color(next_color++);
  d.tasks.assign(tasks.begin(), tasks.end());
  std::sort(d.tasks.begin(), d.tasks.end());
  d.budgets.assign(budgets.begin(), budgets.end());
  for (const auto& [b, sum] : nominal) d.nominal_at[b] = sum.first / double(sum.second);

  // Bootstrap intervals: the expensive part, one independent job per cell.
  std::vector<std::pair<ScoreCell*, const std::vector<double>*>> jobs;
  for (const auto& [key, v] : scores) jobs.emplace_back(&d.cells[key], &v);
#pragma omp parallel for schedule(dynamic)
  for (size_t i = 0; i < jobs.size(); ++i) {
    ScoreCell& c = *jobs[i].first;
    const std::vector<double>& v = *jobs[i].second;
    c.n = v.size();
    c.mean = mean(v);
    const Interval ci = bootstrap_mean_ci(v);
    c.lo = ci.lo;
    c.hi = ci.hi;
  }
  for (auto& [key, a] : acc) {
    GroupStats& g = d.groups[key];
    g.n = a.n;
    g.prefill_s = a.prefill / double(a.n);
    g.resident_bytes = a.resident / double(a.n);
    g.nominal_bytes = a.nominal / double(a.n);
    g.read_bytes = a.n_read ? a.read / double(a.n_read) : NAN;
    g.decode_ms = median(a.decode_ms);
    double sum = 0;
    size_t present = 0;
    for (const std::string& t : d.tasks) {
      auto it = d.cells.find({key.first, key.second, t});
      if (it != d.cells.end()) sum += it->second.mean, ++present;
    }
    g.score = present ? sum / double(present) : NAN;
  }
  build_heatmaps(rows, series_of, d);
  std::map<std::pair<std::string, std::string>, ContextGroup> contexts;  // (task, context id)
  for (const SampleRow* s : rows) {
    if (!s->ok() || s->context_id.empty()) continue;
    ContextGroup& g = contexts[{s->task, s->context_id}];
    g.task = s->task;
    g.context_id = s->context_id;
    g.answers[{series_of(*s), budget_of(*s)}].emplace_back(s->case_id, s->score);
  }
  for (auto& [key, g] : contexts) {
    for (auto& [sb, v] : g.answers) std::sort(v.begin(), v.end());
    d.contexts.push_back(std::move(g));
  }
  for (auto& [key, e] : errors) d.error_groups.push_back(std::move(e));
  std::stable_sort(d.error_groups.begin(), d.error_groups.end(),
                   [](const ErrorGroup& a, const ErrorGroup& b) { return a.count > b.count; });
  if (lengths.size() > 1) d.notes.push_back(fmt::format("pooled over {} context lengths", lengths.size()));
  if (seeds.size() > 1) d.notes.push_back(fmt::format("pooled over {} seeds", seeds.size()));
  if (multi_model) d.notes.push_back(fmt::format("{} models: series are named model \u00b7 method", models.size()));
  return d;
}

std::string render_html_report(const ResultsData& data, const ReportOptions& o) {
  const ReportData d = aggregate_report(data, o);
  std::string h;
  h.reserve(1 << 20);
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  // Nothing may be fetched or run, even if a stored string slipped through unescaped.
  h += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += fmt::format("<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<main>\n", esc(o.title), kCss);
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  h += fmt::format("<header><h1>{}</h1><p class=\"meta\"><span class=\"mono\">{}</span> \u00b7 generated {:%Y-%m-%d %H:%M:%S} UTC"
                   " \u00b7 {} samples: {} ok, {} errors, {} skipped",
                   esc(o.title), esc(data.path.string()), now, d.total, d.ok, d.errors, d.skipped);
  if (d.total != d.stored) h += fmt::format(" (of {} stored)", d.stored);
  h += "</p>";
  if (!o.filters.empty()) {
    std::vector<std::string> fs;
    for (const Filter& f : o.filters) fs.push_back(esc(f.dim + "=" + fmt::format("{}", fmt::join(f.values, ","))));
    h += fmt::format("<p class=\"meta\">filters: <code>{}</code></p>", fmt::join(fs, "</code> <code>"));
  }
  if (!d.notes.empty()) h += fmt::format("<p class=\"meta\">{}</p>", esc(fmt::format("{}", fmt::join(d.notes, "; "))));
  h += "</header>\n<nav><a href=\"#summary\">Summary</a>";
  if (d.ok > 0)
    h += "<a href=\"#tasks\">Score vs compression</a><a href=\"#niah\">Needle heatmaps</a>"
         "<a href=\"#cost\">Latency and memory</a><a href=\"#pareto\">Pareto</a>";
  if (!d.contexts.empty()) h += "<a href=\"#contexts\">Shared contexts</a>";
  h += "<a href=\"#errors\">Errors</a><a href=\"#provenance\">Provenance</a></nav>\n";
  if (d.ok == 0) {
    h += fmt::format("<section id=\"summary\"><h2>Summary</h2><p class=\"note\">{}</p></section>\n",
                     d.stored == 0 ? "This database holds no samples yet: run <code>kvbench sweep</code> first."
                     : d.total == 0 ? "No stored sample passes the filters."
                                    : "No sample finished ok: see the errors below.");
  } else {
    h += render_summary(d) + "\n" + render_score_charts(d) + "\n" + render_heatmaps(d) + "\n" +
         render_cost_charts(d) + "\n" + render_pareto(d) + "\n" + render_perplexity(data, o) + "\n" +
         render_contexts(d) + "\n";
  }
  h += render_errors(d) + "\n" + render_provenance(data) + "\n";
  h += fmt::format("<footer>{}{}</footer>\n</main>\n</body>\n</html>\n", esc(o.generator),
                   o.command.empty() ? "" : " \u00b7 <code>" + esc(o.command) + "</code>");
  return h;
}

}  // namespace kvb::reports
