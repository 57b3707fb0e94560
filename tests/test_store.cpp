// The SQLite results store on real files: schema, WAL and migrations, refusing foreign or newer
// files untouched, sample replacement, the model-hash cache, merges with conflict refusal, and the
// provenance recorded with runs. Run: build/tests/kvb_tests --gtest_filter='Store*:Provenance*'
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <utime.h>

#include <fstream>

#include "core/error.h"
#include "core/hash.h"
#include "core/percentile.h"
#include "store/provenance.h"
#include "store/results_store.h"
#include "store_fixtures.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

fs::path fresh_db(const std::string& name) {
  fs::path p = test::tmp_dir() / (name + ".db");
  for (const char* ext : {"", "-wal", "-shm"}) fs::remove(p.string() + ext);
  return p;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

ConfigRecord config(const std::string& hash) { return test::config_record(hash); }

SampleRecord sample(const std::string& config_hash, const std::string& case_id, const std::string& status,
                    const std::string& prediction, double score) {
  SampleRecord s;
  s.config_hash = config_hash;
  s.case_id = case_id;
  s.case_hash = "h-" + case_id;
  s.status = status;
  s.prediction = prediction;
  s.score = score;
  s.prompt_tokens = 100;
  s.prefill_seconds = 0.5;
  return s;
}

int64_t scalar(ResultsStore& s, const std::string& sql) {
  Statement q = s.prepare(sql);
  return q.step() ? q.integer(0) : -1;
}

TEST(Store, CreatesVersionedWalSchemaAndReopens) {
  fs::path p = fresh_db("store_create");
  {
    ResultsStore s(p);
    EXPECT_EQ(s.schema_version(), kStoreSchemaVersion);
    Statement q = s.prepare("PRAGMA journal_mode");
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.text(0), "wal");
    for (const char* t :
         {"runs", "configs", "samples", "run_configs", "file_hashes", "config_summary", "method_summary"})
      EXPECT_EQ(scalar(s, std::string("SELECT count(*) FROM sqlite_master WHERE name = '") + t + "'"), 1) << t;
    const int64_t run = s.begin_run({{"command", "test"}, {"argv", {"kvbench", "test"}}});
    EXPECT_GT(run, 0);
    s.end_run(run, "finished");
  }
  ResultsStore again(p);  // migrations are idempotent
  EXPECT_EQ(again.schema_version(), kStoreSchemaVersion);
  EXPECT_EQ(scalar(again, "SELECT count(*) FROM runs WHERE status = 'finished' AND ended_at IS NOT NULL"), 1);
  ResultsStore ro(p, true);
  EXPECT_EQ(scalar(ro, "SELECT count(*) FROM runs"), 1);
}

TEST(Store, RefusesFilesThatAreNotKvbenchStoresAndLeavesThemAlone) {
  fs::path text = fresh_db("store_text");
  std::ofstream(text) << "not a database at all, just some text that is long enough to look like a header\n";
  const std::string before = read_bytes(text);
  try {
    ResultsStore s(text);
    FAIL() << "opened a text file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a kvbench results database"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_bytes(text), before);

  fs::path other = fresh_db("store_other");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "CREATE TABLE precious (x); INSERT INTO precious VALUES (42);", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  EXPECT_THROW(ResultsStore s(other), Error);
  ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT x FROM precious", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 42);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(Store, RefusesNewerSchema) {
  fs::path p = fresh_db("store_newer");
  {
    ResultsStore s(p);
    s.exec("PRAGMA user_version = 99");
  }
  try {
    ResultsStore s(p);
    FAIL() << "opened a newer schema";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("newer kvbench"), std::string::npos) << e.what();
  }
}

TEST(Store, SamplesReplaceByConfigAndCase) {
  fs::path p = fresh_db("store_samples");
  ResultsStore s(p);
  s.put_config(config("c1"));
  s.put_config(config("c1"));  // same canonical JSON: fine
  ConfigRecord clash = config("c1");
  clash.canonical_json = "{\"other\":1}";
  EXPECT_THROW(s.put_config(clash), Error);
  s.put_sample(sample("c1", "a", "error", "", 0));
  s.put_sample(sample("c1", "b", "ok", "42", 100));
  auto stored = s.stored_cases("c1");
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored["a"].status, "error");
  EXPECT_EQ(stored["b"].case_hash, "h-b");
  s.put_sample(sample("c1", "a", "ok", "7", 0));
  EXPECT_EQ(scalar(s, "SELECT count(*) FROM samples"), 2);
  EXPECT_EQ(s.stored_cases("c1")["a"].status, "ok");
  EXPECT_EQ(scalar(s, "SELECT n FROM config_summary WHERE config_hash = 'c1'"), 2);
  // Error rows store no score.
  s.put_sample(sample("c1", "c", "error", "", 55));
  EXPECT_EQ(scalar(s, "SELECT count(*) FROM samples WHERE case_id = 'c' AND score IS NULL"), 1);
  s.delete_sample("c1", "c");
  EXPECT_EQ(scalar(s, "SELECT count(*) FROM samples"), 2);
  auto spt = s.seconds_per_token("fnv1a64:0");
  ASSERT_TRUE(spt.has_value());
  EXPECT_NEAR(*spt, 0.5 / 100.0, 1e-12);
}

TEST(Store, ModelHashIsCachedByPathSizeAndMtime) {
  fs::path model = test::tmp_dir() / "store_model.gguf";
  fs::remove(model);
  fs::copy_file(test::stories260k(), model);
  fs::permissions(model, fs::perms::owner_read | fs::perms::owner_write);
  fs::path p = fresh_db("store_hash");
  ResultsStore s(p);
  const std::string h = s.model_hash(model);
  EXPECT_EQ(h.rfind("fnv1a64:", 0), 0u);
  EXPECT_EQ(h, hash_model_files(test::stories260k()));
  EXPECT_EQ(scalar(s, "SELECT count(*) FROM file_hashes"), 1);
  EXPECT_EQ(s.model_hash(model), h);
  EXPECT_EQ(scalar(s, "SELECT count(*) FROM file_hashes"), 1);  // served from the cache
  EXPECT_EQ(scalar(s, "SELECT count(*) FROM file_hashes WHERE mtime_ns > 1000000000000000000"), 1);
  {
    std::fstream f(model, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');
  }
  struct utimbuf t {
    1000000000, 1000000000
  };
  utime(model.c_str(), &t);  // a new mtime: hashed again
  EXPECT_NE(s.model_hash(model), h);
  EXPECT_EQ(scalar(s, "SELECT count(*) FROM file_hashes"), 2);
}

TEST(Store, MergeCombinesShardsAndRefusesConflicts) {
  fs::path a = fresh_db("merge_a"), b = fresh_db("merge_b"), c = fresh_db("merge_c"), out = fresh_db("merge_out");
  {
    ResultsStore s(a);
    s.begin_run({{"command", "sweep"}});
    s.put_config(config("c1"));
    s.put_sample(sample("c1", "x", "ok", "1", 100));
    s.put_sample(sample("c1", "y", "error", "", 0));
  }
  {
    ResultsStore s(b);
    s.begin_run({{"command", "sweep"}});
    s.put_config(config("c1"));
    s.put_config(config("c2"));
    s.put_sample(sample("c1", "x", "ok", "1", 100));  // equal duplicate
    s.put_sample(sample("c1", "y", "ok", "2", 0));    // ok replaces an error
    s.put_sample(sample("c2", "z", "ok", "3", 100));
  }
  {
    ResultsStore s(c);
    s.put_config(config("c1"));
    s.put_sample(sample("c1", "x", "ok", "different", 0));  // conflicts with a's x
  }
  ResultsStore m(out);
  EXPECT_EQ(m.merge_from(a), 2);
  EXPECT_EQ(m.merge_from(b), 2);
  EXPECT_EQ(scalar(m, "SELECT count(*) FROM samples"), 3);
  EXPECT_EQ(scalar(m, "SELECT count(*) FROM samples WHERE status = 'ok'"), 3);
  EXPECT_EQ(scalar(m, "SELECT count(*) FROM runs"), 2);
  EXPECT_EQ(m.merge_from(a), 0);  // merging again changes nothing
  EXPECT_EQ(scalar(m, "SELECT count(*) FROM runs"), 2);
  try {
    m.merge_from(c);
    FAIL() << "merged a conflicting duplicate";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conflicting"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("different"), std::string::npos) << e.what();
  }
  EXPECT_EQ(scalar(m, "SELECT count(*) FROM samples"), 3);
  EXPECT_EQ(scalar(m, "SELECT count(*) FROM samples WHERE prediction = 'different'"), 0);
  EXPECT_THROW(m.merge_from(out), Error);
}

TEST(Store, Percentile) {
  EXPECT_EQ(percentile({}, 50), 0.0);
  EXPECT_EQ(percentile({3, 1, 2}, 50), 2.0);
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_EQ(percentile(v, 95), 95.0);
  EXPECT_EQ(percentile(v, 50), 50.0);
}

TEST(Provenance, BuildAndMachine) {
  const BuildInfo& b = build_info();
  EXPECT_FALSE(b.commit.empty());
  EXPECT_FALSE(b.build_type.empty());
  EXPECT_FALSE(b.compiler.empty());
  MachineInfo m = machine_info();
  EXPECT_FALSE(m.host.empty());
  EXPECT_GT(m.cpu_cores, 0);
  EXPECT_TRUE(m.libraries.contains("sqlite"));
  EXPECT_TRUE(m.libraries.contains("openblas"));
  EXPECT_GT(peak_rss_bytes(), 0);
  EXPECT_EQ(fnv1a64_hex(""), "cbf29ce484222325");
  EXPECT_EQ(utc_now().size(), 24u);
  auto argv = process_argv();
  ASSERT_FALSE(argv.empty());
  EXPECT_NE(argv[0].find("kvb_tests"), std::string::npos);
}

}  // namespace
}  // namespace kvb
