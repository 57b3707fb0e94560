// `kvbench export DB --format csv|jsonl [-o FILE]` — one row per stored sample with its
// configuration's fields (docs/results-schema.md lists the columns). tests/test_sweep.cpp.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "store/results_store.h"

namespace kvb::cli {
namespace {

struct ExportArgs {
  std::string db, format = "csv", output;
};

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

void run_export(const ExportArgs& a) {
  ResultsStore store(a.db, true);
  std::ofstream file;
  if (!a.output.empty()) {
    file.open(a.output);
    KVB_CHECK(file.good(), "{}: cannot write", a.output);
  }
  std::ostream& out = a.output.empty() ? std::cout : file;
  Statement q = store.prepare(
      "SELECT c.model_name, c.model_hash, c.chat_template, c.weights, c.method, c.method_version, c.method_params, "
      "c.compression_ratio, c.token_budget, c.mode, c.task, c.task_version, c.task_params, c.length, c.seed, "
      "s.config_hash, s.case_id, s.case_hash, s.run_id, s.status, s.reason, s.prediction, s.answers, s.scorer, "
      "s.score, s.prompt_tokens, s.generated_tokens, s.context_tokens, s.kept_tokens, s.prefill_seconds, "
      "s.method_seconds, s.decode_seconds, s.decode_p50_seconds, s.decode_p95_seconds, s.kv_resident_bytes, "
      "s.kv_nominal_bytes, s.kv_peak_bytes, s.peak_rss_bytes, s.backend, s.threads, s.prefill_chunk, s.finished_at "
      "FROM samples s JOIN configs c ON c.config_hash = s.config_hash ORDER BY s.config_hash, s.case_id");
  bool header = false;
  while (q.step()) {
    if (a.format == "csv") {
      if (!header) {
        for (int i = 0; i < q.columns(); ++i) out << (i ? "," : "") << q.name(i);
        out << "\n";
        header = true;
      }
      for (int i = 0; i < q.columns(); ++i) out << (i ? "," : "") << (q.is_null(i) ? "" : csv_field(q.text(i)));
      out << "\n";
    } else {
      nlohmann::json row = nlohmann::json::object();
      for (int i = 0; i < q.columns(); ++i) {
        const std::string name = q.name(i);
        switch (q.type(i)) {
          case SQLITE_NULL:
            row[name] = nullptr;
            break;
          case SQLITE_INTEGER:
            row[name] = q.integer(i);
            break;
          case SQLITE_FLOAT:
            row[name] = q.real(i);
            break;
          default: {
            const std::string t = q.text(i);
            if (name == "method_params" || name == "task_params" || name == "answers")
              row[name] = nlohmann::json::parse(t, nullptr, false);
            else
              row[name] = t;
          }
        }
      }
      out << row.dump() << "\n";
    }
  }
  out.flush();
  KVB_CHECK(out.good(), "{}: write failed", a.output.empty() ? "stdout" : a.output);
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  auto* cmd = app.add_subcommand("export", "Export stored samples with their configurations as CSV or JSON lines");
  cmd->add_option("db", a->db, "Results database")->required();
  cmd->add_option("--format", a->format, "csv | jsonl")->check(CLI::IsMember({"csv", "jsonl"}))->capture_default_str();
  cmd->add_option("-o,--output", a->output, "Output file (default: stdout)");
  cmd->callback([a] { run_export(*a); });
});

}  // namespace
}  // namespace kvb::cli
