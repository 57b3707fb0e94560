// Row mapping of the sweep; see sweep_rows.h.
#include "eval/sweep_rows.h"

#include "core/hash.h"
#include "core/percentile.h"

namespace kvb {

using json = nlohmann::json;

ConfigRecord config_record(const SweepCell& cell, const SweepModel& m, const std::string& model_hash,
                           const json& canonical, const std::string& hash) {
  ConfigRecord r;
  r.hash = hash;
  r.canonical_json = canonical.dump();
  r.model_path = m.path.string();
  r.model_name = m.path.filename().string();
  r.model_hash = model_hash;
  r.chat_template = m.chat_template;
  r.weights = m.weights;
  r.method = cell.method.id;
  r.method_version = cell.method_version;
  r.method_params = canonical["method"]["params"].dump();
  r.compression_ratio = cell.method.compression_ratio;
  r.token_budget = cell.method.token_budget;
  r.mode = canonical["mode"].get<std::string>();
  r.task = cell.task;
  r.task_version = cell.task_version;
  r.task_params = canonical["task"]["params"].dump();
  r.length = cell.length;
  r.seed = cell.seed;
  return r;
}

std::string case_hash(const Case& c) { return fnv1a64_hex(case_to_json(c).dump()); }

SampleRecord config_error_row(const std::string& config_hash, const std::string& reason, const RowContext& ctx) {
  SampleRecord r;
  r.config_hash = config_hash;
  r.case_id = kWholeConfigCaseId;
  r.run_id = ctx.run_id;
  r.status = "error";
  r.reason = reason;
  r.backend = ctx.backend;
  r.threads = ctx.threads;
  r.prefill_chunk = ctx.prefill_chunk;
  return r;
}

SampleRecord case_row(const std::string& config_hash, const Case& c, const std::string& case_hash,
                      const RowContext& ctx) {
  SampleRecord r;
  r.config_hash = config_hash;
  r.case_id = c.id;
  r.case_hash = case_hash;
  r.context_id = c.context_id;
  r.run_id = ctx.run_id;
  r.answers = json(c.answers).dump();
  r.scorer = c.scorer;
  r.backend = ctx.backend;
  r.threads = ctx.threads;
  r.prefill_chunk = ctx.prefill_chunk;
  r.case_meta =
      json{{"depths", c.meta.depths}, {"target_length", c.meta.target_length}, {"token_length", c.meta.token_length}}
          .dump();
  return r;
}

void fill_result(SampleRecord& r, const CaseResult& cr) {
  r.status = "ok";
  r.prediction = cr.prediction;
  r.score = cr.score;
  r.prompt_tokens = cr.prompt_tokens;
  r.generated_tokens = cr.generated_tokens;
  r.context_tokens = cr.context_tokens;
  r.kept_tokens = cr.kept_tokens;
  r.prefill_seconds = cr.prefill_seconds;
  r.method_seconds = cr.method_seconds;
  r.decode_seconds = cr.decode_seconds;
  r.decode_p50_seconds = percentile(cr.decode_step_seconds, 50);
  r.decode_p95_seconds = percentile(cr.decode_step_seconds, 95);
  json steps = json::array();
  for (double s : cr.decode_step_seconds) steps.push_back(s);
  r.decode_step_seconds = steps.dump();
  r.kv_resident_bytes = int64_t(cr.kv_resident_bytes);
  r.kv_nominal_bytes = int64_t(cr.kv_nominal_bytes);
  r.kv_peak_bytes = int64_t(cr.kv_peak_bytes);
  r.shared_prefill_bytes = int64_t(cr.shared_prefill_bytes);
  r.decode_read_entries_mean = cr.decode_reads.mean_entries();
  r.decode_read_entries_max = cr.decode_reads.entries_max;
  r.decode_read_bytes_mean = cr.decode_reads.mean_bytes();
  r.decode_read_bytes_max = int64_t(cr.decode_reads.bytes_max);
  if (!cr.token_nll.empty()) r.token_nll = json(cr.token_nll).dump();
  if (cr.prefill_pairs_causal > 0) {  // a sparse prefill: what share of the causal attention it computed
    json meta = json::parse(r.case_meta);
    meta["prefill_attended"] = {{"pairs", cr.prefill_pairs_attended},
                                {"causal_pairs", cr.prefill_pairs_causal},
                                {"fraction", double(cr.prefill_pairs_attended) / double(cr.prefill_pairs_causal)}};
    r.case_meta = meta.dump();
  }
  if (!cr.score_detail.is_null()) {  // the scorer's per-case detail joins the case's facts
    json meta = json::parse(r.case_meta);
    meta["score_detail"] = cr.score_detail;
    r.case_meta = meta.dump();
  }
  if (cr.decode_reads.index_reads_sum > 0) {  // a selector's index work (no column of its own)
    json meta = json::parse(r.case_meta);
    meta["decode_index_reads_mean"] = cr.decode_reads.mean_index_reads();
    r.case_meta = meta.dump();
  }
}

}  // namespace kvb
