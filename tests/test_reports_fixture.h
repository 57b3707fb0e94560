// A results database for the report, table and gate tests, made by a real small sweep on stories260K
// (full, streaming_llm, snapkv x ratios 0.5 / 0.8 on niah_single and niah_multikey at 480 tokens, 12 cases per
// configuration), written once per test binary run into the build tree and copied for each test.
#pragma once
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "eval/sweep.h"
#include "eval/sweep_config.h"
#include "store/results_store.h"
#include "test_util.h"

namespace kvb::test {

// The sweep's database (built on first use).
inline std::filesystem::path reports_fixture_db() {
  static std::once_flag once;
  static std::filesystem::path db;
  std::call_once(once, [] {
    // One per process: ctest runs tests in parallel processes.
    db = fresh_db("reports_fixture_" + std::to_string(getpid()) + ".db");
    const nlohmann::json cfg = nlohmann::json::parse(R"({
      "name": "reports-fixture",
      "models": [{"path": ")" + stories260k().string() + R"(", "chat_template": "none"}],
      "methods": ["full", "streaming_llm", {"id": "snapkv", "params": {"window": 16}}],
      "budgets": {"ratios": [0.5, 0.8]},
      "tasks": [{"id": "niah_single", "params": {"max_new_tokens": 4}},
                {"id": "niah_multikey", "params": {"max_new_tokens": 4}}],
      "lengths": [480],
      "cases": 12,
      "engine": {"threads": 1}
    })");
    SweepOptions opt;
    opt.quiet = true;
    ResultsStore store(db);
    run_sweep(parse_sweep_config(cfg, "reports fixture"), store, opt);
  });
  return db;
}

// A private copy of the fixture database.
inline std::filesystem::path copy_of_fixture(const std::string& name) {
  const std::filesystem::path src = reports_fixture_db();
  const std::filesystem::path dst = fresh_db(name);
  {
    ResultsStore s(src);
    s.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  std::filesystem::copy_file(src, dst);
  return dst;
}

}  // namespace kvb::test
