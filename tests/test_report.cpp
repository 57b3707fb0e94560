// `kvbench report`: the HTML report on a database written by a real small sweep (stories260K, run through
// the real binary), hostile stored strings (escaped, never markup), a database of 10^5 constructed rows
// (time and size), bad input (exit 2), and the page rendered by headless Chromium when installed
// (DOM, screenshot, console). Run: build/tests/kvb_tests --gtest_filter='Report*'
// GCC 12 reports a false -Wrestrict on `"literal" + std::string` (GCC bug 105329).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>

#include "reports/html_report.h"
#include "store/results_store.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

fs::path fresh(const std::string& name) {
  fs::path p = test::tmp_dir() / name;
  for (const char* ext : {"", "-wal", "-shm"}) fs::remove(p.string() + ext);
  return p;
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = 0; (p = text.find(needle, p)) != std::string::npos; p += needle.size()) ++n;
  return n;
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string sh_arg(const fs::path& p) { return "'" + p.string() + "'"; }

// A real small sweep through the real binary, once per test process: full, streaming_llm, snapkv and
// random at ratios 0.5 and 0.8 on single-needle (the heatmap) and 4-key needle retrieval at 256 and 512
// tokens, 6 cases each, on the built-in recall oracle (full attention scores 100, so the methods differ;
// stories260K scores 0 everywhere at these lengths). About 5 s on 2 cores.
fs::path sweep_db() {
  static std::once_flag once;
  static fs::path db;
  std::call_once(once, [] {
    db = fresh("report_sweep_" + std::to_string(getpid()) + ".db");
    const fs::path yaml = test::tmp_dir() / ("report_sweep_" + std::to_string(getpid()) + ".yaml");
    std::ofstream(yaml) << "name: report-test\n"
                           "models: ['builtin:oracle']\n"
                           "methods: [full, streaming_llm, snapkv, random]\n"
                           "budgets: {ratios: [0.5, 0.8]}\n"
                           "tasks:\n"
                           "  - {id: niah_single, params: {form: symbolic}}\n"
                           "  - {id: niah_multikey, params: {form: symbolic}}\n"
                           "lengths: [256, 512]\n"
                           "cases: 6\n"
                           "engine: {threads: 1}\n";
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = test::run_kvbench("sweep " + sh_arg(yaml) + " --db " + sh_arg(db) + " -q");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::cout << "[ report  ] fixture sweep: "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
  });
  return db;
}

fs::path copy_of_sweep(const std::string& name) {
  const fs::path src = sweep_db(), dst = fresh(name);
  {
    ResultsStore s(src);
    s.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  fs::copy_file(src, dst);
  return dst;
}

std::string stored_text(const fs::path& db, const std::string& sql) {
  ResultsStore s(db, true);
  Statement q = s.prepare(sql);
  return q.step() ? q.text(0) : "";
}

// Nothing in the page may be fetched from elsewhere or run.
void expect_self_contained(const std::string& html) {
  const std::string l = lower(html);
  for (const char* bad : {"<script", "src=", "<link", "@import", "url(", "http://", "https://", "<iframe", "<img"})
    EXPECT_EQ(l.find(bad), std::string::npos) << "found '" << bad << "'";
  EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
}

TEST(ReportHtml, RealSweepHasTablesChartsHeatmapsParetoAndProvenance) {
  const fs::path db = copy_of_sweep("report_real.db"), out = fresh("report_real.html");
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = test::run_kvbench("report " + sh_arg(db) + " -o " + sh_arg(out) + " --title 'Report test'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::cout << "[ report  ] render: " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
            << " s, " << fs::file_size(out) << " bytes\n";
  const std::string html = read_file(out);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<title>Report test</title>"), std::string::npos);
  // One summary table per ratio, each with full as the reference row and a CI in small print + tooltip.
  EXPECT_EQ(count(html, "<table class=\"summary\""), 2u);
  EXPECT_EQ(count(html, "<tr class=\"ref\">"), 2u);
  EXPECT_NE(html.find("compression: ratio 0.5"), std::string::npos);
  EXPECT_NE(html.find("compression: ratio 0.8"), std::string::npos);
  for (const char* m : {">streaming_llm<", ">snapkv<", ">random<", ">niah_single<", ">niah_multikey<", ">Avg.<"})
    EXPECT_NE(html.find(m), std::string::npos) << m;
  EXPECT_TRUE(std::regex_search(html, std::regex("title=\"mean [0-9.]+, 95% CI [0-9.]+\u2013[0-9.]+ \\(bootstrap, n = 12\\)\"")));
  EXPECT_NE(html.find("<small>"), std::string::npos);
  // One score chart per task, with a CI band and full as the dashed reference.
  EXPECT_EQ(count(html, "data-chart=\"score\""), 2u);
  EXPECT_NE(html.find("<polygon"), std::string::npos);
  EXPECT_NE(html.find("stroke-dasharray"), std::string::npos);
  // Heatmaps only for niah_single (one needle): full + 3 methods x 2 ratios; columns 256 and 512 tokens.
  EXPECT_EQ(count(html, "data-chart=\"heatmap\""), 7u);
  EXPECT_TRUE(std::regex_search(html, std::regex("<title>needle depth: [0-9]+% \u00b7 context length \\(tokens\\): 512 "
                                                 "\u00b7 mean score [0-9.]+ \\(n = [0-9]+\\)</title>")));
  // Latency, memory and the Pareto chart; the oracle's symbolic cases are teacher-forced: no decode chart.
  for (const char* c : {"data-chart=\"prefill\"", "data-chart=\"memory\"", "data-chart=\"pareto\""})
    EXPECT_EQ(count(html, c), 1u) << c;
  EXPECT_EQ(count(html, "data-chart=\"decode\""), 0u);
  EXPECT_NE(html.find("No decode step timings stored"), std::string::npos);
  EXPECT_NE(html.find("Pareto frontier"), std::string::npos);
  // Provenance: the stored commit and the sweep configuration.
  const std::string commit = stored_text(db, "SELECT git_commit FROM runs LIMIT 1");
  ASSERT_FALSE(commit.empty());
  EXPECT_NE(html.find(commit), std::string::npos) << commit;
  EXPECT_NE(html.find("&quot;name&quot;: &quot;report-test&quot;"), std::string::npos);
  EXPECT_NE(html.find("None: every stored case ran."), std::string::npos);
  expect_self_contained(html);
  EXPECT_LT(html.size(), 1u << 20);
}

TEST(ReportHtml, HostileStoredStringsAreEscaped) {
  const fs::path db = copy_of_sweep("report_hostile.db"), out = fresh("report_hostile.html");
  {
    ResultsStore s(db);
    const std::string evil = "<script>alert(1)</script>";
    // Two configurations of a method named like markup whose parameter values differ (so they label it),
    // an ok sample and an error sample with a hostile reason, and a run with hostile provenance.
    for (int i = 0; i < 2; ++i) {
      const std::string hash = "evil" + std::to_string(i);
      Statement c = s.prepare(
          "INSERT INTO configs VALUES (?1, '{}', 'm', '<b>model', 'h', 'none', 'native', ?2, 1, ?3, 0.5, 0, "
          "'query_agnostic', '<img src=x onerror=alert(2)>', 1, '{}', 300, 0, '2024-01-01T00:00:00Z')");
      c.bind(1, hash).bind(2, evil).bind(3, std::string(R"({"k":")") + (i ? "\\\"'><script>alert(4)</script>" : "1") + "\"}");
      c.run();
      Statement ok = s.prepare(
          "INSERT INTO samples (config_hash, case_id, case_hash, run_id, status, reason, score, prefill_seconds, "
          "kv_resident_bytes, kv_nominal_bytes, finished_at, case_meta) VALUES (?1, 'c0', 'x', 1, 'ok', '', 50, 0.1, "
          "100, 200, 'now', '{\"depths\":[40],\"target_length\":300}')");
      ok.bind(1, hash).run();
      Statement err = s.prepare(
          "INSERT INTO samples (config_hash, case_id, case_hash, run_id, status, reason, finished_at) VALUES (?1, "
          "'c1', 'x', 1, 'error', ?2, 'now')");
      err.bind(1, hash).bind(2, evil + " & <style>body{display:none}</style>").run();
    }
    s.exec("UPDATE runs SET host = '<script>alert(5)</script>', gpu = '\"><svg onload=alert(6)>', "
           "sweep_config = '{\"name\": \"</pre><script>alert(7)</script>\"}'");
  }
  const auto r = test::run_kvbench("report " + sh_arg(db) + " -o " + sh_arg(out) +
                                   " --title '<script>alert(8)</script>'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string html = read_file(out);
  const std::string l = lower(html);
  EXPECT_EQ(l.find("<script"), std::string::npos);
  EXPECT_EQ(l.find("<img"), std::string::npos);
  EXPECT_EQ(l.find("<svg onload"), std::string::npos);
  EXPECT_EQ(l.find("<b>model"), std::string::npos);
  EXPECT_EQ(count(l, "<style"), 1u);  // only the report's own
  // The text is shown, escaped, where it belongs.
  for (const char* shown : {"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;",
                            "k=&quot;&#39;&gt;&lt;script&gt;alert(4)", "&lt;script&gt;alert(5)",
                            "&lt;/pre&gt;&lt;script&gt;alert(7)", "<title>&lt;script&gt;alert(8)"})
    EXPECT_NE(html.find(shown), std::string::npos) << shown;
}

TEST(ReportSvg, NiceTicksColoursAndEscaping) {
  EXPECT_EQ(reports::nice_ticks(0, 100), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  const auto t = reports::nice_ticks(0.5, 0.8);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_NEAR(t[0], 0.5, 1e-12);
  EXPECT_NEAR(t[3], 0.8, 1e-12);
  EXPECT_EQ(reports::format_tick(t[1], t[1] - t[0]), "0.6");
  EXPECT_EQ(reports::nice_ticks(3, 1234), (std::vector<double>{0, 500, 1000, 1500}));
  EXPECT_EQ(reports::score_color(0), "#d73027");
  EXPECT_EQ(reports::score_color(50), "#fee08b");
  EXPECT_EQ(reports::score_color(100), "#1a9850");
  EXPECT_EQ(reports::html_escape("a<b>&\"c'\x01\n"), "a&lt;b&gt;&amp;&quot;c&#39;\n");
  // A chart escapes its own strings too.
  reports::XYChart c;
  c.title = "<script>";
  c.series.push_back({"</text><script>", "#000", {{0.5, 10, NAN, NAN, "<b>", "<i>"}}});
  const std::string svg = reports::render_xy_chart(c);
  EXPECT_EQ(svg.find("<script"), std::string::npos) << svg;
  EXPECT_EQ(svg.find("<b>"), std::string::npos);
  EXPECT_NE(svg.find("&lt;/text&gt;&lt;script&gt;"), std::string::npos);
}

// 10^5 CONSTRUCTED sample rows (not a real sweep): 5 methods x 3 ratios x 4 tasks, NIAH rows with depths
// and target lengths, 1% errors. The report must aggregate before drawing: seconds, not minutes, and a
// file of a few hundred KB whatever the number of samples.
TEST(ReportHtml, HundredThousandConstructedRowsRenderQuicklyAndSmall) {
  const fs::path db = fresh("report_scale.db"), out = fresh("report_scale.html");
  const std::vector<std::string> methods = {"full", "streaming_llm", "snapkv", "random", "h2o"},
                                 tasks = {"niah_single", "niah_grid", "vt", "qa"};
  const std::vector<double> ratios = {0.25, 0.5, 0.75};
  struct Cfg {
    std::string hash, method, task;
    double ratio;
  };
  std::vector<Cfg> cfgs;
  for (const auto& m : methods)
    for (double ratio : m == "full" ? std::vector<double>{0.0} : ratios)
      for (const auto& t : tasks) cfgs.push_back({fmt::format("cfg{:03d}", cfgs.size()), m, t, ratio});
  {
    ResultsStore s(db);
    s.exec("BEGIN");
    s.exec("INSERT INTO runs (run_id, uuid, started_at, command, argv, git_commit, git_dirty, kvbench_version, "
           "build_type, compiler, cxx_flags, cpu_model, cpu_flags, cpu_cores, gpu, libraries, host, os, pid, status) "
           "VALUES (1, 'u', '2024-01-01T00:00:00Z', 'sweep', '[]', 'constructedcommit', 0, '0.1.0', 'Release', 'gcc', "
           "'', 'cpu', '', 2, '', '{}', 'host', 'linux', 1, 'finished')");
    for (const Cfg& c : cfgs) {
      Statement q = s.prepare("INSERT INTO configs VALUES (?1, '{}', 'm', 'model', 'h', 'none', 'native', ?2, 1, '{}', "
                              "?3, 0, 'query_agnostic', ?4, 1, '{}', 0, 0, 'now')");
      q.bind(1, c.hash).bind(2, c.method).bind(3, c.ratio).bind(4, c.task).run();
    }
    Statement ins = s.prepare(
        "INSERT INTO samples (config_hash, case_id, case_hash, run_id, status, reason, score, prompt_tokens, "
        "context_tokens, prefill_seconds, decode_p50_seconds, kv_resident_bytes, kv_nominal_bytes, finished_at, "
        "case_meta) VALUES (?1, ?2, 'h', 1, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, 'now', ?11)");
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> u(0, 1);
    const int total = 100000;
    for (int i = 0; i < total; ++i) {
      const Cfg& c = cfgs[size_t(i) % cfgs.size()];
      const int64_t len = 1000 * (int64_t(1) << (i / int(cfgs.size()) % 4));  // 1k, 2k, 4k, 8k
      const double depth = std::floor(u(rng) * 101);
      const bool error = u(rng) < 0.01;
      const double p_right = 1.0 - c.ratio * (0.3 + 0.6 * depth / 100.0) * (c.method == "random" ? 1.2 : 0.8);
      ins.bind(1, c.hash).bind(2, "case" + std::to_string(i)).bind(3, std::string(error ? "error" : "ok"));
      ins.bind(4, std::string(error ? "out of memory in layer 3" : ""));
      if (error) ins.bind_null(5);
      else ins.bind(5, u(rng) < p_right ? 100.0 : 0.0);
      ins.bind(6, len).bind(7, 1e-4 * double(len) * (1 + 0.1 * u(rng))).bind(8, 0.01 * (1.0 - 0.5 * c.ratio));
      const double nominal = 18432.0 * double(len);
      ins.bind(9, int64_t(nominal * (1 - c.ratio))).bind(10, int64_t(nominal));
      ins.bind(11, c.task.rfind("niah", 0) == 0 ? fmt::format("{{\"depths\":[{}],\"target_length\":{}}}", depth, len)
                                                : std::string("{}"));
      ins.run();
      ins.reset();
    }
    s.exec("COMMIT");
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = test::run_kvbench("report " + sh_arg(db) + " -o " + sh_arg(out));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto size = fs::file_size(out);
  std::cout << "[ report  ] 100000 constructed rows: " << secs << " s, " << size << " bytes\n";
  RecordProperty("render_seconds", std::to_string(secs));
  RecordProperty("html_bytes", std::to_string(size));
  EXPECT_LT(secs, 60.0) << "sanity bound only";
  EXPECT_LT(size, 5u << 20);
  const std::string html = read_file(out);
  EXPECT_NE(html.find("100000 samples: "), std::string::npos);
  EXPECT_EQ(count(html, "<table class=\"summary\""), 3u);
  EXPECT_EQ(count(html, "data-chart=\"heatmap\""), 2u * 13u);  // 2 NIAH tasks x (full + 4 methods x 3 ratios)
  EXPECT_NE(html.find("out of memory in layer 3"), std::string::npos);
  expect_self_contained(html);
}

TEST(ReportHtml, EmptyDatabaseStillWritesAReport) {
  const fs::path db = fresh("report_empty.db"), out = fresh("report_empty.html");
  { ResultsStore s(db); }
  const auto r = test::run_kvbench("report " + sh_arg(db) + " -o " + sh_arg(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string html = read_file(out);
  EXPECT_NE(html.find("holds no samples yet"), std::string::npos);
  EXPECT_NE(html.find("No runs stored."), std::string::npos);
}

TEST(ReportHtml, BadInputIsOneErrorWithExitCode2) {
  const fs::path db = copy_of_sweep("report_bad.db"), out = fresh("report_bad.html");
  const fs::path foreign = fresh("report_foreign.db");
  std::ofstream(foreign) << "not a database at all";
  struct Case {
    std::string args, needle;
  } cases[] = {
      {sh_arg(test::tmp_dir() / "no_such.db") + " -o " + sh_arg(out), "results database not found"},
      {sh_arg(foreign) + " -o " + sh_arg(out), "not a kvbench results database"},
      {sh_arg(db) + " -o " + sh_arg(out) + " --filter colour=red", "unknown dimension 'colour'"},
      {sh_arg(db) + " -o " + sh_arg(out) + " --filter method", "expected dimension=value"},
      {sh_arg(db) + " -o " + sh_arg(out) + " --filter method=snapvk", "(stored: full, random, snapkv, streaming_llm)"},
      {sh_arg(db) + " -o " + sh_arg(test::tmp_dir() / "no/such/dir/r.html"), "cannot write the report"},
      {sh_arg(db) + " -o " + sh_arg(test::tmp_dir()), "is a directory"},
  };
  for (const Case& c : cases) {
    const auto r = test::run_kvbench("report " + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << r.output;
    EXPECT_EQ(count(r.output, "\n"), 1u) << "one line: " << r.output;
    EXPECT_NE(r.output.find(c.needle), std::string::npos) << c.args << "\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(out));
  // A filter narrows the report; a ratio filter keeps the full reference.
  const auto r = test::run_kvbench("report " + sh_arg(db) + " -o " + sh_arg(out) + " --filter ratio=0.8 --filter task=niah_single");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string html = read_file(out);
  EXPECT_EQ(count(html, "<table class=\"summary\""), 1u);
  EXPECT_EQ(count(html, "<tr class=\"ref\">"), 1u);
  EXPECT_EQ(count(html, "data-chart=\"score\""), 1u);
  EXPECT_EQ(html.find(">niah_multikey<"), std::string::npos);
}

// Runs a shell command; returns its exit code, stdout into `out`, stderr into `err`.
int shell(const std::string& cmd, std::string& out, std::string& err) {
  const fs::path o = test::tmp_dir() / ("sh_out_" + std::to_string(getpid())),
                 e = test::tmp_dir() / ("sh_err_" + std::to_string(getpid()));
  const int status = std::system((cmd + " >" + sh_arg(o) + " 2>" + sh_arg(e)).c_str());
  out = read_file(o);
  err = read_file(e);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Lines of Chromium's stderr log that come from a page: console messages (every level; the report has no
// script, so any is a fault), uncaught exceptions, Content-Security-Policy violations (a blocked load).
// Startup noise (dbus, GPU, sandbox warnings) is not the page's.
std::vector<std::string> page_console_lines(const std::string& log) {
  std::vector<std::string> out;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    if (line.find(":CONSOLE") != std::string::npos || line.find("Uncaught") != std::string::npos ||
        line.find("Content Security Policy") != std::string::npos || line.find("Refused to") != std::string::npos)
      out.push_back(line);
  return out;
}

std::string find_chromium() {
  std::string out, err;
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"})
    if (shell(std::string("command -v ") + name, out, err) == 0 && !out.empty()) return out.substr(0, out.find('\n'));
  return "";
}

TEST(ReportBrowser, HeadlessChromiumRendersTheReportWithoutConsoleErrors) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "chromium not installed: scripts/setup.sh installs it";
  const fs::path db = copy_of_sweep("report_browser.db"), html_path = fresh("report_browser.html");
  const auto r = test::run_kvbench("report " + sh_arg(db) + " -o " + sh_arg(html_path));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path profile = test::tmp_dir() / ("chromium_profile_" + std::to_string(getpid()));
  const std::string base = "timeout 180 '" + chromium + "' --headless --no-sandbox --disable-gpu --disable-dev-shm-usage "
                           "--no-first-run --user-data-dir=" + sh_arg(profile) + " ";
  const std::string url = "file://" + fs::absolute(html_path).string();

  // The DOM as parsed and laid out: charts and tables present; console logged to stderr.
  std::string dom, log;
  ASSERT_EQ(shell(base + "--enable-logging=stderr --v=0 --dump-dom " + sh_arg(url), dom, log), 0) << log;
  EXPECT_GE(count(dom, "<svg"), 10u) << dom.substr(0, 2000);
  EXPECT_EQ(count(dom, "<table class=\"summary\""), 2u);
  EXPECT_NE(dom.find("data-chart=\"pareto\""), std::string::npos);
  for (const std::string& line : page_console_lines(log)) ADD_FAILURE() << "console: " << line;

  // The check above must be able to fail: a page that logs, throws and loads a blocked image is caught.
  const fs::path bad = fresh("report_console_check.html");
  std::ofstream(bad) << "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
                        "'none'; script-src 'unsafe-inline'\"></head><body><img src=\"https://example.invalid/x.png\">"
                        "<script>console.error('bad'); throw new Error('boom');</script></body></html>";
  std::string bad_dom, bad_log;
  shell(base + "--enable-logging=stderr --v=0 --dump-dom " + sh_arg("file://" + fs::absolute(bad).string()), bad_dom,
        bad_log);
  EXPECT_GE(page_console_lines(bad_log).size(), 2u) << "the console check no longer sees page errors:\n" << bad_log;

  // A screenshot for people (and for this test: non-trivial PNG).
  const fs::path png = test::tmp_dir().parent_path() / "report_screenshot.png";
  fs::remove(png);
  std::string out, err;
  ASSERT_EQ(shell(base + "--hide-scrollbars --window-size=1280,2400 --screenshot=" + sh_arg(png) + " " + sh_arg(url),
                  out, err),
            0)
      << err;
  ASSERT_TRUE(fs::exists(png)) << err;
  EXPECT_GT(fs::file_size(png), 50u * 1024) << "suspiciously small screenshot";
  const std::string head = read_file(png).substr(0, 8);
  EXPECT_EQ(head, std::string("\x89PNG\r\n\x1a\n", 8));
  std::cout << "[ report  ] screenshot: " << png << " (" << fs::file_size(png) << " bytes)\n";
}

}  // namespace
}  // namespace kvb
