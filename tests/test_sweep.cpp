// Sweeps on a real tiny model (stories260K) into real SQLite files: config validation listing every
// problem, grid expansion and config hashes, shards, resume / --rerun-failed / --force, failure
// isolation, and crash safety (real sweeps killed with SIGKILL, resumed, compared with an
// uninterrupted run). Run: build/tests/kvb_tests --gtest_filter='Sweep*'
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>
#include <tuple>

#include "core/error.h"
#include "core/log.h"
#include "eval/sweep.h"
#include "test_util.h"

extern char** environ;

namespace kvb {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

fs::path fresh(const std::string& name) {
  fs::path p = test::tmp_dir() / name;
  for (const char* ext : {"", "-wal", "-shm"}) fs::remove(p.string() + ext);
  return p;
}

// A small real sweep: 3 methods x `cases` niah_single cases at 300 tokens on stories260K.
json tiny_config(int cases) {
  return json::parse(R"({
    "name": "tiny",
    "models": [{"path": ")" +
                     test::stories260k().string() + R"(", "chat_template": "none"}],
    "methods": ["full", "streaming_llm", {"id": "snapkv", "params": {"window": 16}}],
    "budgets": {"ratios": [0.5]},
    "tasks": [{"id": "niah_single", "params": {"max_new_tokens": 8}}],
    "lengths": [300],
    "cases": )" + std::to_string(cases) +
                     R"(,
    "engine": {"threads": 1}
  })");
}

fs::path write_config(const std::string& name, const json& j) {
  fs::path p = test::tmp_dir() / name;
  std::ofstream(p) << j.dump(2);
  return p;
}

using Row = std::tuple<std::string, std::string, std::string, std::string, double>;
// (config hash, case id, status, prediction, score), sorted; timings ignored.
std::vector<Row> result_rows(const fs::path& db) {
  ResultsStore s(db, true);
  Statement q = s.prepare(
      "SELECT config_hash, case_id, status, prediction, COALESCE(score, -1) FROM samples ORDER BY config_hash, "
      "case_id");
  std::vector<Row> out;
  while (q.step()) out.emplace_back(q.text(0), q.text(1), q.text(2), q.text(3), q.real(4));
  return out;
}

int64_t scalar(const fs::path& db, const std::string& sql) {
  ResultsStore s(db, true);
  Statement q = s.prepare(sql);
  return q.step() ? q.integer(0) : -1;
}

SweepSummary sweep(const json& cfg, const fs::path& db, SweepOptions opt = {}) {
  opt.quiet = true;
  ResultsStore store(db);
  return run_sweep(parse_sweep_config(cfg, "test"), store, opt);
}

TEST(SweepConfig, YamlScalarsBecomeJsonTypes) {
  json j = yaml_to_json("a: 1\nb: 0.5\nc: true\nd: '7'\ne: text\nf: [1, x]\ng: ~\n", "t.yaml");
  EXPECT_EQ(j["a"], 1);
  EXPECT_EQ(j["b"], 0.5);
  EXPECT_EQ(j["c"], true);
  EXPECT_EQ(j["d"], "7");
  EXPECT_EQ(j["e"], "text");
  EXPECT_EQ(j["f"], json::parse("[1, \"x\"]"));
  EXPECT_TRUE(j["g"].is_null());
  try {
    yaml_to_json("a: [1, 2\nb: c", "bad.yaml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.yaml:"), std::string::npos) << e.what();
  }
}

TEST(SweepConfig, ListsEveryProblemAtOnce) {
  json j = tiny_config(2);
  j["methods"] = json::parse(R"(["full", "snapk", {"id": "streaming_llm", "params": {"n_snk": 2}}])");
  j["tasks"] = json::parse(R"(["niah_singel", {"id": "niah_single", "params": {"colour": "red"}}])");
  j["budgets"] = json::parse(R"({"ratios": [1.5]})");
  j["models"].push_back("/no/such/model.gguf");
  j["engine"]["threads"] = json::array({1, 2});
  j["seeds"] = json::array({-1});
  j["speed"] = "fast";
  try {
    parse_sweep_config(j, "cfg.yaml");
    FAIL() << "accepted a bad config";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_NE(m.find("cfg.yaml: 9 problems"), std::string::npos) << m;
    for (const char* frag : {"'snapk' (did you mean 'snapkv'?)", "'n_snk' (did you mean 'n_sink'?)",
                             "'niah_singel' (did you mean 'niah_single'?)", "colour", "got 1.5", "/no/such/model.gguf",
                             "not a grid axis", "seeds", "unknown key 'speed'"})
      EXPECT_NE(m.find(frag), std::string::npos) << "missing '" << frag << "' in " << m;
  }
}

TEST(SweepConfig, GridExpansionAndConfigHashes) {
  json j = tiny_config(4);
  j["budgets"] = json::parse(R"({"ratios": [0.25, 0.5], "tokens": [64]})");
  j["mode"] = json::array({"query_agnostic", "query_aware"});
  j["seeds"] = json::array({0, 1});
  SweepConfig c = parse_sweep_config(j, "t");
  auto cells = expand_grid(c);
  // full: 1 budget x 1 mode; the two others: 3 budgets x 2 modes; each x 2 seeds.
  EXPECT_EQ(cells.size(), size_t((1 + 2 * 3 * 2) * 2));
  std::set<std::string> hashes;
  for (const auto& cell : cells) hashes.insert(config_hash(cell.canonical("fnv1a64:x", c.models[cell.model])));
  EXPECT_EQ(hashes.size(), cells.size());
  EXPECT_EQ(cells[0].expected_cases, 4);
  EXPECT_EQ(cells[0].task_params.get_string("length"), "300");
  // The number of cases is not part of a configuration: more cases extend the same configurations.
  SweepConfig more = parse_sweep_config(tiny_config(9), "t");
  SweepConfig fewer = parse_sweep_config(tiny_config(2), "t");
  EXPECT_EQ(config_hash(expand_grid(more)[1].canonical("h", more.models[0])),
            config_hash(expand_grid(fewer)[1].canonical("h", fewer.models[0])));
  EXPECT_NE(config_hash(expand_grid(more)[1].canonical("h", more.models[0])),
            config_hash(expand_grid(more)[1].canonical("other model", more.models[0])));
}

// engine.matmul int8 changes the numbers, so it is part of a configuration's identity; f32 (the
// default) leaves every existing hash as it was.
TEST(SweepConfig, MatmulIsValidatedAndPartOfTheIdentity) {
  const SweepConfig plain = parse_sweep_config(tiny_config(2), "t");
  json j = tiny_config(2);
  j["engine"]["matmul"] = "f32";
  const SweepConfig f32 = parse_sweep_config(j, "t");
  j["engine"]["matmul"] = "int8";
  const SweepConfig int8 = parse_sweep_config(j, "t");
  EXPECT_EQ(int8.engine.matmul, "int8");
  const SweepCell cell = expand_grid(plain)[1];
  EXPECT_EQ(config_hash(cell.canonical("h", plain.models[0], plain.engine)),
            config_hash(cell.canonical("h", f32.models[0], f32.engine)));
  EXPECT_NE(config_hash(cell.canonical("h", plain.models[0], plain.engine)),
            config_hash(cell.canonical("h", int8.models[0], int8.engine)));
  EXPECT_EQ(cell.canonical("h", int8.models[0], int8.engine)["model"]["compute"],
            (json{{"backend", "cpu"}, {"matmul", "int8"}, {"attention_scores", "int8"}}));
  for (const auto& [engine, message] :
       {std::pair{json{{"matmul", "int4"}}, "engine.matmul: expected f32 or int8, got 'int4'"},
        std::pair{json{{"backend", "cuda"}, {"matmul", "int8"}}, "engine.matmul: int8 is a cpu backend option"}}) {
    json bad = tiny_config(2);
    bad["engine"] = engine;
    try {
      parse_sweep_config(bad, "cfg.yaml");
      FAIL() << "accepted engine " << engine.dump();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
}

TEST(SweepConfig, ShippedConfigsAreValid) {
  for (const char* name : {"ruler.yaml", "niah_grid.yaml", "mqar.yaml", "summarization.yaml", "quickstart.yaml"}) {
    fs::path p = test::source_dir() / "configs" / name;
    ASSERT_TRUE(fs::exists(p)) << p;
    if (!fs::exists(test::smollm2_gguf())) continue;  // they name the default model
    try {
      SweepConfig c = load_sweep_config(p);
      EXPECT_FALSE(expand_grid(c).empty()) << name;
    } catch (const Error& e) {
      ADD_FAILURE() << name << ": " << e.what();
    }
  }
}

TEST(Sweep, ShardsAreDeterministicAndBalanced) {
  EXPECT_EQ(parse_shard("1/4").index, 1);
  EXPECT_EQ(parse_shard("1/4").count, 4);
  for (const char* bad : {"4/4", "-1/2", "1", "a/b", "1/0", "1/2x"}) EXPECT_THROW(parse_shard(bad), Error) << bad;
  std::vector<WorkUnit> units;
  for (int i = 0; i < 200; ++i)
    units.push_back({fmt::format("c{}", i % 7), fmt::format("case{}", i), double(100 + (i * 37) % 1000)});
  std::vector<double> loads(3, 0.0), loads2(3, 0.0);
  auto a = assign_shards(units, loads);
  auto b = assign_shards(units, loads2);
  EXPECT_EQ(a, b);
  double total = 0;
  for (auto& u : units) total += u.cost;
  for (double l : loads) EXPECT_NEAR(l, total / 3, 1100.0);  // within one unit's cost
  std::vector<int> per(3, 0);
  for (int s : a) ++per[size_t(s)];
  for (int n : per) EXPECT_GT(n, 50);
}

TEST(Sweep, StoresEveryCaseAndResumes) {
  fs::path db = fresh("sweep_resume.db");
  SweepSummary s = sweep(tiny_config(3), db);
  EXPECT_EQ(s.configs, 3);
  EXPECT_EQ(s.ran, 9);
  EXPECT_EQ(s.ok, 9);
  auto rows = result_rows(db);
  ASSERT_EQ(rows.size(), 9u);
  EXPECT_EQ(scalar(db,
                   "SELECT count(*) FROM samples WHERE prompt_tokens > 0 AND prefill_seconds > 0 AND "
                   "kv_nominal_bytes > 0 AND kv_resident_bytes > 0 AND peak_rss_bytes > 0 AND threads = 1 AND "
                   "backend = 'cpu' AND generated_tokens > 0 AND decode_p95_seconds >= decode_p50_seconds"),
            9);
  // Compressing methods hold about half the context's entries; full keeps them all.
  EXPECT_EQ(scalar(db,
                   "SELECT count(*) FROM samples s JOIN configs c USING (config_hash) WHERE c.method <> 'full' "
                   "AND s.kv_resident_bytes < s.kv_nominal_bytes"),
            6);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 1);

  SweepSummary again = sweep(tiny_config(3), db);
  EXPECT_EQ(again.ran, 0);
  EXPECT_EQ(again.already_stored, 9);
  // More cases per cell extend the same configurations.
  SweepSummary more = sweep(tiny_config(4), db);
  EXPECT_EQ(more.ran, 3);
  EXPECT_EQ(more.already_stored, 9);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM configs"), 3);
  SweepOptions force;
  force.force = true;
  SweepSummary forced = sweep(tiny_config(4), db, force);
  EXPECT_EQ(forced.ran, 12);
  auto after = result_rows(db);
  EXPECT_EQ(after.size(), 12u);
  for (const auto& r : rows) EXPECT_NE(std::find(after.begin(), after.end(), r), after.end());  // deterministic
}

TEST(Sweep, FailuresAreIsolatedAndRerunOnRequest) {
  json j = tiny_config(2);
  // A bad method value fails its configuration when the method is built (one row); a bad task value
  // fails case generation (one row for the configuration); the rest runs.
  j["methods"] = json::parse(R"(["full", {"id": "adakv", "params": {"alpha_safeguard": 7}}])");
  j["tasks"] =
      json::parse(R"([{"id": "niah_single", "params": {"max_new_tokens": 8, "haystack": ["noise", "bogus"]}}])");
  fs::path db = fresh("sweep_failures.db");
  SweepSummary s = sweep(j, db);
  EXPECT_EQ(s.configs, 4);
  EXPECT_EQ(s.ok, 2);             // full, noise
  EXPECT_EQ(s.errors, 0);
  EXPECT_EQ(s.config_errors, 3);  // bogus haystack for both methods; adakv's alpha_safeguard with noise
  EXPECT_EQ(
      scalar(db, "SELECT count(*) FROM samples WHERE case_id = '*' AND status = 'error' AND reason LIKE '%bogus%'"), 2);
  EXPECT_EQ(
      scalar(db,
             "SELECT count(*) FROM samples WHERE case_id = '*' AND status = 'error' AND reason LIKE '%alpha_safeguard%'"),
      1);

  SweepSummary again = sweep(j, db);
  EXPECT_EQ(again.ran, 0);
  EXPECT_EQ(again.config_errors, 0);
  SweepOptions rerun;
  rerun.rerun_failed = true;
  SweepSummary retried = sweep(j, db, rerun);
  EXPECT_EQ(retried.ran, 0);  // the ok cases are kept; the failing configurations fail again
  EXPECT_EQ(retried.config_errors, 3);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM samples"), 5);
}

TEST(Sweep, AModelThatFailsToLoadFailsOnlyItsConfigurations) {
  fs::path broken = test::tmp_dir() / "sweep_truncated.gguf";
  fs::remove(broken);
  fs::copy_file(test::stories260k(), broken);
  fs::permissions(broken, fs::perms::owner_read | fs::perms::owner_write);
  fs::resize_file(broken, fs::file_size(broken) / 2);
  json j = tiny_config(2);
  j["models"].push_back(broken.string());
  fs::path db = fresh("sweep_broken_model.db");
  SweepSummary s = sweep(j, db);
  EXPECT_EQ(s.configs, 6);
  EXPECT_EQ(s.ok, 6);
  EXPECT_EQ(s.config_errors, 3);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM samples s JOIN configs c USING (config_hash) WHERE c.model_name = "
                       "'sweep_truncated.gguf' AND s.case_id = '*' AND s.reason LIKE 'loading %sweep_truncated.gguf%'"),
            3);
}

TEST(Sweep, ShardsTogetherEqualTheWholeSweep) {
  const json cfg = tiny_config(5);
  fs::path whole = fresh("shard_whole.db"), s0 = fresh("shard_0.db"), s1 = fresh("shard_1.db"),
           merged = fresh("shard_merged.db");
  sweep(cfg, whole);
  SweepOptions o0, o1;
  o0.shard = parse_shard("0/2");
  o1.shard = parse_shard("1/2");
  SweepSummary a = sweep(cfg, s0, o0), b = sweep(cfg, s1, o1);
  EXPECT_EQ(a.ran + b.ran, 15);
  EXPECT_EQ(a.other_shards, b.ran);
  EXPECT_GE(std::min(a.ran, b.ran), 6);
  auto r = test::run_kvbench("merge '" + s0.string() + "' '" + s1.string() + "' -o '" + merged.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(result_rows(merged), result_rows(whole));
  // Merging a database whose results differ is refused and changes nothing.
  {
    ResultsStore w(whole);
    w.exec("UPDATE samples SET prediction = 'tampered' WHERE rowid = (SELECT MIN(rowid) FROM samples)");
  }
  auto bad = test::run_kvbench("merge '" + whole.string() + "' -o '" + merged.string() + "'");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("conflicting duplicate"), std::string::npos) << bad.output;
  EXPECT_EQ(scalar(merged, "SELECT count(*) FROM samples WHERE prediction = 'tampered'"), 0);
}

// Starts `kvbench args...` with its output discarded; returns the pid.
pid_t spawn_kvbench(const std::vector<std::string>& args) {
  std::vector<std::string> all{kvb::test::kvbench_binary()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, kvb::test::kvbench_binary(), &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// Samples stored so far, read by a separate connection as the sweep writes (0 before the schema exists).
int64_t stored_samples(const fs::path& db) {
  sqlite3* h = nullptr;
  int64_t n = 0;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(h, 1000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, "SELECT count(*) FROM samples", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(h);
  return n;
}

TEST(SweepCli, SigkillAtSeveralPointsThenResumeEqualsAnUninterruptedRun) {
  const int cases = 30;  // x 3 configurations
  const int total = 3 * cases;
  fs::path cfg = write_config("crash.json", tiny_config(cases));
  fs::path reference = fresh("crash_reference.db"), db = fresh("crash.db");
  auto r = test::run_kvbench("sweep '" + cfg.string() + "' --db '" + reference.string() + "' -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto expected = result_rows(reference);
  ASSERT_EQ(expected.size(), size_t(total));

  int kills = 0;
  for (int target : {0, total / 4, total / 2, 3 * total / 4}) {
    pid_t pid = spawn_kvbench({"sweep", cfg.string(), "--db", db.string(), "-q"});
    ASSERT_GT(pid, 0);
    int status = 0;
    bool exited = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      if (target == 0 || stored_samples(db) >= target) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!exited) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ++kills;
    }
    const int64_t n = stored_samples(db);
    EXPECT_LE(n, total);
  }
  EXPECT_GE(kills, 3) << "the sweep finished before it could be killed; make it longer";
  const int64_t before_resume = stored_samples(db);
  EXPECT_LT(before_resume, total);
  r = test::run_kvbench("sweep '" + cfg.string() + "' --db '" + db.string() + "' -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(fmt::format("{} cases run", total - before_resume)), std::string::npos) << r.output;
  EXPECT_EQ(result_rows(db), expected);  // no loss, no duplicates, same results
  EXPECT_EQ(scalar(db, "SELECT count(DISTINCT config_hash || '/' || case_id) FROM samples"), total);
  EXPECT_GE(scalar(db, "SELECT count(*) FROM runs WHERE ended_at IS NULL"), 3);  // the killed runs
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 1);
}

TEST(SweepCli, DryRunBadInputAndCorruptDatabase) {
  fs::path cfg = write_config("cli.json", tiny_config(2));
  fs::path db = fresh("cli.db");
  auto dry = test::run_kvbench("sweep '" + cfg.string() + "' --dry-run");
  EXPECT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find("3 configurations"), std::string::npos) << dry.output;
  EXPECT_NE(dry.output.find("6 cases"), std::string::npos) << dry.output;
  EXPECT_NE(dry.output.find("estimated time"), std::string::npos) << dry.output;
  EXPECT_FALSE(fs::exists(db));

  json bad = tiny_config(2);
  bad["tasks"] = json::array({"niah_singel"});
  auto r = test::run_kvbench("sweep '" + write_config("cli_bad.json", bad).string() + "' --db '" + db.string() + "'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("did you mean 'niah_single'"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_FALSE(fs::exists(db));  // nothing created before validation passed

  fs::path junk = test::tmp_dir() / "cli_junk.db";
  std::ofstream(junk) << "these bytes are someone's data, not a database";
  r = test::run_kvbench("sweep '" + cfg.string() + "' --db '" + junk.string() + "'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("not a kvbench results database"), std::string::npos) << r.output;
  std::ifstream f(junk);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(f), {}), "these bytes are someone's data, not a database");
  r = test::run_kvbench("inspect /no/such.db");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = test::run_kvbench("sweep '" + cfg.string() + "' --db '" + db.string() + "' --shard 2/2");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST(SweepCli, RunInspectExport) {
  fs::path db = fresh("cli_run.db");
  const std::string model = test::stories260k().string();
  auto r = test::run_kvbench("run --model '" + model +
                             "' --task niah_single --length 300 --n 3 --param max_new_tokens=8 "
                             "--chat-template none --method streaming_llm --ratio 0.5 -t 1 --db '" +
                             db.string() + "' -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("3 cases run (3 ok"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("niah_single | streaming_llm ratio 0.5 | 3 ok cases stored"), std::string::npos) << r.output;
  r = test::run_kvbench("run --model '" + model +
                        "' --task niah_single --length 300 --n 3 --param max_new_tokens=8 "
                        "--chat-template none --method streaming_llm --ratio 0.5 -t 1 --db '" +
                        db.string() + "' -q");
  EXPECT_NE(r.output.find("0 cases run"), std::string::npos) << r.output;

  r = test::run_kvbench("inspect '" + db.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* frag : {"2 runs, 1 configurations, 3 samples (3 ok", "streaming_llm", "r0.5", "3/3", "commit "})
    EXPECT_NE(r.output.find(frag), std::string::npos) << "missing '" << frag << "' in\n" << r.output;

  r = test::run_kvbench("export '" + db.string() + "' --format csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 4) << r.output;  // header + 3 rows
  EXPECT_EQ(r.output.rfind("model_name,model_hash,", 0), 0u) << r.output;
  fs::path jl = test::tmp_dir() / "cli_run.jsonl";
  r = test::run_kvbench("export '" + db.string() + "' --format jsonl -o '" + jl.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream f(jl);
  int n = 0;
  for (std::string line; std::getline(f, line); ++n) {
    json row = json::parse(line);
    EXPECT_EQ(row["method"], "streaming_llm");
    EXPECT_EQ(row["status"], "ok");
    EXPECT_TRUE(row["task_params"].is_object());
  }
  EXPECT_EQ(n, 3);
}

}  // namespace
}  // namespace kvb

namespace kvb {
namespace {

// `eval` and `run` are one code path (eval = run into an in-memory store): the same flags give the
// same cases, predictions and scores, and one --param rule for both.
TEST(SweepCli, EvalAndRunGiveTheSameCasesAndScores) {
  const fs::path db = fresh("eval_vs_run.db"), out = test::tmp_dir() / "eval_vs_run.json";
  const std::string flags = "--model '" + test::stories260k().string() +
                            "' --task niah_single --length 600 --n 3 --param max_new_tokens=8 --chat-template none "
                            "--method snapkv --ratio 0.5 --param window=16 -t 1 -q";
  auto e = test::run_kvbench("eval " + flags + " --json '" + out.string() + "'");
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_NE(e.output.find("niah_single v1 | model stories260K | method snapkv ratio 0.5 | 3 cases"),
            std::string::npos)
      << e.output;
  auto r = test::run_kvbench("run " + flags + " --db '" + db.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream f(out);
  const json eval_json = json::parse(f);
  EXPECT_EQ(eval_json["method_params"]["window"], "16");
  ResultsStore store(db, true);
  Statement q = store.prepare("SELECT case_id, prediction, score, kept_tokens FROM samples ORDER BY case_id");
  size_t i = 0;
  for (; q.step(); ++i) {
    ASSERT_LT(i, eval_json["cases"].size());
    const json& c = eval_json["cases"][i];
    EXPECT_EQ(c["case_id"], q.text(0));
    EXPECT_EQ(c["prediction"], q.text(1));
    EXPECT_EQ(c["score"].get<double>(), q.real(2));
    EXPECT_EQ(c["kept_tokens"].get<int64_t>(), q.integer(3));
  }
  EXPECT_EQ(i, 3u);
}

TEST(SweepCli, ParamDeclaredByTaskAndMethodIsRefusedByEvalAndRun) {
  // kvpress_jsonl and adakv both declare `scorer`.
  const fs::path rows = test::tmp_dir() / "param_rule.jsonl";
  std::ofstream(rows) << R"({"context": "a b c", "question": "q?", "answer_prefix": "", "answer": "a"})" << "\n";
  const fs::path db = fresh("param_rule.db");
  for (const std::string& cmd : std::vector<std::string>{"eval", "run --db '" + db.string() + "'"}) {
    auto r = test::run_kvbench(cmd + " --model '" + test::stories260k().string() + "' --task kvpress_jsonl --param file='" +
                               rows.string() + "' --method adakv --ratio 0.5 --param scorer=knorm");
    EXPECT_EQ(r.exit_code, 2) << cmd << ": " << r.output;
    EXPECT_NE(r.output.find("--param scorer=knorm: both task 'kvpress_jsonl' and method 'adakv' have 'scorer'; use "
                            "--task-param or --method-param"),
              std::string::npos)
        << cmd << ": " << r.output;
  }
}

// A method that cannot be built for the model (duo_attention without head scores) fails the
// configuration once, before any case runs: eval and run exit 2 naming the fix; run keeps the
// configuration's error row in its database.
TEST(SweepCli, MethodThatCannotBeBuiltIsTheCommandsError) {
  const fs::path db = fresh("unbuildable_method.db");
  for (const std::string& cmd : std::vector<std::string>{"eval", "run --db '" + db.string() + "'"}) {
    auto r = test::run_kvbench(cmd + " -q --model '" + test::stories260k().string() +
                               "' --task niah_single --length 400 --n 2 --method duo_attention --ratio 0.5");
    EXPECT_EQ(r.exit_code, 2) << cmd << ": " << r.output;
    EXPECT_NE(r.output.find("kvbench calibrate duo"), std::string::npos) << cmd << ": " << r.output;
  }
  ResultsStore store(db.string());
  Statement q = store.prepare("SELECT case_id, status FROM samples");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.text(0), "*");
  EXPECT_EQ(q.text(1), "error");
  EXPECT_FALSE(q.step());
}

}  // namespace
}  // namespace kvb
