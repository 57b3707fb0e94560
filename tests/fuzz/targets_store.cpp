// Fuzz target for a results database from elsewhere (a colleague's file, a truncated copy): opened
// read-only, counted, loaded and rendered as the HTML report, and merged into a fresh database
// (tests/fuzz/fuzz_targets.h). SQLite itself is the system library; the fuzzer drives our code
// around it: schema checks, migrations, row decoding, the report and the merge.
#include <filesystem>

#include "core/error.h"
#include "fuzz_targets.h"
#include "reports/html_report.h"
#include "reports/results_data.h"
#include "store/results_store.h"

namespace kvb::fuzz {

void results_db(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  for (const char* ext : {"-wal", "-shm", "-journal"}) fs::remove(scratch_dir() / (std::string("in.db") + ext));
  const auto path = write_scratch("in.db", data, size);
  try {
    ResultsStore store(path, /*read_only=*/true);
    (void)store.schema_version();
    (void)store.stored_counts();
  } catch (const Error&) {
    return;
  }
  try {
    const reports::ResultsData results = reports::load_results(path);
    (void)reports::render_html_report(results, reports::ReportOptions{});
  } catch (const Error&) {
  }
  const fs::path merged = scratch_dir() / "merged.db";
  for (const char* ext : {"", "-wal", "-shm", "-journal"}) fs::remove(merged.string() + ext);
  try {
    ResultsStore into(merged);
    (void)into.merge_from(path);
  } catch (const Error&) {
  }
}

}  // namespace kvb::fuzz
