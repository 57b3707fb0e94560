// `kvbench list models` — checkpoints found in models/ and ../shared/models/.
// (Methods and tasks join this command when their registries exist.)
#include <fmt/format.h>

#include "cli/commands.h"
#include "model/model_path.h"

namespace kvb::cli {
namespace {

void list_models() {
  auto models = discover_models();
  if (models.empty()) {
    fmt::print("no models found in:\n");
    for (auto& d : model_search_dirs()) fmt::print("  {}\n", d.string());
    fmt::print("run scripts/setup.sh to download the default model\n");
    return;
  }
  fmt::print("{:<6} {:>10}  {}\n", "format", "size", "path");
  for (auto& m : models) fmt::print("{:<6} {:>8.1f}MB  {}\n", m.format, double(m.bytes) / 1e6, m.path.string());
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto* list = app.add_subcommand("list", "List models (and, later, methods and tasks)");
  list->require_subcommand(1);
  list->add_subcommand("models", "Checkpoints in models/ and ../shared/models/")->callback(list_models);
});

}  // namespace
}  // namespace kvb::cli
