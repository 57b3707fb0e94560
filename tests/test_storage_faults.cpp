// Storage faults on real SQLite files through the real binary: corrupt and truncated databases, a
// read-only filesystem and a full one (small tmpfs mounts; skipped with the reason where mount is not
// permitted), two sweeps writing one database at once, and SIGKILL inside `kvbench merge`'s transaction
// and halfway through `kvbench report`'s write (KVB_FAULT_POINT, harness/core/fault_point.h). Each ends
// in one clear error (exit 2) or a correct result, and the tests compare whole row sets: nothing stored
// is lost or duplicated. docs/reliability.md. Run: build/tests/kvb_tests --gtest_filter='StorageFaults*'
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "store/results_store.h"
#include "store_fixtures.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;
using RowSet = std::multiset<std::string>;

fs::path dir_for(const std::string& test) {
  const fs::path d = test::tmp_dir() / ("faults_" + test + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every stored row that matters, as text, in a multiset (a duplicate shows as a second element).
// Run ids differ between databases (merge maps them), so runs are keyed by uuid and samples by
// content. Read with plain SQLite, read-only, so a fault in our store cannot hide a lost row.
RowSet rows(const fs::path& db) {
  RowSet out;
  sqlite3* h = nullptr;
  // On a read-only filesystem SQLite cannot create the -shm file a WAL database needs: read immutable.
  const bool ro_folder = access(db.parent_path().c_str(), W_OK) != 0;
  const std::string uri = "file:" + db.string() + (ro_folder ? "?immutable=1" : "?mode=ro");
  EXPECT_EQ(sqlite3_open_v2(uri.c_str(), &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr), SQLITE_OK) << db;
  const char* queries[] = {
      "SELECT 'run', uuid, status, command FROM runs",
      "SELECT 'config', config_hash, canonical_json, method, task FROM configs",
      "SELECT 'sample', config_hash, case_id, case_hash, status, reason, prediction, answers, score FROM samples",
      "SELECT 'file_hash', path, size, mtime_ns, hash FROM file_hashes",
  };
  for (const char* sql : queries) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, sql, -1, &st, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << db << ": " << sqlite3_errmsg(h) << " (" << sql << ")";
      continue;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        const unsigned char* t = sqlite3_column_text(st, i);
        row += (i ? "|" : "") + std::string(t ? reinterpret_cast<const char*>(t) : "NULL");
      }
      out.insert(row);
    }
    EXPECT_EQ(rc, SQLITE_DONE) << db << ": " << sqlite3_errmsg(h);
    sqlite3_finalize(st);
  }
  sqlite3_close(h);
  return out;
}

// What `got` lacks and what it has too many of, against `want` (a readable failure message).
std::string row_diff(const RowSet& got, const RowSet& want) {
  std::string out;
  std::set<std::string> keys(got.begin(), got.end());
  keys.insert(want.begin(), want.end());
  for (const std::string& k : keys) {
    const size_t g = got.count(k), w = want.count(k);
    if (g != w) out += (g < w ? "\n  missing: " : "\n  extra:   ") + k.substr(0, 160) + " (" + std::to_string(g) + " vs " + std::to_string(w) + ")";
  }
  return out.empty() ? "(none)" : out;
}

RowSet set_union(const RowSet& a, const RowSet& b) {
  std::set<std::string> u(a.begin(), a.end());
  u.insert(b.begin(), b.end());
  return RowSet(u.begin(), u.end());
}

ConfigRecord config(const std::string& hash) { return test::config_record(hash); }

// A database with one run, one config `tag` and `n` ok samples whose predictions are `pad` bytes long,
// checkpointed (no -wal left) so the file alone is the database.
fs::path make_db(const fs::path& p, const std::string& tag, int n, int pad = 16) {
  for (const char* ext : {"", "-wal", "-shm"}) fs::remove(p.string() + ext);
  ResultsStore s(p);
  const int64_t run = s.begin_run({{"command", "test " + tag}});
  s.put_config(config(tag));
  s.exec("BEGIN");
  Statement ins = s.prepare(
      "INSERT INTO samples (config_hash, case_id, case_hash, run_id, status, reason, prediction, answers, score, "
      "finished_at) WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1) "
      "SELECT ?2, ?2 || '/' || i, 'h' || i, ?3, 'ok', '', printf('%.*c', ?4, 'x') || i, '[\"a\"]', i % 101, 'now' "
      "FROM n");
  ins.bind(1, int64_t(n)).bind(2, tag).bind(3, run).bind(4, int64_t(pad));
  ins.run();
  s.exec("COMMIT");
  s.end_run(run, "finished");
  s.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  return p;
}

// The one "error:" line of a failed command, and that it is the only one.
void expect_one_error(const test::CommandResult& r, const std::string& must_contain) {
  EXPECT_EQ(r.exit_code, 2) << r.output;
  size_t errors = 0;
  for (size_t p = 0; (p = r.output.find("error:", p)) != std::string::npos; p += 6) ++errors;
  EXPECT_EQ(errors, 1u) << r.output;
  EXPECT_NE(r.output.find(must_contain), std::string::npos) << "expected '" << must_contain << "' in: " << r.output;
}

// A tmpfs at `dir` (options e.g. "size=2m"); empty string when mounted, else why not.
std::string mount_tmpfs(const fs::path& dir, const std::string& options) {
  fs::create_directories(dir);
  const std::string cmd = "mount -t tmpfs -o " + options + " kvb_test " + q(dir) + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[256];
  size_t n;
  while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = p ? pclose(p) : -1;
  if (rc == 0) return "";
  return "cannot mount a tmpfs (" + (out.empty() ? std::string("mount failed") : out) + "); run as root to test this";
}

struct Unmount {
  fs::path dir;
  ~Unmount() { std::system(("umount " + q(dir) + " 2>/dev/null").c_str()); }
};

// ------------------------------------------------------------------- corrupt and truncated files

TEST(StorageFaults, CorruptOrTruncatedDatabaseIsOneErrorAndNoRowChanges) {
  const fs::path d = dir_for("corrupt");
  const fs::path good = make_db(d / "good.db", "good", 400, 200);
  const RowSet good_rows = rows(good);
  ASSERT_EQ(good_rows.size(), 402u);  // run + config + 400 samples
  const std::string bytes = read_file(good);
  ASSERT_GT(bytes.size(), 32768u);

  struct Damage {
    std::string name, content, message;
  };
  std::string scribbled = bytes;  // pages in the middle overwritten (a bad sector, a bad copy)
  for (size_t i = bytes.size() / 3; i < bytes.size() / 3 + 8192; ++i) scribbled[i] = char(i * 131);
  std::string header = bytes;  // the SQLite header itself damaged
  for (size_t i = 0; i < 100; ++i) header[i] = char(0xA5);
  const std::vector<Damage> damages = {
      {"truncated_half", bytes.substr(0, bytes.size() / 2), "malformed"},
      {"truncated_header", bytes.substr(0, 50), "not a kvbench results database"},
      {"scribbled", scribbled, "malformed"},
      {"bad_header", header, "not a kvbench results database"},
  };
  for (const Damage& dm : damages) {
    SCOPED_TRACE(dm.name);
    const fs::path bad = d / (dm.name + ".db");
    std::ofstream(bad, std::ios::binary) << dm.content;
    const fs::path out = make_db(d / ("out_" + dm.name + ".db"), "out", 30);
    const RowSet out_before = rows(out);

    // report: one error naming the file; no half report left behind.
    const fs::path html = d / (dm.name + ".html");
    auto r = test::run_kvbench("report " + q(bad) + " -o " + q(html));
    expect_one_error(r, bad.string());
    EXPECT_NE(r.output.find(dm.message), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(html));
    EXPECT_FALSE(fs::exists(html.string() + ".tmp"));

    // merge: a damaged input is refused before anything is written, even after a good input.
    r = test::run_kvbench("merge " + q(good) + " " + q(bad) + " -o " + q(out));
    expect_one_error(r, bad.string());
    EXPECT_EQ(rows(out), out_before) << "the output changed although the merge failed";
    EXPECT_EQ(rows(good), good_rows);

    // merging into a damaged database: refused, and the damaged file is left exactly as it was.
    r = test::run_kvbench("merge " + q(good) + " -o " + q(bad));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_EQ(read_file(bad), dm.content);
  }
}

// ------------------------------------------------------------------- read-only filesystem

TEST(StorageFaults, ReadOnlyDatabaseIsReadableAndRefusesWritesWithOneError) {
  const fs::path d = dir_for("readonly"), mnt = d / "ro";
  if (const std::string why = mount_tmpfs(mnt, "size=8m"); !why.empty()) GTEST_SKIP() << why;
  Unmount guard{mnt};
  const fs::path db = make_db(mnt / "results.db", "ro", 50);
  const RowSet before = rows(db);
  // The database file alone, as kvbench leaves it after a sweep (reading above left an empty -wal and
  // a -shm behind; with a -shm present SQLite could read it without help).
  ASSERT_EQ(fs::file_size(db.string() + "-wal"), 0u);
  fs::remove(db.string() + "-wal");
  fs::remove(db.string() + "-shm");
  ASSERT_EQ(std::system(("mount -o remount,ro " + q(mnt)).c_str()), 0);

  // Reading works: a report, and merging it into a database elsewhere.
  auto r = test::run_kvbench("report " + q(db) + " -o " + q(d / "ro.html"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(d / "ro.html"));
  const fs::path copy = d / "copy.db";
  r = test::run_kvbench("merge " + q(db) + " -o " + q(copy));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(rows(copy), before);

  // Writing is one error: merging into it, and a sweep storing into it.
  const fs::path other = make_db(d / "other.db", "other", 5);
  r = test::run_kvbench("merge " + q(other) + " -o " + q(db));
  expect_one_error(r, db.string());
  const fs::path yaml = d / "sweep.yaml";
  std::ofstream(yaml) << "models: ['builtin:oracle']\nmethods: [full]\ntasks:\n  - {id: niah_single, params: {form: "
                         "symbolic}}\nlengths: [256]\ncases: 2\nengine: {threads: 1}\n";
  r = test::run_kvbench("sweep " + q(yaml) + " --db " + q(db) + " -q");
  expect_one_error(r, db.string());
  EXPECT_EQ(rows(db), before);
}

// ------------------------------------------------------------------- full disk

TEST(StorageFaults, FullDiskDuringMergeIsOneErrorAndKeepsEveryRow) {
  const fs::path d = dir_for("full"), mnt = d / "small";
  if (const std::string why = mount_tmpfs(mnt, "size=3m"); !why.empty()) GTEST_SKIP() << why;
  Unmount guard{mnt};
  const fs::path out = make_db(mnt / "results.db", "kept", 200, 100);
  const RowSet before = rows(out);
  // 6000 samples of 1 KB: about 7 MB, more than the mount holds.
  const fs::path big = make_db(d / "big.db", "big", 6000, 1000);
  const RowSet big_rows = rows(big);

  auto r = test::run_kvbench("merge " + q(big) + " -o " + q(out));
  expect_one_error(r, "full");
  EXPECT_EQ(rows(out), before) << "a failed merge changed the stored rows";
  {
    ResultsStore s(out, true);
    Statement ic = s.prepare("PRAGMA integrity_check");
    ASSERT_TRUE(ic.step());
    EXPECT_EQ(ic.text(0), "ok");
  }
  // With room again the same merge completes: every row of both, each once.
  ASSERT_EQ(std::system(("mount -o remount,size=64m " + q(mnt)).c_str()), 0);
  r = test::run_kvbench("merge " + q(big) + " -o " + q(out));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(rows(out), set_union(before, big_rows));
}

// ------------------------------------------------------------------- two writers

TEST(StorageFaults, TwoSweepsWritingOneDatabaseAtOnceStoreEveryRowOnce) {
  const fs::path d = dir_for("concurrent");
  // Two sweeps sharing one method (streaming_llm: both compute and store those cells) on one database.
  auto write_yaml = [&](const std::string& name, const std::string& methods) {
    std::ofstream(d / name) << "models: ['builtin:oracle']\nmethods: [" << methods
                            << "]\nbudgets: {ratios: [0.5]}\ntasks:\n  - {id: niah_single, params: {form: symbolic}}\n"
                               "  - {id: niah_multikey, params: {form: symbolic}}\nlengths: [256]\ncases: 6\n"
                               "engine: {threads: 1}\n";
  };
  write_yaml("a.yaml", "full, streaming_llm, h2o");
  write_yaml("b.yaml", "streaming_llm, snapkv, random");
  const fs::path shared = d / "shared.db", ref_a = d / "ref_a.db", ref_b = d / "ref_b.db";
  const std::string bin = q(kvb::test::kvbench_binary());
  auto sweep_cmd = [&](const std::string& yaml, const fs::path& db, const std::string& tag) {
    return "(" + bin + " sweep " + q(d / yaml) + " --db " + q(db) + " -q > " + q(d / (tag + ".log")) +
           " 2>&1; echo $? > " + q(d / (tag + ".rc")) + ")";
  };
  // At once, five times over (fresh database each time: the schema is created by both as well; the
  // look-then-insert race in put_config failed about one round in three).
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    for (const char* ext : {"", "-wal", "-shm"}) fs::remove(shared.string() + ext);
    const std::string both = sweep_cmd("a.yaml", shared, "a") + " & " + sweep_cmd("b.yaml", shared, "b") + " & wait";
    ASSERT_EQ(std::system(("bash -c " + q(both)).c_str()), 0);
    EXPECT_EQ(read_file(d / "a.rc"), "0\n") << read_file(d / "a.log");
    EXPECT_EQ(read_file(d / "b.rc"), "0\n") << read_file(d / "b.log");
  }
  // The same sweeps one after the other, each into its own database: the reference row sets.
  ASSERT_EQ(std::system(("bash -c " + q(sweep_cmd("a.yaml", ref_a, "ra") + "; " + sweep_cmd("b.yaml", ref_b, "rb")))
                            .c_str()),
            0);
  auto samples_only = [](const RowSet& all) {
    RowSet s;
    for (const std::string& r : all)
      if (r.rfind("sample|", 0) == 0) s.insert(r);
    return s;
  };
  const RowSet got = samples_only(rows(shared));
  const RowSet want = set_union(samples_only(rows(ref_a)), samples_only(rows(ref_b)));
  EXPECT_EQ(want.size(), 5u * 2u * 6u);  // 5 methods x 2 tasks x 6 cases
  EXPECT_TRUE(got == want) << "row differences:" << row_diff(got, want);
}

// ------------------------------------------------------------------- SIGKILL

TEST(StorageFaults, SigkillInsideMergeLeavesAllOrNothing) {
  const fs::path d = dir_for("kill_merge");
  const fs::path src = make_db(d / "src.db", "src", 300, 50);
  const RowSet src_rows = rows(src);
  for (const char* point : {"merge.after_runs", "merge.before_commit"}) {
    SCOPED_TRACE(point);
    const fs::path out = make_db(d / (std::string(point) + ".db"), "kept", 40);
    const RowSet before = rows(out);
    auto r = test::run_kvbench_env(std::string("KVB_FAULT_POINT=") + point, "merge " + q(src) + " -o " + q(out));
    ASSERT_EQ(r.exit_code, 128 + 9) << "not killed at " << point << ": " << r.output;
    EXPECT_EQ(rows(out), before) << "a merge killed inside its transaction left part of its rows";
    r = test::run_kvbench("merge " + q(src) + " -o " + q(out));  // the next merge recovers and completes
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(rows(out), set_union(before, src_rows));
  }
}

TEST(StorageFaults, SigkillHalfwayThroughReportLeavesThePreviousReport) {
  const fs::path d = dir_for("kill_report");
  const fs::path db = make_db(d / "results.db", "rep", 200);
  const RowSet before = rows(db);
  const fs::path html = d / "report.html";
  auto r = test::run_kvbench_env("KVB_FAULT_POINT=report.write", "report " + q(db) + " -o " + q(html));
  ASSERT_EQ(r.exit_code, 128 + 9) << r.output;
  EXPECT_FALSE(fs::exists(html)) << "a killed report left a partial page at the output path";
  r = test::run_kvbench("report " + q(db) + " -o " + q(html));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string complete = read_file(html);
  ASSERT_NE(complete.find("</html>"), std::string::npos);
  r = test::run_kvbench_env("KVB_FAULT_POINT=report.write", "report " + q(db) + " -o " + q(html));
  ASSERT_EQ(r.exit_code, 128 + 9) << r.output;
  EXPECT_EQ(read_file(html), complete) << "a killed report replaced the previous one with part of a page";
  EXPECT_EQ(rows(db), before);
}

}  // namespace
}  // namespace kvb
