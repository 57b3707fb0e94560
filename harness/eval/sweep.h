// The sweep loop: for each model (loaded once), each configuration of the grid and each of its
// cases, run_case and store the result in one transaction; resume skips stored (config hash, case
// id) pairs, one failing case or configuration never stops the sweep, --shard i/n runs a
// deterministic cost-balanced part. `kvbench sweep|run`; tests/test_sweep.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "eval/runner.h"
#include "eval/sweep_config.h"
#include "eval/task.h"
#include "store/results_store.h"

namespace kvb {

// Shard i of n (0 <= i < n).
struct Shard {
  int index = 0;
  int count = 1;
  std::string str() const;
};
// Parses "i/n"; throws kvb::Error for anything else.
Shard parse_shard(const std::string& text);

// A unit of work: one case of one configuration, and what it is expected to cost.
struct WorkUnit {
  std::string config_hash;
  std::string case_id;
  double cost = 0.0;
};
// Expected cost of a case: prompt tokens (target length when not known), attention's quadratic
// term, and decoding.
double expected_case_cost(const Case& c);
// Assigns each unit to a shard: longest expected cost first onto the least loaded shard (ties: by
// config hash and case id, then the lowest shard), continuing from `loads` (one per shard, updated)
// so that successive groups (one per model) stay balanced overall. Deterministic.
std::vector<int> assign_shards(const std::vector<WorkUnit>& units, std::vector<double>& loads);

struct SweepOptions {
  Shard shard;
  bool rerun_failed = false;  // retry stored errors
  bool force = false;         // recompute everything
  bool quiet = false;
  std::string command = "sweep";
  std::vector<std::string> argv;
  double progress_interval_seconds = 15.0;  // plain lines when stderr is not a terminal
  // Called after each case that ran to a result (status ok), before the next one starts: `kvbench
  // eval` shows predictions and keeps the secondary scores this way.
  std::function<void(const std::string& config_hash, const Case&, const CaseResult&)> on_case_result;
  // Shared prefill: configurations that differ only in method and budget (same model, task, case
  // and mode) start from one prefill per case (kvpress's protocol makes the prefill independent of
  // the method); off: every row prefills alone. Same stored results either way.
  bool shared_prefill = true;
  // Bound on a shared prefill's memory: its snapshot (full KV cache + recordings) plus the methods'
  // copies of the cache. A group whose snapshot and one copy exceed it is split (a row that alone
  // exceeds it prefills alone); the rows decoding together are as many copies as fit.
  int64_t max_shared_bytes = int64_t(8) << 30;
  // Rows of one shared prefill decoded together (run_case_batch), at most this many and as many as
  // max_shared_bytes leaves room for (each row's copy counted at the full cache's size); 1: one by one.
  // A killed sweep loses the rows of the batch in flight.
  int decode_batch = 64;
};

// "8G", "512M", "1000000" -> bytes (K/M/G/T are powers of 1024); kvb::Error naming `what` otherwise.
int64_t parse_byte_size(const std::string& text, const std::string& what);

struct SweepSummary {
  int64_t configs = 0;
  int64_t ran = 0, ok = 0, errors = 0, skipped = 0;  // cases run now, by status
  int64_t already_stored = 0;                        // resumed: not run again
  int64_t other_shards = 0;                          // left to other shards
  int64_t config_errors = 0;                         // configurations that could not start
  int64_t prefills = 0;                              // prefills run (shared ones count once)
  std::string first_config_error;                    // "<label>: <reason>" of the first of them
  double seconds = 0.0;
  bool interrupted = false;
  int64_t run_id = 0;
};
SweepSummary run_sweep(const SweepConfig& config, ResultsStore& store, const SweepOptions& opt);

// What a dry run prints: the grid without loading any model.
struct SweepPlan {
  int64_t configs = 0;
  int64_t cases = 0;        // expected cases, all shards
  int64_t shard_cases = 0;  // expected for this shard (about cases / n)
  int64_t shard_prefills = 0;  // prefills those rows need (shared prefill: one per case and group)
  int64_t stored = 0;       // samples already stored for these configurations
  double estimated_seconds = 0.0;
  bool estimate_from_history = false;
  int64_t uncounted_configs = 0;  // configurations whose case count is known only once generated (all rows of a file)
  std::string describe(const SweepConfig& c, const Shard& shard) const;
};
// `store` may be null (no database yet).
// `shared_prefill`: count prefills as SweepOptions::shared_prefill runs them.
SweepPlan plan_sweep(const SweepConfig& config, ResultsStore* store, const Shard& shard, bool shared_prefill = true);

}  // namespace kvb
