// `kvbench merge a.db b.db ... -o all.db` — merges results databases (e.g. one per --shard) into one:
// runs by uuid, configs by hash, samples by (config hash, case id); conflicting duplicates are
// refused and nothing of that input is merged (harness/store/results_store.h). tests/test_store.cpp.
#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"
#include "store/results_store.h"

namespace kvb::cli {
namespace {

struct MergeArgs {
  std::vector<std::string> inputs;
  std::string output;
};

void run_merge(const MergeArgs& a) {
  KVB_CHECK(!a.inputs.empty(), "merge: give the databases to merge");
  for (const auto& in : a.inputs) {
    std::error_code ec;
    KVB_CHECK(std::filesystem::exists(in, ec), "{}: results database not found", in);
    ResultsStore check(in, true);  // every input is a readable, undamaged kvbench store before anything is written
    check.check_integrity();
  }
  ResultsStore out(a.output);
  int64_t total = 0;
  for (const auto& in : a.inputs) {
    const int64_t n = out.merge_from(in);
    fmt::print("{}: {} samples added\n", in, n);
    total += n;
  }
  int64_t samples = 0;
  {
    Statement q = out.prepare("SELECT count(*) FROM samples");
    if (q.step()) samples = q.integer(0);
  }
  fmt::print("{}: {} samples added from {} database{}; {} samples in all\n", a.output, total, a.inputs.size(),
             a.inputs.size() == 1 ? "" : "s", samples);
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<MergeArgs>();
  auto* cmd =
      app.add_subcommand("merge", "Merge results databases (e.g. shards) into one, refusing conflicting duplicates");
  cmd->add_option("inputs", a->inputs, "Databases to merge")->required();
  cmd->add_option("-o,--output", a->output, "Database to merge into (created if missing)")->required();
  cmd->callback([a] { run_merge(*a); });
});

}  // namespace
}  // namespace kvb::cli
