// Sweep configuration: a YAML or JSON file whose every list is a grid axis (models x methods x
// budgets x tasks x lengths x seeds x modes), validated as a whole before any work — every problem
// is listed — and expanded into configurations with a canonical JSON and hash (docs/results-schema.md).
// Files: configs/*.yaml; tests/test_sweep.cpp (SweepConfig*); `kvbench sweep CONFIG --dry-run`.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backends/forward_backend.h"
#include "core/params.h"
#include "kv/method.h"

namespace kvb {

struct SweepModel {
  std::string spec;            // as written in the config (path or name)
  std::filesystem::path path;  // resolved checkpoint path
  std::string chat_template = "auto";
  std::string weights = "native";  // native | f32
};

struct SweepMethod {
  std::string id;
  Params params;  // one combination of the config's parameter lists
};

struct SweepBudget {
  double ratio = 0.0;  // compression ratio (fraction removed)
  int64_t tokens = 0;  // > 0: token budget per KV head
};

struct SweepTask {
  std::string id;
  Params params;  // one combination of the config's parameter lists
};


// A validated sweep: every axis expanded to its values.
struct SweepConfig {
  std::string name;
  std::string source;   // file the config came from ("" for `kvbench run`)
  nlohmann::json json;  // the config as parsed (stored with each run)
  std::vector<SweepModel> models;
  std::vector<SweepMethod> methods;
  std::vector<SweepBudget> budgets;
  std::vector<SweepTask> tasks;
  std::vector<int64_t> lengths;  // empty: each task's own length
  std::vector<uint64_t> seeds;
  std::vector<bool> query_aware;  // modes
  int cases = 0;                  // cases per cell (sets num_samples); 0: the task's default
  int questions_per_context = 0;  // multi-question mode: sets each task's questions_per_context; 0: unset
  EngineOptions engine;
};

// One configuration of the grid (a cell): what decides the results of its cases.
struct SweepCell {
  size_t model = 0;   // index into SweepConfig::models
  MethodSpec method;  // id, params (as given), budget, mode, seed
  int method_version = 0;
  Params method_params;  // resolved (defaults included)
  std::string task;
  int task_version = 0;
  Params task_params;  // resolved, num_samples and length included
  int64_t length = 0;  // the length axis value (0: the task's own)
  uint64_t seed = 0;
  int64_t expected_cases = 0;   // num_samples (times what the task multiplies it by, e.g. niah_grid)
  double expected_tokens = 0.0;  // typical prompt tokens of a case (estimates only)
  // The canonical JSON (sorted keys) given the model's file hash; its FNV-1a 64 is the config hash.
  // A backend other than the CPU reference (and its weight type) is part of the identity: its
  // numbers are other measurements. CPU configurations keep the hashes they always had.
  nlohmann::json canonical(const std::string& model_hash, const SweepModel& m,
                           const EngineOptions& engine = {}) const;
  std::string label(const SweepConfig& c) const;  // short, for progress lines
};

// YAML text -> JSON (scalars that read as numbers / booleans / null become those, quoted scalars
// stay strings). Throws kvb::Error naming `source` and the line on a syntax error.
nlohmann::json yaml_to_json(const std::string& text, const std::string& source);
// Reads a .yaml / .yml / .json file and validates it (parse_sweep_config).
SweepConfig load_sweep_config(const std::filesystem::path& path);
// Validates the whole config and throws one kvb::Error listing every problem found.
SweepConfig parse_sweep_config(const nlohmann::json& j, const std::string& source);
// The grid in a fixed order: model, method, budget, mode, task, length, seed. Methods without a
// budget (MethodRoles::budget None: full, kivi alone, decoding) get one budget; full one mode.
std::vector<SweepCell> expand_grid(const SweepConfig& c);
// The one place method ids are checked (the method registry's find_method).
const MethodInfo& lookup_method(const std::string& id);

std::string config_hash(const nlohmann::json& canonical);

}  // namespace kvb
