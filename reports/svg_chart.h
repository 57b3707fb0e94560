// A small SVG writer for the HTML report (reports/html_report.h): line / scatter charts with axes,
// "nice number" ticks (Heckbert, Graphics Gems 1990), confidence bands, dashed reference lines and a
// legend, and heatmaps with a red-to-green scale. Output is inline SVG text; every string is escaped.
// Exercised by tests/test_report.cpp (`kvbench report`).
#pragma once
#include <cmath>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace kvb::reports {

// Escapes text for HTML / SVG text and attribute values (& < > " '); control characters other than
// tab and newline are dropped.
std::string html_escape(std::string_view s);

// About `target` evenly spaced round values (1, 2 or 5 times a power of ten) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target = 5);
// A tick label with as many decimals as the tick step needs ("0.25", "1e+06" avoided: "1000000").
std::string format_tick(double v, double step);

// The colour of the i-th series (a 10-colour palette safe for common colour blindness, then repeated).
std::string palette_color(size_t i);
// Colour of a score 0..100 on a red -> yellow -> green scale, as "#rrggbb"; NaN gives light grey.
std::string score_color(double score);

struct XYPoint {
  XYPoint() = default;
  XYPoint(double x_, double y_, double lo_ = NAN, double hi_ = NAN, std::string label_ = {}, std::string tooltip_ = {})
      : x(x_), y(y_), lo(lo_), hi(hi_), label(std::move(label_)), tooltip(std::move(tooltip_)) {}
  double x = 0, y = 0;
  double lo = NAN, hi = NAN;  // confidence interval of y (band / whisker), NaN when none
  std::string label;          // small text next to the marker (empty: none)
  std::string tooltip;        // hover text (SVG <title>)
};

struct XYSeries {
  std::string name, color;
  std::vector<XYPoint> points;  // drawn in the order given
  bool line = true, markers = true, dashed = false;
  bool in_legend = true;
};

// A horizontal reference line (e.g. full attention's score) with an optional band lo..hi.
struct RefLine {
  std::string name, color = "#333333";
  double y = 0, lo = NAN, hi = NAN;
};

struct XYChart {
  std::string title, x_label, y_label;
  std::vector<XYSeries> series;
  std::vector<RefLine> ref_lines;
  double y_min = NAN, y_max = NAN;  // fixed y range (NaN: from the data, including 0)
  bool x_from_zero = false;         // x range starts at 0
  std::function<std::string(double)> x_format, y_format;  // tick labels (default: format_tick)
  int width = 420, height = 280;    // plot area + axes; the legend is added to the right
};
// Draws axes, grid lines, ticks, CI bands (polygons, translucent) or whiskers, lines, markers,
// reference lines (dashed) and a legend. A chart with no points draws a "no data" note.
std::string render_xy_chart(const XYChart& c);

struct Heatmap {
  std::string title, x_label, y_label;
  std::vector<std::string> x_labels, y_labels;  // columns left to right, rows top to bottom
  std::vector<std::vector<double>> values;      // [row][col] mean score 0..100, NaN: no samples
  std::vector<std::vector<size_t>> counts;      // [row][col] samples behind each value
};
// Draws one coloured cell per (row, column) with its value printed, axis labels and a colour key.
std::string render_heatmap(const Heatmap& h);

}  // namespace kvb::reports
