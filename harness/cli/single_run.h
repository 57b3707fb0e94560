// What `kvbench eval` and `kvbench run` share: one configuration given by flags (model, task,
// method, budget, parameters, engine), bound to CLI options in one place and turned into a
// one-cell sweep config, so both commands run the sweep's code path (eval into an in-memory store).
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "backends/forward_backend.h"
#include "eval/sweep.h"
#include "eval/sweep_config.h"

namespace kvb::cli {

// --no-shared-prefill, --max-shared-bytes and --decode-batch (eval, run, sweep).
struct SharedPrefillArgs {
  bool off = false;
  std::string max_bytes = "8G";
  int decode_batch = 64;
};

struct SingleRunArgs {
  std::string model, task, chat_template = "auto", weights = "native", haystack_dir;
  std::vector<std::string> methods{"full"};  // several: every method x ratio, one prefill per case
  std::vector<std::string> params, task_params, method_params;
  std::vector<double> ratios;
  int64_t budget = 0;
  bool query_aware = false;
  int length = 0, n = 0;
  int questions = 0;  // --questions: questions_per_context (0: the task's default)
  uint64_t seed = 0;
  EngineOptions engine;
  SharedPrefillArgs shared;
};

void add_single_run_options(CLI::App* cmd, SingleRunArgs& a);
// The shared-prefill flags, and their values into the sweep options.
void add_shared_prefill_options(CLI::App* cmd, SharedPrefillArgs& a);
void apply_shared_prefill_options(const SharedPrefillArgs& a, SweepOptions& opt);

// The one --param rule: a key goes to whichever of the task and the methods declares it (to every
// method that takes it; a wrapper's scorer parameters count as the wrapper's); task and a method:
// an error asking for --task-param or --method-param; neither: the task, whose parameter check then
// names the unknown key. --method-param goes to every method that takes it (none: all, so that the
// method's check names the key). Returns the sweep config (methods x ratios cells); `command` names
// the source in errors ("kvbench eval").
SweepConfig single_run_config(const SingleRunArgs& a, const std::string& command);

}  // namespace kvb::cli
