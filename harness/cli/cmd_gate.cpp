// `kvbench gate --baseline BASE --candidate CAND.db [--max-drop 1.0] [--alpha 0.05] [--max-slowdown 1.10]
// [--junit out.xml] [--markdown out.md]`: exit 0 = pass, 1 = regression (or a baseline configuration
// missing from the candidate), 2 = unusable input. `kvbench baseline DB -o FILE.json` writes the JSON
// baseline a repository keeps. reports/gate.h; tests/test_gate.cpp.
#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "reports/gate.h"

namespace kvb::cli {
namespace {

struct GateArgs {
  std::string baseline, candidate, junit, markdown;
  std::vector<std::string> filters;
  bool no_latency = false;
  reports::GateOptions options;
};

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  KVB_CHECK(f.good(), "{}: cannot write", path);
  f << text;
  KVB_CHECK(f.good(), "{}: write failed", path);
}

void run_gate_command(GateArgs& a) {
  std::vector<reports::Filter> filters;
  for (const std::string& f : a.filters) filters.push_back(reports::parse_filter(f));
  a.options.check_latency = !a.no_latency;
  reports::Outcomes base = reports::load_baseline(a.baseline);
  std::error_code ec;
  KVB_CHECK(std::filesystem::exists(a.candidate, ec), "{}: candidate results database not found", a.candidate);
  reports::Outcomes cand = reports::outcomes_from_results(reports::load_results(a.candidate), filters);
  if (!filters.empty()) {
    // Gate only what the filters select: drop baseline configurations the candidate was not asked about.
    reports::Outcomes all = reports::outcomes_from_results(reports::load_results(a.candidate));
    for (auto it = base.begin(); it != base.end();)
      it = all.count(it->first) && !cand.count(it->first) ? base.erase(it) : std::next(it);
  }
  const reports::GateResult r = reports::run_gate(base, cand, a.options);
  std::cout << reports::gate_summary_text(r, a.options);
  if (!a.junit.empty()) write_file(a.junit, reports::gate_junit(r, a.options));
  if (!a.markdown.empty()) write_file(a.markdown, reports::gate_markdown(r, a.options));
  const bool missing_fails = !r.missing_in_candidate.empty() && !a.options.allow_missing;
  exit_code() = r.passed() && !missing_fails ? 0 : 1;
}

struct BaselineArgs {
  std::string db, output;
  std::vector<std::string> filters;
  bool timings = false;
};

void run_baseline_command(const BaselineArgs& a) {
  std::vector<reports::Filter> filters;
  for (const std::string& f : a.filters) filters.push_back(reports::parse_filter(f));
  const reports::Outcomes o = reports::outcomes_from_results(reports::load_results(a.db), filters);
  KVB_CHECK(!o.empty(), "{}: no sample to put in a baseline", a.db);
  const std::string text = reports::baseline_json(o, a.timings, std::filesystem::path(a.db).filename().string())
                               .dump(1) + "\n";
  write_file(a.output, text);
  fmt::print("{}: {} configurations{}\n", a.output, o.size(), a.timings ? " with per-case timings" : "");
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<GateArgs>();
  CLI::App* c = app.add_subcommand(
      "gate", "Compare a candidate results database with a baseline; exit 1 on a significant regression");
  c->add_option("--baseline", a->baseline, "Baseline: a results database or a JSON baseline (kvbench baseline)")
      ->required();
  c->add_option("--candidate", a->candidate, "Candidate results database")->required();
  c->add_option("--max-drop", a->options.max_drop, "Score points a configuration may lose")->capture_default_str();
  c->add_option("--alpha", a->options.alpha, "Significance level of the one-sided tests")->capture_default_str();
  c->add_option("--max-slowdown", a->options.max_slowdown, "Allowed candidate/baseline per-case time ratio")
      ->capture_default_str();
  c->add_flag("--no-latency", a->no_latency, "Do not compare timings (e.g. different machines)");
  c->add_flag("--allow-missing", a->options.allow_missing, "Baseline configurations absent from the candidate pass");
  c->add_option("--filter", a->filters, "Gate only dimension=value[,value...] (repeatable)");
  c->add_option("--junit", a->junit, "Write a JUnit XML report");
  c->add_option("--markdown", a->markdown, "Write a Markdown summary (PR comments)");
  c->callback([a] { run_gate_command(*a); });

  auto b = std::make_shared<BaselineArgs>();
  CLI::App* bc = app.add_subcommand("baseline", "Write a JSON baseline (per-case scores) of a results database");
  bc->add_option("db", b->db, "Results database")->required();
  bc->add_option("-o,--output", b->output, "Output JSON file")->required();
  bc->add_option("--filter", b->filters, "Only dimension=value[,value...] (repeatable)");
  bc->add_flag("--timings", b->timings, "Include per-case seconds (only meaningful on the same machine)");
  bc->callback([b] { run_baseline_command(*b); });
});

}  // namespace
}  // namespace kvb::cli
