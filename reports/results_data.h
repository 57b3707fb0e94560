// The stored results as reports, tables and the gate read them: every sample joined with its
// configuration, loaded once from the SQLite store (read-only), plus the dimensions a table can group
// by and readable method labels. Exercised by tests/test_reports.cpp.
#pragma once
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace kvb::reports {

// One stored sample with its configuration's fields.
struct SampleRow {
  // Configuration.
  std::string config_hash, model, model_hash, method, method_params, mode, task, task_params;
  int method_version = 0, task_version = 0;
  double ratio = 0.0;
  int64_t budget = 0, length = 0;
  uint64_t seed = 0;
  std::string method_label;  // method + the parameters that vary between its stored configurations
  // Case.
  std::string case_id, status, reason;  // status: ok | error | skipped
  double score = NAN;                   // 0..100, NaN unless ok
  int64_t prompt_tokens = 0, context_tokens = 0, kept_tokens = 0, generated_tokens = 0;
  double prefill_seconds = 0, method_seconds = 0, decode_seconds = 0, decode_p50_seconds = 0;
  int64_t kv_resident_bytes = 0, kv_nominal_bytes = 0, kv_peak_bytes = 0, peak_rss_bytes = 0;
  double read_bytes_mean = 0, read_entries_mean = 0;  // K/V read per decode step (0: schema < 6 or no step)
  std::vector<double> depths;  // needle depths in % (case_meta), empty when unknown
  int64_t target_length = 0;   // case_meta
  double nll_sum = 0;          // perplexity rows: sum of the continuation tokens' NLL (nats; samples.token_nll)
  int64_t nll_tokens = 0;      //   and how many tokens; 0 for other rows
  // Mean NLL per token (nats), NaN when the row has none; perplexity = exp of the mean over a group.
  double mean_nll() const { return nll_tokens > 0 ? nll_sum / double(nll_tokens) : NAN; }
  std::string context_id;      // multi-question mode: the context shared with other rows' questions; "": own
  bool ok() const { return status == "ok"; }
};

// A run's provenance, as stored.
struct RunRow {
  int64_t run_id = 0;
  std::string uuid, started_at, ended_at, status, command, git_commit, kvbench_version, build_type, compiler,
      cpu_model, gpu, host, os, sweep_config, libraries;
  bool git_dirty = false;
  int64_t cpu_cores = 0;
};

struct ResultsData {
  std::filesystem::path path;
  std::vector<SampleRow> samples;
  std::vector<RunRow> runs;
};

// Loads a results database read-only. A missing or foreign file throws kvb::Error naming it.
ResultsData load_results(const std::filesystem::path& db);

// The dimensions rows and columns can take: method, ratio, task, length, model, mode, budget, seed.
const std::vector<std::string>& table_dimensions();
// The value of a dimension for a sample, as displayed ("snapkv[window=32]", "0.5", "niah_single", ...).
// Throws kvb::Error for an unknown dimension, listing the known ones.
std::string dimension_value(const SampleRow& s, const std::string& dim);
// Sort key of a dimension value: numbers numerically, text alphabetically, "full" first among methods.
bool dimension_less(const std::string& dim, const std::string& a, const std::string& b);

// A "dim=v1,v2" filter: keeps samples whose dimension value is one of the values.
struct Filter {
  std::string dim;
  std::vector<std::string> values;
};
// Parses "dim=v1,v2"; throws kvb::Error naming the text when malformed or the dimension is unknown.
Filter parse_filter(const std::string& text);
bool passes(const SampleRow& s, const std::vector<Filter>& filters);

// Human-readable byte counts ("3.2 MiB").
std::string format_bytes(double bytes);

}  // namespace kvb::reports
