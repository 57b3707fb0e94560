// Row mapping of the sweep: what a configuration and a case become in the results store
// (docs/results-schema.md). Pure functions of their inputs; used by run_sweep (eval/sweep.cpp).
#pragma once
#include <string>

#include "eval/runner.h"
#include "eval/sweep_config.h"
#include "eval/task.h"
#include "store/results_store.h"

namespace kvb {

// Case id of the one row recording that a configuration could not start.
inline constexpr const char* kWholeConfigCaseId = "*";

ConfigRecord config_record(const SweepCell& cell, const SweepModel& m, const std::string& model_hash,
                           const nlohmann::json& canonical, const std::string& hash);

// FNV-1a 64 of the case's canonical JSON: a stored row is reused only while its case is unchanged.
std::string case_hash(const Case& c);

// The engine facts every row carries (backend, threads, prefill chunk).
struct RowContext {
  int64_t run_id = 0;
  std::string backend;
  int64_t threads = 0, prefill_chunk = 0;
};

// The row of a configuration that could not start (status error, case id "*").
SampleRecord config_error_row(const std::string& config_hash, const std::string& reason, const RowContext& ctx);
// A case's row before it runs: identity, answers, scorer, case metadata (status still "ok").
SampleRecord case_row(const std::string& config_hash, const Case& c, const std::string& case_hash,
                      const RowContext& ctx);
// Copies a case's result (prediction, score, tokens, timings, K/V bytes) into its row, status ok.
void fill_result(SampleRecord& row, const CaseResult& r);

}  // namespace kvb
