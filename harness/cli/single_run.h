// What `kvbench eval` and `kvbench run` share: one configuration given by flags (model, task,
// method, budget, parameters, engine), bound to CLI options in one place and turned into a
// one-cell sweep config, so both commands run the sweep's code path (eval into an in-memory store).
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "backends/forward_backend.h"
#include "eval/sweep_config.h"

namespace kvb::cli {

struct SingleRunArgs {
  std::string model, task, method = "full", chat_template = "auto", weights = "native", haystack_dir;
  std::vector<std::string> params, task_params, method_params;
  double ratio = 0.0;
  int64_t budget = 0;
  bool query_aware = false;
  int length = 0, n = 0;
  uint64_t seed = 0;
  EngineOptions engine;
};

void add_single_run_options(CLI::App* cmd, SingleRunArgs& a);

// The one --param rule: a key goes to whichever of the task and the method declares it (a
// wrapper's scorer parameters count as the wrapper's); both: an error asking for --task-param or
// --method-param; neither: the task, whose parameter check then names the unknown key.
// Returns the one-cell sweep config; `command` names the source in errors ("kvbench eval").
SweepConfig single_run_config(const SingleRunArgs& a, const std::string& command);

}  // namespace kvb::cli
