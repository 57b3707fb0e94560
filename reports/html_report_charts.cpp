// The HTML report's chart sections: score vs budget per task, NIAH heatmaps, latency and memory vs
// budget, and the score / memory Pareto chart. See html_report.h; drawing is reports/svg_chart.h.
#include <fmt/format.h>

#include <algorithm>

#include "reports/html_report.h"

namespace kvb::reports {
namespace {

// The budget kinds present (ratios and / or token budgets), each drawn on its own x axis.
std::vector<BudgetKey::Kind> kinds(const ReportData& d) {
  std::vector<BudgetKey::Kind> out;
  for (const BudgetKey& b : d.budgets)
    if (std::find(out.begin(), out.end(), b.kind) == out.end()) out.push_back(b.kind);
  if (out.empty()) out.push_back(BudgetKey::Ratio);  // only full attention: its reference lines alone
  return out;
}

std::string x_title(BudgetKey::Kind k) {
  return k == BudgetKey::Tokens ? "token budget (per KV head)" : "compression ratio (fraction of KV removed)";
}

std::string kind_heading(const ReportData& d, BudgetKey::Kind k) {
  if (kinds(d).size() < 2) return "";
  return k == BudgetKey::Tokens ? "<h3>Token budgets</h3>" : "<h3>Compression ratios</h3>";
}

std::string figure(const std::string& kind, const std::string& svg) {
  return fmt::format("<figure data-chart=\"{}\">{}</figure>", kind, svg);
}

// A byte unit that keeps the largest value between 1 and 1024.
struct ByteUnit {
  double div;
  const char* name;
};
ByteUnit byte_unit(double max_bytes) {
  if (max_bytes >= 1024.0 * 1024 * 1024) return {1024.0 * 1024 * 1024, "GiB"};
  if (max_bytes >= 1024.0 * 1024) return {1024.0 * 1024, "MiB"};
  if (max_bytes >= 1024.0) return {1024.0, "KiB"};
  return {1.0, "B"};
}

// One line per compressed series over the budgets of `kind`: y = metric(series, budget), NaN skipped.
template <class F>
std::vector<XYSeries> series_over_budgets(const ReportData& d, BudgetKey::Kind kind, F metric) {
  std::vector<XYSeries> out;
  for (const std::string& s : d.series) {
    if (d.reference.count(s)) continue;
    XYSeries line{s, d.colors.at(s), {}};
    for (const BudgetKey& b : d.budgets) {
      if (b.kind != kind) continue;
      XYPoint p = metric(s, b);
      if (!std::isfinite(p.y)) continue;
      p.x = b.value;
      line.points.push_back(std::move(p));
    }
    if (!line.points.empty()) out.push_back(std::move(line));
  }
  return out;
}

}  // namespace

// Per task: mean score vs budget, one line per method with its 95% band; full attention dashed.
std::string render_score_charts(const ReportData& d) {
  std::string h = "<section id=\"tasks\"><h2>Score vs compression</h2>";
  h += "<p class=\"note\">Mean score per method and budget; shaded: 95% bootstrap interval. Dashed: full attention "
       "(no compression) with its interval.</p>";
  for (BudgetKey::Kind kind : kinds(d)) {
    h += kind_heading(d, kind) + "<div class=\"charts\">";
    for (const std::string& task : d.tasks) {
      XYChart c;
      c.title = task;
      c.x_label = x_title(kind);
      c.y_label = "score";
      c.y_min = 0;
      c.y_max = 100;
      c.series = series_over_budgets(d, kind, [&](const std::string& s, const BudgetKey& b) {
        auto it = d.cells.find({s, b, task});
        if (it == d.cells.end()) return XYPoint{0, NAN};
        const ScoreCell& cell = it->second;
        return XYPoint{0, cell.mean, cell.lo, cell.hi, "",
                       fmt::format("{} @ {}: {:.1f} (95% CI {:.1f}\u2013{:.1f}, n = {})", s, b.label(), cell.mean,
                                   cell.lo, cell.hi, cell.n)};
      });
      for (const std::string& s : d.series) {
        auto it = d.cells.find({s, BudgetKey{}, task});
        if (d.reference.count(s) && it != d.cells.end())
          c.ref_lines.push_back({s, d.colors.at(s), it->second.mean, it->second.lo, it->second.hi});
      }
      h += figure("score", render_xy_chart(c));
    }
    h += "</div>";
  }
  return h + "</section>";
}

// Per NIAH task: one depth x length heatmap per method and budget.
std::string render_heatmaps(const ReportData& d) {
  std::string h = "<section id=\"niah\"><h2>Needle depth \u00d7 length</h2>";
  if (d.heatmaps.empty())
    return h + "<p class=\"note\">No sample with exactly one needle depth (e.g. <code>niah_single</code>, "
               "<code>niah_grid</code>): no heatmap to draw.</p></section>";
  h += "<p class=\"note\">Mean score per cell (needle depth rounded to 10%; red 0, yellow 50, green 100; grey: no "
       "samples). Hover a cell for its sample count.</p>";
  std::string task;
  for (const HeatmapGroup& g : d.heatmaps) {
    if (g.task != task) {
      if (!task.empty()) h += "</div>";
      task = g.task;
      h += "<h3>" + html_escape(task) + "</h3><div class=\"charts\">";
    }
    h += figure("heatmap", render_heatmap(g.map));
  }
  return h + "</div></section>";
}

// Latency (mean prefill, median decode step) and KV memory (resident vs nominal) vs budget.
std::string render_cost_charts(const ReportData& d) {
  std::string h = "<section id=\"cost\"><h2>Latency and memory</h2>";
  h += "<p class=\"note\">Per method and budget, pooled over tasks: mean prefill time (context and question, method "
       "hooks included), median per-token decode time, and KV cache bytes right after compression \u2014 resident "
       "(solid) against what an uncompressed fp32 cache would hold (nominal, dashed grey). Dashed black: full "
       "attention. Methods at the same budget keep as many entries, so their memory lines often coincide. When stored "
       "(schema 6), the K/V bytes a decode step read, summed over layers: a selector (quest, tokenselect, loki, ...) "
       "keeps everything resident and reads a subset.</p>";
  double max_bytes = 0;
  for (const auto& [key, g] : d.groups) max_bytes = std::max({max_bytes, g.nominal_bytes, g.resident_bytes});
  const ByteUnit unit = byte_unit(max_bytes);
  auto ref_lines = [&](auto value) {
    std::vector<RefLine> out;
    for (const std::string& s : d.reference) {
      auto it = d.groups.find({s, BudgetKey{}});
      if (it != d.groups.end() && std::isfinite(value(it->second))) out.push_back({s, d.colors.at(s), value(it->second)});
    }
    return out;
  };
  for (BudgetKey::Kind kind : kinds(d)) {
    h += kind_heading(d, kind) + "<div class=\"charts\">";
    auto group_chart = [&](const std::string& title, const std::string& ylabel, auto value, const std::string& unit_name) {
      XYChart c;
      c.title = title;
      c.x_label = x_title(kind);
      c.y_label = ylabel;
      c.width = 380;
      c.series = series_over_budgets(d, kind, [&](const std::string& s, const BudgetKey& b) {
        auto it = d.groups.find({s, b});
        if (it == d.groups.end()) return XYPoint{0, NAN};
        const double v = value(it->second);
        return XYPoint{0, v, NAN, NAN, "", fmt::format("{} @ {}: {:.4g} {} (n = {})", s, b.label(), v, unit_name, it->second.n)};
      });
      c.ref_lines = ref_lines(value);
      return c;
    };
    h += figure("prefill", render_xy_chart(group_chart("Prefill time", "seconds (mean)",
                                                       [](const GroupStats& g) { return g.prefill_s; }, "s")));
    const bool decoded = std::any_of(d.groups.begin(), d.groups.end(),
                                     [](const auto& g) { return std::isfinite(g.second.decode_ms); });
    if (decoded)
      h += figure("decode", render_xy_chart(group_chart("Decode time per token", "ms (median)",
                                                        [](const GroupStats& g) { return g.decode_ms; }, "ms")));
    XYChart mem = group_chart("KV cache after compression", fmt::format("{} (mean)", unit.name),
                              [&](const GroupStats& g) { return g.resident_bytes / unit.div; }, unit.name);
    XYSeries nominal{"nominal (uncompressed)", "#8c959f", {}, true, false, true};
    for (const auto& [b, bytes] : d.nominal_at)
      if (b.kind == kind) nominal.points.push_back({b.value, bytes / unit.div});
    if (!nominal.points.empty()) mem.series.push_back(std::move(nominal));
    mem.y_min = 0;
    double top = 0;
    for (const XYSeries& s : mem.series)
      for (const XYPoint& p : s.points) top = std::max(top, p.y);
    for (const RefLine& r : mem.ref_lines) top = std::max(top, r.y);
    mem.y_max = top > 0 ? top : 1;
    h += figure("memory", render_xy_chart(mem));
    // Beside what is resident: what a decode step reads of it (a selector reads a subset).
    const bool reads = std::any_of(d.groups.begin(), d.groups.end(),
                                   [](const auto& g) { return std::isfinite(g.second.read_bytes); });
    if (reads) {
      XYChart rd = group_chart("KV read per decode step", fmt::format("{} (mean)", unit.name),
                               [&](const GroupStats& g) { return g.read_bytes / unit.div; }, unit.name);
      rd.y_min = 0;
      h += figure("reads", render_xy_chart(rd));
    }
    h += "</div>";
    if (!decoded) h += "<p class=\"note\">No decode step timings stored (teacher-forced cases decode nothing).</p>";
  }
  return h + "</section>";
}

// Mean score vs mean resident KV bytes, one point per method x budget; the line joins the Pareto frontier.
std::string render_pareto(const ReportData& d) {
  std::string h = "<section id=\"pareto\"><h2>Score vs memory (Pareto)</h2>";
  h += "<p class=\"note\">One point per method and budget (labelled with the budget): mean score (mean of the task "
       "means) against mean resident KV bytes after compression. The grey line joins the Pareto-optimal points: no "
       "other point keeps less memory with a higher score.</p>";
  double max_bytes = 0;
  size_t n_points = 0;
  for (const auto& [key, g] : d.groups)
    if (std::isfinite(g.score)) max_bytes = std::max(max_bytes, g.resident_bytes), ++n_points;
  const ByteUnit unit = byte_unit(max_bytes);
  XYChart c;
  c.title = "Mean score vs resident KV cache";
  c.x_label = fmt::format("resident KV cache after compression ({}, mean)", unit.name);
  c.y_label = "mean score";
  c.y_min = 0;
  c.y_max = 100;
  c.x_from_zero = true;
  c.width = 640;
  c.height = 380;
  struct P {
    double x, y;
  };
  std::vector<P> all;
  for (const std::string& s : d.series) {
    XYSeries pts{s, d.colors.at(s), {}, false, true, false};
    for (const auto& [key, g] : d.groups) {
      if (key.first != s || !std::isfinite(g.score)) continue;
      const double x = g.resident_bytes / unit.div;
      pts.points.push_back({x, g.score, NAN, NAN, n_points <= 60 ? key.second.short_label() : "",
                            fmt::format("{} @ {}: score {:.1f}, resident KV {:.4g} {} (n = {})", s, key.second.label(),
                                        g.score, x, unit.name, g.n)});
      all.push_back({x, g.score});
    }
    if (!pts.points.empty()) c.series.push_back(std::move(pts));
  }
  // Frontier: by increasing memory, each point that scores higher than every cheaper one.
  std::sort(all.begin(), all.end(), [](const P& a, const P& b) { return a.x != b.x ? a.x < b.x : a.y > b.y; });
  XYSeries frontier{"Pareto frontier", "#8c959f", {}, true, false, false};
  double best = -INFINITY;
  for (const P& p : all)
    if (p.y > best) frontier.points.push_back({p.x, p.y}), best = p.y;
  if (frontier.points.size() >= 2) c.series.insert(c.series.begin(), std::move(frontier));
  return h + figure("pareto", render_xy_chart(c)) + "</section>";
}

}  // namespace kvb::reports
