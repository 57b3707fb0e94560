// SVG charts for the HTML report; see svg_chart.h.
#include "reports/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace kvb::reports {
namespace {

constexpr double kCharWidth = 6.6;       // average advance of a 11-12 px system sans-serif glyph
constexpr double kTitleCharWidth = 7.8;  // the same for a 13 px bold title
constexpr const char* kAxisColor = "#555";
constexpr const char* kGridColor = "#e6e6e6";

// Pixel coordinates with one decimal keep the file small.
std::string px(double v) { return fmt::format("{:.1f}", v); }

// At most `max_chars` characters (UTF-8 aware), with an ellipsis when cut.
std::string shorten(const std::string& s, size_t max_chars) {
  size_t chars = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;  // continuation byte
    if (chars == max_chars) return s.substr(0, i) + "\u2026";
    ++chars;
  }
  return s;
}

size_t text_chars(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string svg_open(double w, double h, const std::string& label) {
  return fmt::format(
      "<svg class=\"chart\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" height=\"{1}\" "
      "role=\"img\" aria-label=\"{2}\">",
      px(w), px(h), html_escape(label));
}

std::string text(double x, double y, const std::string& s, const std::string& attrs = "") {
  return fmt::format("<text x=\"{}\" y=\"{}\"{}>{}</text>", px(x), px(y), attrs.empty() ? "" : " " + attrs,
                     html_escape(s));
}

// Linear map from a data range onto a pixel range.
struct Scale {
  double d0, d1, p0, p1;
  double operator()(double v) const { return d1 == d0 ? (p0 + p1) / 2 : p0 + (v - d0) / (d1 - d0) * (p1 - p0); }
};

struct Rgb {
  double r, g, b;
};
Rgb parse_hex(const char* h) {
  auto v = [&](int i) { return double(std::stoi(std::string(h + 1 + 2 * i, 2), nullptr, 16)); };
  return {v(0), v(1), v(2)};
}

// The legend: one row per entry (line swatch, optionally dashed, and marker), right of the plot.
struct LegendEntry {
  std::string name, color;
  bool dashed = false, marker = true;
};
double legend_width(const std::vector<LegendEntry>& entries) {
  size_t longest = 0;
  for (const LegendEntry& e : entries) longest = std::max(longest, std::min<size_t>(text_chars(e.name), 36));
  return entries.empty() ? 0.0 : 40.0 + kCharWidth * double(longest);
}
std::string draw_legend(const std::vector<LegendEntry>& entries, double x, double y) {
  std::string out = "<g class=\"legend\">";
  for (size_t i = 0; i < entries.size(); ++i) {
    const LegendEntry& e = entries[i];
    const double cy = y + 18.0 * double(i);
    out += fmt::format("<g><title>{}</title>", html_escape(e.name));
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"{}/>", px(x),
                       px(cy), px(x + 22), px(cy), e.color, e.dashed ? " stroke-dasharray=\"5 3\"" : "");
    if (e.marker)
      out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"{}\" stroke=\"#fff\"/>", px(x + 11), px(cy),
                         e.color);
    out += text(x + 28, cy + 4, shorten(e.name, 36)) + "</g>";
  }
  return out + "</g>";
}

// Loose tick range covering [lo, hi]; a degenerate range is widened around its value.
std::vector<double> axis_ticks(double lo, double hi) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  return nice_ticks(lo, hi, 5);
}

// Heckbert's nice number: 1, 2, 5 or 10 times a power of ten near x (rounded or at least x).
double nice_number(double x, bool round) {
  const double e = std::floor(std::log10(x)), f = x / std::pow(10.0, e);
  double nf;
  if (round) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nf * std::pow(10.0, e);
}

}  // namespace

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') break;  // control characters
        out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {0, 1};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) hi = lo + 1;
  const double range = nice_number(hi - lo, false);
  const double step = nice_number(range / std::max(1, target - 1), true);
  const double first = std::floor(lo / step + 1e-9) * step, last = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> out;
  const int n = int(std::llround((last - first) / step));
  for (int i = 0; i <= n; ++i) {
    const double v = first + step * i;
    out.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  }
  return out;
}

std::string format_tick(double v, double step) {
  const int decimals = step > 0 ? std::max(0, int(-std::floor(std::log10(step) + 1e-9))) : 0;
  return fmt::format("{:.{}f}", v, std::min(decimals, 6));
}

std::string palette_color(size_t i) {
  // Tableau 10 (colour-blind aware ordering); full attention is drawn in near-black elsewhere.
  static const std::array<const char*, 10> colors = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                                     "#b07aa1", "#edc948", "#ff9da7", "#9c755f", "#bab0ac"};
  return colors[i % colors.size()];
}

std::string score_color(double score) {
  if (std::isnan(score)) return "#eeeeee";
  static const std::array<const char*, 5> stops = {"#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850"};
  const double t = std::clamp(score, 0.0, 100.0) / 25.0;
  const size_t i = std::min<size_t>(3, size_t(t));
  const double f = t - double(i);
  const Rgb a = parse_hex(stops[i]), b = parse_hex(stops[i + 1]);
  auto mix = [&](double x, double y) { return int(std::lround(x + (y - x) * f)); };
  return fmt::format("#{:02x}{:02x}{:02x}", mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b));
}

// Line / scatter chart: grid, bands, reference lines, series, markers, axes, legend.
std::string render_xy_chart(const XYChart& c) {
  const double left = 58, right = 14, top = 30, bottom = 46;
  const double pw = c.width - left - right, ph = c.height - top - bottom;
  std::vector<LegendEntry> legend;
  for (const XYSeries& s : c.series)
    if (s.in_legend && !s.points.empty()) legend.push_back({s.name, s.color, s.dashed, s.markers});
  for (const RefLine& r : c.ref_lines) legend.push_back({r.name, r.color, true, false});
  const double lw = legend_width(legend);
  const double width = c.width + lw, height = std::max<double>(c.height, top + 18.0 * double(legend.size()) + 8);

  // Data ranges.
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  size_t points = 0;
  auto see_y = [&](double v) {
    if (std::isfinite(v)) y0 = std::min(y0, v), y1 = std::max(y1, v);
  };
  for (const XYSeries& s : c.series)
    for (const XYPoint& p : s.points) {
      x0 = std::min(x0, p.x), x1 = std::max(x1, p.x);
      see_y(p.y), see_y(p.lo), see_y(p.hi);
      ++points;
    }
  for (const RefLine& r : c.ref_lines) see_y(r.y), see_y(r.lo), see_y(r.hi);
  std::string out = svg_open(width, height, c.title);
  out += text(left, 18, c.title, "class=\"title\"");
  if (points == 0 && !std::isfinite(y0)) {
    out += text(left + pw / 2, top + ph / 2, "no data", "class=\"note\" text-anchor=\"middle\"");
    return out + "</svg>";
  }
  if (points == 0) x0 = 0, x1 = 1;  // reference lines only
  if (c.x_from_zero) x0 = std::min(x0, 0.0);
  if (!std::isnan(c.y_min)) y0 = c.y_min;
  if (!std::isnan(c.y_max)) y1 = c.y_max;
  if (std::isnan(c.y_min) && std::isnan(c.y_max)) y0 = std::min(y0, 0.0);
  const std::vector<double> xt = axis_ticks(x0, x1);
  std::vector<double> yt = (!std::isnan(c.y_min) && !std::isnan(c.y_max)) ? nice_ticks(c.y_min, c.y_max) : axis_ticks(y0, y1);
  const Scale sx{xt.front(), xt.back(), left + 10, left + pw - 10};
  const Scale sy{yt.front(), yt.back(), top + ph, top};
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  auto xfmt = [&](double v) { return c.x_format ? c.x_format(v) : format_tick(v, xstep); };
  auto yfmt = [&](double v) { return c.y_format ? c.y_format(v) : format_tick(v, ystep); };

  // Grid and tick labels.
  out += "<g class=\"grid\">";
  for (double v : yt) {
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\"/>", px(left), px(sy(v)),
                       px(left + pw), px(sy(v)), kGridColor);
    out += text(left - 6, sy(v) + 4, yfmt(v), "text-anchor=\"end\"");
  }
  for (double v : xt) {
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\"/>", px(sx(v)), px(top + ph),
                       px(top + ph + 4), kAxisColor);
    out += text(sx(v), top + ph + 17, xfmt(v), "text-anchor=\"middle\"");
  }
  out += "</g>";

  // Reference lines with their bands.
  for (const RefLine& r : c.ref_lines) {
    if (std::isfinite(r.lo) && std::isfinite(r.hi) && r.hi > r.lo)
      out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" fill-opacity=\"0.08\"/>",
                         px(left), px(sy(r.hi)), px(pw), px(sy(r.lo) - sy(r.hi)), r.color);
    out += fmt::format(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\">"
        "<title>{}: {}</title></line>",
        px(left), px(sy(r.y)), px(left + pw), px(sy(r.y)), r.color, html_escape(r.name), html_escape(yfmt(r.y)));
  }

  // Point labels go right-above, right-below, left-above or left-below a marker, wherever they do not
  // cover an earlier label; a label with no free place is left out (its point keeps its tooltip).
  std::vector<std::array<double, 4>> placed;
  auto point_label = [&](double x, double y, const std::string& label) -> std::string {
    const double w = 5.8 * double(text_chars(label)), hgt = 10;
    for (auto [dx, dy] : {std::pair{6.0, -6.0}, {6.0, 13.0}, {-6.0 - w, -6.0}, {-6.0 - w, 13.0}}) {
      const std::array<double, 4> box = {x + dx, y + dy - hgt, x + dx + w, y + dy};
      const bool free = std::none_of(placed.begin(), placed.end(), [&](const std::array<double, 4>& b) {
        return box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3];
      });
      if (!free) continue;
      placed.push_back(box);
      return text(x + dx, y + dy, label, "class=\"pt\"");
    }
    return "";
  };

  // Series: band (or whiskers), line, markers, point labels. When every point has the same x (one
  // budget), the series are spread sideways a few pixels so their markers and whiskers stay apart.
  size_t n_series = 0;
  for (const XYSeries& s : c.series) n_series += !s.points.empty();
  const double dodge = x0 == x1 && n_series > 1 ? std::min(10.0, (pw - 40) / double(n_series)) : 0.0;
  size_t series_index = 0;
  for (const XYSeries& s : c.series) {
    if (s.points.empty()) continue;
    const double shift = dodge * (double(series_index++) - double(n_series - 1) / 2);
    const Scale sxs{sx.d0, sx.d1, sx.p0 + shift, sx.p1 + shift};
    const auto& ps = s.points;
    const bool banded = s.line && ps.size() >= 2 &&
                        std::all_of(ps.begin(), ps.end(), [](const XYPoint& p) { return std::isfinite(p.lo) && std::isfinite(p.hi); });
    if (banded) {
      std::string pts;
      for (const XYPoint& p : ps) pts += px(sxs(p.x)) + "," + px(sy(p.hi)) + " ";
      for (auto it = ps.rbegin(); it != ps.rend(); ++it) pts += px(sxs(it->x)) + "," + px(sy(it->lo)) + " ";
      out += fmt::format("<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"0.15\" stroke=\"none\"/>", pts, s.color);
    } else {
      for (const XYPoint& p : ps)
        if (std::isfinite(p.lo) && std::isfinite(p.hi) && p.hi > p.lo)
          out += fmt::format("<path d=\"M{0} {1}V{2}M{3} {1}h8M{3} {2}h8\" stroke=\"{4}\" stroke-opacity=\"0.6\"/>",
                             px(sxs(p.x)), px(sy(p.lo)), px(sy(p.hi)), px(sxs(p.x) - 4), s.color);
    }
    if (s.line && ps.size() >= 2) {
      std::string pts;
      for (const XYPoint& p : ps) pts += px(sxs(p.x)) + "," + px(sy(p.y)) + " ";
      out += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>", pts, s.color,
                         s.dashed ? " stroke-dasharray=\"6 4\"" : "");
    }
    for (const XYPoint& p : ps) {
      if (s.markers)
        out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"{}\" stroke=\"#fff\" stroke-width=\"1.2\">",
                           px(sxs(p.x)), px(sy(p.y)), s.color) +
               (p.tooltip.empty() ? "" : "<title>" + html_escape(p.tooltip) + "</title>") + "</circle>";
      if (!p.label.empty()) out += point_label(sxs(p.x), sy(p.y), p.label);
    }
  }

  // Axes and their labels.
  out += fmt::format("<path d=\"M{0} {1}V{2}H{3}\" fill=\"none\" stroke=\"{4}\"/>", px(left), px(top), px(top + ph),
                     px(left + pw), kAxisColor);
  out += text(left + pw / 2, top + ph + 36, c.x_label, "class=\"axis\" text-anchor=\"middle\"");
  out += text(14, top + ph / 2, c.y_label,
              fmt::format("class=\"axis\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\"", px(top + ph / 2)));
  out += draw_legend(legend, c.width + 4, top + 8);
  return out + "</svg>";
}

// Heatmap: a coloured, labelled cell per (row, column), axis titles and a 0..100 colour key.
std::string render_heatmap(const Heatmap& h) {
  size_t xchars = 3, ychars = 3;
  for (const auto& l : h.x_labels) xchars = std::max(xchars, text_chars(l));
  for (const auto& l : h.y_labels) ychars = std::max(ychars, text_chars(l));
  // Rows are at least 22 px and together at least 88 px (room for the rotated y title and the key).
  const double rows = double(std::max<size_t>(1, h.y_labels.size()));
  const double cw = std::max(40.0, kCharWidth * double(xchars) + 10), ch = std::max(22.0, 88.0 / rows);
  const double left = 30 + kCharWidth * double(ychars), top = 30;
  const double gw = cw * double(h.x_labels.size()), gh = ch * double(h.y_labels.size());
  // The key sits right of the grid and of the centred x title.
  const double kx = std::max(left + gw + 14, left + gw / 2 + kCharWidth * double(text_chars(h.x_label)) / 2 + 10);
  const double width = std::max(kx + 44, kTitleCharWidth * double(text_chars(h.title)) + 12);
  const double height = top + gh + 44;
  std::string out = svg_open(width, height, h.title);
  out += text(4, 18, h.title, "class=\"title\"");
  for (size_t r = 0; r < h.y_labels.size(); ++r) {
    const double y = top + ch * double(r);
    out += text(left - 5, y + ch / 2 + 4, h.y_labels[r], "text-anchor=\"end\"");
    for (size_t c = 0; c < h.x_labels.size(); ++c) {
      const double x = left + cw * double(c), v = h.values[r][c];
      const size_t n = h.counts.empty() ? 0 : h.counts[r][c];
      const std::string fill = score_color(v);
      const std::string where =
          fmt::format("{}: {} \u00b7 {}: {} \u00b7 ", h.y_label, h.y_labels[r], h.x_label, h.x_labels[c]);
      const std::string tip = where + (std::isnan(v) ? "no samples" : fmt::format("mean score {:.1f} (n = {})", v, n));
      out += fmt::format("<g><title>{}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" "
                         "stroke=\"#fff\"/>",
                         html_escape(tip), px(x), px(y), px(cw), px(ch), fill);
      if (!std::isnan(v)) {
        // Dark text on light cells (yellow middle of the scale), white on saturated red / green.
        const bool light = v > 15 && v < 85;
        out += text(x + cw / 2, y + ch / 2 + 4, fmt::format("{:.0f}", v),
                    fmt::format("text-anchor=\"middle\" class=\"cell\" fill=\"{}\"", light ? "#222" : "#fff"));
      }
      out += "</g>";
    }
  }
  for (size_t c = 0; c < h.x_labels.size(); ++c)
    out += text(left + cw * (double(c) + 0.5), top + gh + 15, h.x_labels[c], "text-anchor=\"middle\"");
  out += text(left + gw / 2, top + gh + 34, h.x_label, "class=\"axis\" text-anchor=\"middle\"");
  out += text(12, top + gh / 2, h.y_label,
              fmt::format("class=\"axis\" text-anchor=\"middle\" transform=\"rotate(-90 12 {})\"", px(top + gh / 2)));
  // Colour key: 10 steps from 100 (top) to 0 (bottom).
  const double step = gh / 10;
  for (int i = 0; i < 10; ++i)
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"{}\" fill=\"{}\"/>", px(kx),
                       px(top + step * i), px(step + 0.3), score_color(95.0 - 10.0 * i));
  out += text(kx + 16, top + 8, "100") + text(kx + 16, top + gh / 2 + 4, "50") + text(kx + 16, top + gh, "0");
  return out + "</svg>";
}

}  // namespace kvb::reports
