// The HTML report of a database whose every stored text field carries markup (method and task params,
// generated text, error messages, model names, case ids, answers, run provenance), opened in headless
// Chromium: the parsed DOM holds no element, attribute or script the strings tried to inject, and no
// script ran. A deliberately unescaped page with the same strings shows the check can fail.
// Run: build/tests/kvb_tests --gtest_filter='ReportHostile*' (skipped without chromium; scripts/setup.sh).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "store/results_store.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every free-text column a file, a config or a model can fill. Hash keys, statuses and times stay.
const std::vector<std::pair<std::string, std::vector<std::string>>> kTextColumns = {
    {"runs", {"command", "argv", "sweep_config", "shard", "git_commit", "kvbench_version", "build_type", "compiler",
              "cxx_flags", "cpu_model", "cpu_flags", "gpu", "libraries", "host", "os"}},
    {"configs", {"canonical_json", "model_path", "model_name", "model_hash", "chat_template", "weights", "method",
                 "method_params", "mode", "task", "task_params"}},
    {"samples", {"case_id", "reason", "prediction", "answers", "scorer", "backend", "case_meta", "device"}},
};

// Markup that, if it reached the DOM as markup, leaves a trace the check finds: an element with an
// id starting "kvbpwn", an attribute data-kvbpwn, a script or an image. Variants break out of text,
// double- and single-quoted attributes, <title>, <textarea>, <style>, comments and CDATA.
std::string payload(const std::string& field) {
  const std::string id = "kvbpwn-" + field;
  return "<b id=\"" + id + "\">x</b><img src=x id=\"" + id + "-img\" onerror=\"document.body.setAttribute('data-kvbpwn','" +
         field + "')\"><script id=\"" + id + "-js\">document.body.setAttribute('data-kvbpwn','" + field +
         "')</script>\"'><b id=\"" + id + "-attr\">'\"</title></textarea></style></script>--><![CDATA[<b id=\"" + id +
         "-cdata\">]]><svg id=\"" + id + "-svg\" onload=\"document.body.setAttribute('data-kvbpwn','1')\"></svg>";
}

std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const std::string cmd = std::string("command -v ") + name + " 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[512];
    size_t n;
    while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    if (p && pclose(p) == 0 && !out.empty()) return out.substr(0, out.find('\n'));
  }
  return "";
}

// The DOM Chromium builds from `html` (scripts run, as a browser would; the page's own CSP applies).
std::string dump_dom(const std::string& chromium, const fs::path& html, const fs::path& work) {
  const fs::path out = work / (html.stem().string() + ".dom"), err = work / (html.stem().string() + ".err");
  const std::string cmd = "timeout 180 " + q(chromium) +
                          " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run "
                          "--user-data-dir=" + q(work / "profile") + " --dump-dom " +
                          q("file://" + fs::absolute(html).string()) + " >" + q(out) + " 2>" + q(err);
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << read_file(err);
  return read_file(out);
}

// What an injection leaves in a serialized DOM. Escaped text serializes as &lt;b id="kvbpwn..."&gt;,
// never as an element; so each of these strings means a string became markup or a script ran.
std::vector<std::string> injections(const std::string& dom) {
  std::vector<std::string> found;
  for (const char* trace : {"<b id=\"kvbpwn", "<img", "<script", " data-kvbpwn=", "<svg id=\"kvbpwn", "id=\"kvbpwn"}) {
    // id="kvbpwn inside escaped text is shown as text (&lt;b id="kvbpwn-..."&gt;): only count it
    // when it sits in a tag, i.e. right after '<b ' / '<img ' etc. (the first five) or as an attribute.
    size_t p = dom.find(trace);
    while (p != std::string::npos) {
      bool real = true;
      if (std::string(trace) == "id=\"kvbpwn") {  // an attribute of some element: preceded by "<tag ... "
        const size_t open = dom.rfind('<', p), close = dom.rfind('>', p), amp = dom.rfind("&lt;", p);
        real = open != std::string::npos && (close == std::string::npos || open > close) &&
               (amp == std::string::npos || open > amp);
      }
      if (real) {
        found.push_back(dom.substr(p > 40 ? p - 40 : 0, 120));
        break;
      }
      p = dom.find(trace, p + 1);
    }
  }
  return found;
}

TEST(ReportHostile, EveryStoredTextFieldRendersInertInChromium) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "chromium not installed: scripts/setup.sh installs it";
  const fs::path work = test::tmp_dir() / ("report_hostile_" + std::to_string(getpid()));
  fs::remove_all(work);
  fs::create_directories(work);
  const fs::path db = work / "hostile.db", yaml = work / "sweep.yaml", html = work / "hostile.html";
  std::ofstream(yaml) << "models: ['builtin:oracle']\nmethods: [full, {id: snapkv, params: {window: [16, 32]}}]\n"
                         "budgets: {ratios: [0.5]}\n"
                         "tasks:\n  - {id: niah_single, params: {form: symbolic}}\nlengths: [256]\ncases: 3\n"
                         "engine: {threads: 1}\n";
  auto r = test::run_kvbench("sweep " + q(yaml) + " --db " + q(db) + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  {
    ResultsStore s(db);
    int n_fields = 0;
    for (const auto& [table, columns] : kTextColumns)
      for (const std::string& c : columns) {
        const std::string p = payload(table + "-" + c);
        // JSON objects get a hostile key and value, JSON arrays a hostile element, text the payload; the
        // row id makes each row's value differ, so the report shows them (it labels what differs).
        Statement u = s.prepare("UPDATE " + table + " SET " + c + " = CASE WHEN json_valid(" + c + ") AND json_type(" +
                                c + ") = 'object' THEN json_set(" + c + ", '$.\"k<b id=kvbpwn-key>' || ?2 || '\"', ?1 || rowid) " +
                                "WHEN json_valid(" + c + ") AND json_type(" + c + ") = 'array' THEN json_insert(" + c +
                                ", '$[#]', ?1 || rowid) ELSE coalesce(" + c + ", '') || ?1 || rowid END");
        u.bind(1, p).bind(2, c).run();
        ++n_fields;
      }
    // Error rows too (their reason is shown): the first sample of each configuration failed.
    s.exec("UPDATE samples SET status = 'error', score = NULL WHERE rowid IN (SELECT min(rowid) FROM samples GROUP BY "
           "config_hash)");
    EXPECT_EQ(n_fields, 34);
  }
  r = test::run_kvbench("report " + q(db) + " -o " + q(html) + " --title " + q("<b id=kvbpwn-title>t</b>"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string page = read_file(html);
  // The strings are in the page (escaped), so the check below looks at text that is really there.
  for (const char* shown : {"kvbpwn-configs-model_name", "kvbpwn-configs-method", "kvbpwn-samples-reason",
                            "kvbpwn-configs-task", "kvbpwn-runs-host",
                            "kvbpwn-runs-sweep_config", "kvbpwn-runs-command"})
    EXPECT_NE(page.find(shown), std::string::npos) << shown << " is not shown anywhere in the report";

  const std::string dom = dump_dom(chromium, html, work);
  ASSERT_NE(dom.find("<table"), std::string::npos) << "Chromium did not render the report: " << dom.substr(0, 500);
  for (const std::string& trace : injections(dom)) ADD_FAILURE() << "injected into the DOM: ..." << trace << "...";

  // The check can fail: the same payloads pasted unescaped into a page are found.
  const fs::path naive = work / "naive.html";
  std::ofstream(naive) << "<!DOCTYPE html><html><body><table><tr><td>" << payload("configs-model_name")
                       << "</td></tr></table><p title=\"" << payload("samples-prediction") << "\">x</p></body></html>";
  EXPECT_GE(injections(dump_dom(chromium, naive, work)).size(), 3u) << "the injection check no longer sees injections";
}

}  // namespace
}  // namespace kvb
