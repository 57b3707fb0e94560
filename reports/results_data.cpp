// Loading the results store for reports, tables and the gate; see results_data.h.
#include "reports/results_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "store/results_store.h"

namespace kvb::reports {
namespace {

using json = nlohmann::json;

// Parameters of a method whose values differ between its stored configurations: those name it.
void assign_method_labels(std::vector<SampleRow>& samples) {
  std::map<std::string, std::map<std::string, std::set<std::string>>> values;  // method -> param -> values
  std::map<std::string, std::set<std::string>> modes;                          // method -> modes
  std::map<std::string, json> parsed;                                          // method_params text -> json
  for (const SampleRow& s : samples) {
    json& p = parsed[s.method_params];
    if (p.is_null()) p = json::parse(s.method_params.empty() ? "{}" : s.method_params, nullptr, false);
    if (p.is_object())
      for (auto it = p.begin(); it != p.end(); ++it)
        values[s.method][it.key()].insert(it->is_string() ? it->get<std::string>() : it->dump());
    modes[s.method].insert(s.mode);
  }
  for (SampleRow& s : samples) {
    std::string label = s.method;
    std::vector<std::string> parts;
    const json& p = parsed[s.method_params];
    if (p.is_object())
      for (auto it = p.begin(); it != p.end(); ++it)
        if (values[s.method][it.key()].size() > 1)
          parts.push_back(it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump()));
    if (!parts.empty()) label += fmt::format("[{}]", fmt::join(parts, ","));
    if (modes[s.method].size() > 1 && s.mode == "query_aware") label += " (query-aware)";
    s.method_label = label;
  }
}

bool parse_number(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

}  // namespace

ResultsData load_results(const std::filesystem::path& db) {
  std::error_code ec;
  KVB_CHECK(std::filesystem::exists(db, ec), "{}: results database not found", db.string());
  ResultsStore store(db, true);
  KVB_CHECK(store.schema_version() >= 1, "{}: not a kvbench results database (empty schema)", db.string());
  const bool has_meta = store.schema_version() >= 2;
  const bool has_reads = store.schema_version() >= 6;
  const bool has_nll = store.schema_version() >= 7;
  ResultsData out;
  out.path = db;
  Statement q = store.prepare(fmt::format(
      "SELECT c.config_hash, c.model_name, c.model_hash, c.method, c.method_version, c.method_params, c.mode, "
      "c.task, c.task_version, c.task_params, c.compression_ratio, c.token_budget, c.length, c.seed, s.case_id, "
      "s.status, s.reason, s.score, s.prompt_tokens, s.context_tokens, s.kept_tokens, s.generated_tokens, "
      "s.prefill_seconds, s.method_seconds, s.decode_seconds, s.decode_p50_seconds, s.kv_resident_bytes, "
      "s.kv_nominal_bytes, s.kv_peak_bytes, s.peak_rss_bytes, {}, {}, {}, {} "
      "FROM samples s JOIN configs c ON c.config_hash = s.config_hash ORDER BY s.config_hash, s.case_id",
      has_reads ? "s.decode_read_bytes_mean, s.decode_read_entries_mean" : "0.0, 0.0",
      has_meta ? "s.case_meta" : "'{}'", store.schema_version() >= 8 ? "s.context_id" : "''",
      has_nll ? "s.token_nll" : "''"));
  while (q.step()) {
    SampleRow r;
    int i = 0;
    auto text = [&] { return q.is_null(i) ? (++i, std::string()) : q.text(i++); };
    auto integer = [&] { return q.is_null(i) ? (++i, int64_t(0)) : q.integer(i++); };
    auto real = [&] { return q.is_null(i) ? (++i, 0.0) : q.real(i++); };
    r.config_hash = text();
    r.model = text();
    r.model_hash = text();
    r.method = text();
    r.method_version = int(integer());
    r.method_params = text();
    r.mode = text();
    r.task = text();
    r.task_version = int(integer());
    r.task_params = text();
    r.ratio = real();
    r.budget = integer();
    r.length = integer();
    r.seed = uint64_t(integer());
    r.case_id = text();
    r.status = text();
    r.reason = text();
    const bool null_score = q.is_null(i);
    r.score = null_score ? (++i, NAN) : real();
    r.prompt_tokens = integer();
    r.context_tokens = integer();
    r.kept_tokens = integer();
    r.generated_tokens = integer();
    r.prefill_seconds = real();
    r.method_seconds = real();
    r.decode_seconds = real();
    r.decode_p50_seconds = real();
    r.kv_resident_bytes = integer();
    r.kv_nominal_bytes = integer();
    r.kv_peak_bytes = integer();
    r.peak_rss_bytes = integer();
    r.read_bytes_mean = real();
    r.read_entries_mean = real();
    const json meta = json::parse(text(), nullptr, false);
    r.context_id = text();
    if (meta.is_object()) {
      if (meta.contains("depths") && meta["depths"].is_array())
        for (const auto& d : meta["depths"])
          if (d.is_number()) r.depths.push_back(d.get<double>());
      if (meta.contains("target_length") && meta["target_length"].is_number_integer())
        r.target_length = meta["target_length"].get<int64_t>();
    }
    const std::string nll_text = text();
    if (!nll_text.empty()) {
      const json nll = json::parse(nll_text, nullptr, false);
      if (nll.is_array())
        for (const auto& x : nll)
          if (x.is_number()) r.nll_sum += x.get<double>(), ++r.nll_tokens;
    }
    if (!r.ok()) r.score = NAN;
    out.samples.push_back(std::move(r));
  }
  assign_method_labels(out.samples);

  Statement runs = store.prepare(
      "SELECT run_id, uuid, started_at, COALESCE(ended_at, ''), status, command, git_commit, git_dirty, "
      "kvbench_version, build_type, compiler, cpu_model, cpu_cores, gpu, host, os, COALESCE(sweep_config, ''), "
      "libraries FROM runs ORDER BY run_id");
  while (runs.step()) {
    RunRow r;
    r.run_id = runs.integer(0);
    r.uuid = runs.text(1);
    r.started_at = runs.text(2);
    r.ended_at = runs.text(3);
    r.status = runs.text(4);
    r.command = runs.text(5);
    r.git_commit = runs.text(6);
    r.git_dirty = runs.integer(7) != 0;
    r.kvbench_version = runs.text(8);
    r.build_type = runs.text(9);
    r.compiler = runs.text(10);
    r.cpu_model = runs.text(11);
    r.cpu_cores = runs.integer(12);
    r.gpu = runs.text(13);
    r.host = runs.text(14);
    r.os = runs.text(15);
    r.sweep_config = runs.text(16);
    r.libraries = runs.text(17);
    out.runs.push_back(std::move(r));
  }
  return out;
}

const std::vector<std::string>& table_dimensions() {
  static const std::vector<std::string> dims = {"method", "ratio", "task", "length", "model", "mode", "budget", "seed"};
  return dims;
}

std::string dimension_value(const SampleRow& s, const std::string& dim) {
  if (dim == "method") return s.method_label;
  if (dim == "ratio") return fmt::format("{:g}", s.ratio);
  if (dim == "task") return s.task;
  if (dim == "length") return std::to_string(s.length);
  if (dim == "model") return s.model;
  if (dim == "mode") return s.mode;
  if (dim == "budget") return std::to_string(s.budget);
  if (dim == "seed") return std::to_string(s.seed);
  KVB_FAIL("unknown dimension '{}' (known: {})", dim, fmt::join(table_dimensions(), ", "));
}

bool dimension_less(const std::string& dim, const std::string& a, const std::string& b) {
  if (dim == "method") {
    const bool fa = a.rfind("full", 0) == 0, fb = b.rfind("full", 0) == 0;
    if (fa != fb) return fa;
  }
  double x, y;
  if (parse_number(a, x) && parse_number(b, y) && x != y) return x < y;
  return a < b;
}

Filter parse_filter(const std::string& text) {
  const size_t eq = text.find('=');
  KVB_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < text.size(),
            "filter '{}': expected dimension=value[,value...] (dimensions: {})", text,
            fmt::join(table_dimensions(), ", "));
  Filter f;
  f.dim = text.substr(0, eq);
  const auto& dims = table_dimensions();
  KVB_CHECK(std::find(dims.begin(), dims.end(), f.dim) != dims.end(), "filter '{}': unknown dimension '{}' (known: {})",
            text, f.dim, fmt::join(dims, ", "));
  std::string rest = text.substr(eq + 1);
  for (size_t p = 0; p <= rest.size();) {
    size_t q = rest.find(',', p);
    if (q == std::string::npos) q = rest.size();
    if (q > p) f.values.push_back(rest.substr(p, q - p));
    p = q + 1;
  }
  return f;
}

bool passes(const SampleRow& s, const std::vector<Filter>& filters) {
  for (const Filter& f : filters) {
    const std::string v = dimension_value(s, f.dim);
    bool any = false;
    for (const std::string& want : f.values) {
      double x, y;
      // Methods match by id or by full label; numbers numerically ("0.50" == "0.5").
      if (v == want || (f.dim == "method" && s.method == want) ||
          (parse_number(v, x) && parse_number(want, y) && x == y))
        any = true;
    }
    if (!any) return false;
  }
  return true;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (std::fabs(bytes) >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

}  // namespace kvb::reports
