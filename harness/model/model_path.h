// Finds model checkpoints: a path as given, builtin:oracle (built and cached), or a name looked up in ./models, <source>/models
// and <source>/../shared/models (e.g. `--model stories260K`).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace kvb {

struct ModelEntry {
  std::filesystem::path path;
  std::string format;  // "gguf" | "hf"
  uintmax_t bytes = 0;
};

std::vector<std::filesystem::path> model_search_dirs();
std::vector<ModelEntry> discover_models();
// Returns the checkpoint path for `name_or_path`; throws kvb::Error listing what was tried.
std::filesystem::path resolve_model_path(const std::string& name_or_path);

}  // namespace kvb
