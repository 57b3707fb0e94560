// The SQLite results store; see results_store.h and docs/results-schema.md (keep the schema there in
// step with kMigrations). Migrations only ever move forward: migration i takes user_version i to i+1.
// Exercised by tests/test_store.cpp.
#include "store/results_store.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/fault_point.h"
#include "store/provenance.h"

namespace fs = std::filesystem;

namespace kvb {
namespace {

constexpr int kApplicationId = 0x6b766231;  // "kvb1": marks the file as a kvbench results store

// A WAL database in a folder nobody may write (a read-only filesystem, a read-only share) cannot be
// opened even read-only: SQLite must create its -shm file beside it. Nobody can change it there either,
// so such a file is read "immutable" (no locks, no -shm) -- unless a -wal file holds commits the
// database file lacks, which immutable reading would silently skip.
bool writable_folder(const fs::path& db) {
  const fs::path dir = db.has_parent_path() ? db.parent_path() : fs::path(".");
  return access(dir.c_str(), W_OK) == 0;
}

bool has_pending_wal(const fs::path& db) {
  std::error_code ec;
  const auto size = fs::file_size(db.string() + "-wal", ec);
  return !ec && size > 0;
}

std::string immutable_uri(const fs::path& db) {
  std::string out = "file:";
  for (char c : fs::absolute(db).string()) {
    if (c == '%' || c == '?' || c == '#')
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    else
      out += c;
  }
  return out + "?immutable=1";
}

// kMigrations[i] takes the schema from user_version i to i + 1.
const char* const kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
CREATE TABLE runs (
  run_id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  status TEXT NOT NULL DEFAULT 'running',
  command TEXT NOT NULL,
  argv TEXT NOT NULL,
  sweep_config TEXT,
  shard TEXT NOT NULL DEFAULT '',
  git_commit TEXT NOT NULL,
  git_dirty INTEGER NOT NULL,
  kvbench_version TEXT NOT NULL,
  build_type TEXT NOT NULL,
  compiler TEXT NOT NULL,
  cxx_flags TEXT NOT NULL,
  cpu_model TEXT NOT NULL,
  cpu_flags TEXT NOT NULL,
  cpu_cores INTEGER NOT NULL,
  gpu TEXT NOT NULL,
  libraries TEXT NOT NULL,
  host TEXT NOT NULL,
  os TEXT NOT NULL,
  pid INTEGER NOT NULL
);
CREATE TABLE configs (
  config_hash TEXT PRIMARY KEY,
  canonical_json TEXT NOT NULL,
  model_path TEXT NOT NULL,
  model_name TEXT NOT NULL,
  model_hash TEXT NOT NULL,
  chat_template TEXT NOT NULL,
  weights TEXT NOT NULL,
  method TEXT NOT NULL,
  method_version INTEGER NOT NULL,
  method_params TEXT NOT NULL,
  compression_ratio REAL NOT NULL,
  token_budget INTEGER NOT NULL,
  mode TEXT NOT NULL,
  task TEXT NOT NULL,
  task_version INTEGER NOT NULL,
  task_params TEXT NOT NULL,
  length INTEGER NOT NULL,
  seed INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE run_configs (
  run_id INTEGER NOT NULL REFERENCES runs(run_id),
  config_hash TEXT NOT NULL REFERENCES configs(config_hash),
  expected_cases INTEGER NOT NULL,
  PRIMARY KEY (run_id, config_hash)
);
CREATE TABLE samples (
  config_hash TEXT NOT NULL REFERENCES configs(config_hash),
  case_id TEXT NOT NULL,
  case_hash TEXT NOT NULL,
  run_id INTEGER REFERENCES runs(run_id),
  status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'skipped')),
  reason TEXT NOT NULL DEFAULT '',
  prediction TEXT NOT NULL DEFAULT '',
  answers TEXT NOT NULL DEFAULT '[]',
  scorer TEXT NOT NULL DEFAULT '',
  score REAL,
  prompt_tokens INTEGER,
  generated_tokens INTEGER,
  context_tokens INTEGER,
  kept_tokens INTEGER,
  prefill_seconds REAL,
  method_seconds REAL,
  decode_seconds REAL,
  decode_p50_seconds REAL,
  decode_p95_seconds REAL,
  decode_step_seconds TEXT NOT NULL DEFAULT '[]',
  kv_resident_bytes INTEGER,
  kv_nominal_bytes INTEGER,
  kv_peak_bytes INTEGER,
  peak_rss_bytes INTEGER,
  backend TEXT NOT NULL DEFAULT '',
  threads INTEGER,
  prefill_chunk INTEGER,
  finished_at TEXT NOT NULL,
  PRIMARY KEY (config_hash, case_id)
);
CREATE INDEX samples_status ON samples(status);
CREATE TABLE file_hashes (
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  hash TEXT NOT NULL,
  PRIMARY KEY (path, size, mtime_ns)
);
CREATE VIEW config_summary AS
SELECT c.config_hash, c.model_name, c.model_hash, c.method, c.method_params, c.compression_ratio, c.token_budget,
       c.mode, c.task, c.task_params, c.length, c.seed,
       COALESCE(SUM(s.status = 'ok'), 0) AS n,
       AVG(CASE WHEN s.status = 'ok' THEN s.score END) AS mean_score,
       COALESCE(SUM(s.status = 'error'), 0) AS errors,
       COALESCE(SUM(s.status = 'skipped'), 0) AS skipped,
       AVG(CASE WHEN s.status = 'ok' THEN s.prompt_tokens END) AS mean_prompt_tokens,
       AVG(CASE WHEN s.status = 'ok' THEN s.prefill_seconds END) AS mean_prefill_seconds,
       AVG(CASE WHEN s.status = 'ok' THEN s.method_seconds END) AS mean_method_seconds,
       AVG(CASE WHEN s.status = 'ok' THEN s.decode_p50_seconds END) AS mean_decode_p50_seconds,
       AVG(CASE WHEN s.status = 'ok' THEN s.kv_resident_bytes END) AS mean_kv_resident_bytes,
       AVG(CASE WHEN s.status = 'ok' THEN s.kv_nominal_bytes END) AS mean_kv_nominal_bytes,
       MAX(s.peak_rss_bytes) AS max_peak_rss_bytes
FROM configs c LEFT JOIN samples s ON s.config_hash = c.config_hash
GROUP BY c.config_hash;
CREATE VIEW method_summary AS
SELECT c.model_name, c.model_hash, c.method, c.method_params, c.compression_ratio, c.token_budget, c.mode,
       c.task, c.task_params, c.length,
       COUNT(DISTINCT c.seed) AS seeds,
       COUNT(*) AS n,
       AVG(s.score) AS mean_score,
       AVG(s.prefill_seconds) AS mean_prefill_seconds,
       AVG(s.kv_resident_bytes) AS mean_kv_resident_bytes
FROM samples s JOIN configs c ON s.config_hash = c.config_hash
WHERE s.status = 'ok'
GROUP BY c.model_hash, c.method, c.method_params, c.compression_ratio, c.token_budget, c.mode, c.task,
         c.task_params, c.length;
)sql",
    // 1 -> 2: per-case facts a report plots against (needle depths, target and actual token lengths).
    R"sql(
ALTER TABLE samples ADD COLUMN case_meta TEXT NOT NULL DEFAULT '{}';
)sql",
    // 2 -> 3: the device a case ran on and its GPU memory peak (CUDA backend).
    R"sql(
ALTER TABLE samples ADD COLUMN device TEXT NOT NULL DEFAULT '';
ALTER TABLE samples ADD COLUMN device_peak_bytes INTEGER NOT NULL DEFAULT 0;
)sql",
    // 3 -> 4: shared prefill (one prefill per case for several methods): how many rows shared the
    // case's prefill (0: the row prefilled alone) and the bytes of that shared snapshot.
    R"sql(
ALTER TABLE samples ADD COLUMN shared_prefill_rows INTEGER NOT NULL DEFAULT 0;
ALTER TABLE samples ADD COLUMN shared_prefill_bytes INTEGER NOT NULL DEFAULT 0;
)sql",
    // 4 -> 5: batched decoding of a shared prefill's rows: how many rows decoded together (1: alone,
    // as every row before this version did).
    R"sql(
ALTER TABLE samples ADD COLUMN decode_batch_rows INTEGER NOT NULL DEFAULT 1;
)sql",
    // 5 -> 6: what decode steps read (kv/read_selection.h): entries ((layer, KV head, token) triples
    // attention read) and their K/V bytes per step, mean and max over the case's steps (0: no step).
    R"sql(
ALTER TABLE samples ADD COLUMN decode_read_entries_mean REAL NOT NULL DEFAULT 0;
ALTER TABLE samples ADD COLUMN decode_read_entries_max INTEGER NOT NULL DEFAULT 0;
ALTER TABLE samples ADD COLUMN decode_read_bytes_mean REAL NOT NULL DEFAULT 0;
ALTER TABLE samples ADD COLUMN decode_read_bytes_max INTEGER NOT NULL DEFAULT 0;
)sql",
    // 6 -> 7: per-token negative log-likelihoods of a perplexity case's continuation (JSON array of
    // nats; '' for every other row).
    R"sql(
ALTER TABLE samples ADD COLUMN token_nll TEXT NOT NULL DEFAULT '';
)sql",
    // 7 -> 8: multi-question mode: the id of the context a row's question was asked of, shared by
    // the rows of its other questions ('' : the case had a context of its own).
    R"sql(
ALTER TABLE samples ADD COLUMN context_id TEXT NOT NULL DEFAULT '';
)sql",
};
constexpr int kMigrationCount = int(sizeof kMigrations / sizeof kMigrations[0]);
static_assert(kMigrationCount == kStoreSchemaVersion, "one migration per schema version");

const char* const kSampleColumns =
    "config_hash, case_id, case_hash, run_id, status, reason, prediction, answers, scorer, score, prompt_tokens, "
    "generated_tokens, context_tokens, kept_tokens, prefill_seconds, method_seconds, decode_seconds, "
    "decode_p50_seconds, decode_p95_seconds, decode_step_seconds, kv_resident_bytes, kv_nominal_bytes, kv_peak_bytes, "
    "peak_rss_bytes, backend, threads, prefill_chunk, finished_at, case_meta, device, device_peak_bytes, "
    "shared_prefill_rows, shared_prefill_bytes, decode_batch_rows, decode_read_entries_mean, decode_read_entries_max, "
    "decode_read_bytes_mean, decode_read_bytes_max, token_nll, context_id";

// "?,?,...": one per column of kSampleColumns.
std::string sample_placeholders() {
  std::string out = "?";
  for (const char* c = kSampleColumns; *c; ++c)
    if (*c == ',') out += ",?";
  return out;
}

std::string new_uuid() {
  std::random_device rd;
  std::mt19937_64 g((uint64_t(rd()) << 32) ^ rd() ^ uint64_t(getpid()));
  return fmt::format("{:016x}{:016x}", g(), g());
}

}  // namespace

Statement::Statement(sqlite3* db, const std::string& sql, const std::string& where) : db_(db), where_(where) {
  if (sqlite3_prepare_v2(db, sql.c_str(), int(sql.size()), &s_, nullptr) != SQLITE_OK)
    KVB_FAIL("{}: {} (preparing: {})", where_, sqlite3_errmsg(db), sql.substr(0, 120));
}
Statement::Statement(Statement&& o) noexcept : db_(o.db_), s_(o.s_), where_(std::move(o.where_)) { o.s_ = nullptr; }
Statement::~Statement() {
  if (s_) sqlite3_finalize(s_);
}
Statement& Statement::bind(int i, const std::string& v) {
  sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}
Statement& Statement::bind(int i, double v) {
  sqlite3_bind_double(s_, i, v);
  return *this;
}
Statement& Statement::bind_null(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}
bool Statement::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  KVB_FAIL("{}: {} (running: {})", where_, sqlite3_errmsg(db_), std::string(sqlite3_sql(s_)).substr(0, 120));
}
void Statement::run() {
  while (step()) {
  }
}
void Statement::reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}
int Statement::columns() const { return sqlite3_column_count(s_); }
std::string Statement::name(int i) const { return sqlite3_column_name(s_, i); }
bool Statement::is_null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
int Statement::type(int i) const { return sqlite3_column_type(s_, i); }
std::string Statement::text(int i) const {
  const unsigned char* t = sqlite3_column_text(s_, i);
  return t ? std::string(reinterpret_cast<const char*>(t), size_t(sqlite3_column_bytes(s_, i))) : std::string();
}
int64_t Statement::integer(int i) const { return sqlite3_column_int64(s_, i); }
double Statement::real(int i) const { return sqlite3_column_double(s_, i); }

ResultsStore::ResultsStore(const fs::path& path, bool read_only) : path_(path), read_only_(read_only) {
  std::error_code ec;
  if (read_only) KVB_CHECK(fs::exists(path, ec), "{}: results database not found", path.string());
  KVB_CHECK(!fs::is_directory(path, ec), "{}: is a directory, not a results database", path.string());
  if (!read_only && path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  const int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_URI;
  std::string name = path.string();
  if (read_only && !writable_folder(path)) {
    KVB_CHECK(!has_pending_wal(path),
              "{}: the database's -wal file holds changes not yet in the database, and its folder cannot be written "
              "(read-only filesystem?); copy the database with its -wal file to a writable folder and open it there",
              path.string());
    name = immutable_uri(path);
  }
  KVB_CHECK(read_only || writable_folder(path),
            "{}: cannot write the results database: its folder is read-only (a read-only filesystem or no write "
            "permission); give --db / -o a path in a writable folder",
            path.string());
  if (sqlite3_open_v2(name.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    KVB_FAIL("{}: cannot open results database: {}", path.string(), msg);
  }
  if (!read_only && sqlite3_db_readonly(db_, "main") == 1) {
    sqlite3_close(db_);
    db_ = nullptr;
    KVB_FAIL("{}: cannot write the results database: the file is read-only", path.string());
  }
  sqlite3_busy_timeout(db_, 30000);
  try {
    // The first read fails on a file that is not SQLite ("file is not a database").
    int64_t n_objects = 0;
    {
      sqlite3_stmt* probe = nullptr;
      int rc = sqlite3_prepare_v2(db_, "SELECT count(*) FROM sqlite_master", -1, &probe, nullptr);
      if (rc == SQLITE_OK) rc = sqlite3_step(probe);
      if (rc == SQLITE_ROW) n_objects = sqlite3_column_int64(probe, 0);
      const std::string msg = sqlite3_errmsg(db_);
      sqlite3_finalize(probe);
      KVB_CHECK(rc == SQLITE_ROW, "{}: not a kvbench results database (SQLite: {}); refusing to touch it",
                path.string(), msg);
    }
    int64_t app_id = 0;
    {
      Statement s = prepare("PRAGMA application_id");
      if (s.step()) app_id = s.integer(0);
    }
    const int version = schema_version();
    KVB_CHECK(n_objects == 0 || app_id == kApplicationId,
              "{}: not a kvbench results database (an SQLite file with other tables); refusing to touch it",
              path.string());
    KVB_CHECK(version <= kStoreSchemaVersion,
              "{}: written by a newer kvbench (schema version {}, this build knows up to {}); use a newer build",
              path.string(), version, kStoreSchemaVersion);
    if (!read_only) {
      // journal_mode=WAL needs an exclusive lock and SQLite does not wait for it with the busy handler:
      // two sweeps creating one database at once got "database is locked" here (StorageFaults.TwoSweeps...).
      // Retried for up to 30 s, like every other lock.
      for (int attempt = 0;; ++attempt) {
        const int rc = sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
        if (rc == SQLITE_OK) break;
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || attempt >= 3000) {
          exec("PRAGMA journal_mode=WAL");  // throws with SQLite's message
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      exec("PRAGMA synchronous=FULL");
      exec("PRAGMA foreign_keys=ON");
      migrate();
    } else {
      KVB_CHECK(version == kStoreSchemaVersion,
                "{}: schema version {} is older than this build's {}; open it once read-write (e.g. `kvbench sweep "
                "CONFIG --db {} --dry-run`) to migrate it",
                path.string(), version, kStoreSchemaVersion, path.string());
    }
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

ResultsStore::~ResultsStore() {
  if (db_) sqlite3_close(db_);
}

Statement ResultsStore::prepare(const std::string& sql) { return Statement(db_, sql, path_.string()); }

void ResultsStore::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    KVB_FAIL("{}: {} (running: {})", path_.string(), msg, sql.substr(0, 120));
  }
}

void ResultsStore::check_integrity() {
  std::vector<std::string> problems;
  try {
    Statement q = prepare("PRAGMA quick_check(3)");
    while (q.step()) problems.push_back(q.text(0));
  } catch (const Error& e) {
    KVB_FAIL("{}: damaged results database ({})", path_.string(), e.what());
  }
  KVB_CHECK(problems.size() == 1 && problems[0] == "ok", "{}: damaged results database (SQLite quick_check: {})",
            path_.string(), fmt::join(problems, "; "));
}

int ResultsStore::schema_version() {
  Statement s = prepare("PRAGMA user_version");
  return s.step() ? int(s.integer(0)) : 0;
}

void ResultsStore::migrate() {
  int v = schema_version();
  while (v < kStoreSchemaVersion) {
    exec("BEGIN IMMEDIATE");
    try {
      // Re-read inside the write lock: another process may have migrated meanwhile.
      v = schema_version();
      if (v < kStoreSchemaVersion) {
        exec(kMigrations[v]);
        exec(fmt::format("PRAGMA application_id={}", kApplicationId));
        exec(fmt::format("PRAGMA user_version={}", v + 1));
      }
      exec("COMMIT");
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    v = schema_version();
  }
}

int64_t ResultsStore::begin_run(const nlohmann::json& info) {
  const BuildInfo& b = build_info();
  MachineInfo m = machine_info();
  auto str = [&](const char* key) { return info.contains(key) ? info[key].get<std::string>() : std::string(); };
  Statement s = prepare(
      "INSERT INTO runs (uuid, started_at, command, argv, sweep_config, shard, git_commit, git_dirty, kvbench_version, "
      "build_type, compiler, cxx_flags, cpu_model, cpu_flags, cpu_cores, gpu, libraries, host, os, pid) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  s.bind(1, new_uuid()).bind(2, utc_now()).bind(3, str("command"));
  s.bind(4, info.contains("argv") ? info["argv"].dump() : std::string("[]"));
  if (info.contains("sweep_config"))
    s.bind(5, info["sweep_config"].dump());
  else
    s.bind_null(5);
  s.bind(6, str("shard")).bind(7, b.commit).bind(8, int64_t(b.dirty)).bind(9, b.version).bind(10, b.build_type);
  s.bind(11, b.compiler).bind(12, b.cxx_flags).bind(13, m.cpu_model).bind(14, m.cpu_flags);
  s.bind(15, int64_t(m.cpu_cores)).bind(16, m.gpu).bind(17, m.libraries.dump()).bind(18, m.host).bind(19, m.os);
  s.bind(20, int64_t(getpid()));
  s.run();
  return sqlite3_last_insert_rowid(db_);
}

void ResultsStore::end_run(int64_t run_id, const std::string& status) {
  prepare("UPDATE runs SET ended_at = ?, status = ? WHERE run_id = ?")
      .bind(1, utc_now())
      .bind(2, status)
      .bind(3, run_id)
      .run();
}

void ResultsStore::plan_config(int64_t run_id, const std::string& config_hash, int64_t expected_cases) {
  prepare("INSERT OR REPLACE INTO run_configs (run_id, config_hash, expected_cases) VALUES (?,?,?)")
      .bind(1, run_id)
      .bind(2, config_hash)
      .bind(3, expected_cases)
      .run();
}

void ResultsStore::put_config(const ConfigRecord& c) {
  // INSERT OR IGNORE, then compare: atomic when another process (a second sweep on this database)
  // inserts the same configuration between our look and our insert (a look-then-insert failed there
  // with "UNIQUE constraint failed"; tests/test_storage_faults.cpp, TwoSweepsWritingOneDatabaseAtOnce...).
  Statement s = prepare(
      "INSERT OR IGNORE INTO configs (config_hash, canonical_json, model_path, model_name, model_hash, chat_template, "
      "weights, method, method_version, method_params, compression_ratio, token_budget, mode, task, task_version, "
      "task_params, length, seed, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  s.bind(1, c.hash).bind(2, c.canonical_json).bind(3, c.model_path).bind(4, c.model_name).bind(5, c.model_hash);
  s.bind(6, c.chat_template).bind(7, c.weights).bind(8, c.method).bind(9, int64_t(c.method_version));
  s.bind(10, c.method_params).bind(11, c.compression_ratio).bind(12, c.token_budget).bind(13, c.mode);
  s.bind(14, c.task).bind(15, int64_t(c.task_version)).bind(16, c.task_params).bind(17, c.length);
  s.bind(18, int64_t(c.seed)).bind(19, utc_now());
  s.run();
  Statement q = prepare("SELECT canonical_json FROM configs WHERE config_hash = ?");
  q.bind(1, c.hash);
  KVB_CHECK(q.step(), "{}: config hash {} was not stored", path_.string(), c.hash);
  KVB_CHECK(q.text(0) == c.canonical_json, "{}: config hash {} is stored for a different configuration ({} vs {})",
            path_.string(), c.hash, q.text(0), c.canonical_json);
}

std::map<std::string, StoredCase> ResultsStore::stored_cases(const std::string& config_hash) {
  std::map<std::string, StoredCase> out;
  Statement s = prepare("SELECT case_id, status, case_hash FROM samples WHERE config_hash = ?");
  s.bind(1, config_hash);
  while (s.step()) out[s.text(0)] = StoredCase{s.text(1), s.text(2)};
  return out;
}

std::map<std::string, int64_t> ResultsStore::stored_counts() {
  std::map<std::string, int64_t> out;
  Statement s = prepare("SELECT config_hash, count(*) FROM samples GROUP BY config_hash");
  while (s.step()) out[s.text(0)] = s.integer(1);
  return out;
}

void ResultsStore::put_sample(const SampleRecord& r) {
  exec("BEGIN IMMEDIATE");
  try {
    Statement s =
        prepare(fmt::format("INSERT OR REPLACE INTO samples ({}) VALUES ({})", kSampleColumns, sample_placeholders()));
    int i = 0;
    auto text = [&](const std::string& v) { s.bind(++i, v); };
    auto integer = [&](int64_t v) { s.bind(++i, v); };
    auto real = [&](double v) { s.bind(++i, v); };
    text(r.config_hash);
    text(r.case_id);
    text(r.case_hash);
    if (r.run_id > 0)
      integer(r.run_id);
    else
      s.bind_null(++i);
    text(r.status);
    text(r.reason);
    text(r.prediction);
    text(r.answers);
    text(r.scorer);
    if (r.status == "ok")
      real(r.score);
    else
      s.bind_null(++i);
    for (int64_t v : {r.prompt_tokens, r.generated_tokens, r.context_tokens, r.kept_tokens}) integer(v);
    for (double v : {r.prefill_seconds, r.method_seconds, r.decode_seconds, r.decode_p50_seconds, r.decode_p95_seconds})
      real(v);
    text(r.decode_step_seconds);
    for (int64_t v : {r.kv_resident_bytes, r.kv_nominal_bytes, r.kv_peak_bytes, r.peak_rss_bytes}) integer(v);
    text(r.backend);
    integer(r.threads);
    integer(r.prefill_chunk);
    text(r.finished_at.empty() ? utc_now() : r.finished_at);
    text(r.case_meta);
    text(r.device);
    integer(r.device_peak_bytes);
    integer(r.shared_prefill_rows);
    integer(r.shared_prefill_bytes);
    integer(r.decode_batch_rows);
    real(r.decode_read_entries_mean);
    integer(r.decode_read_entries_max);
    real(r.decode_read_bytes_mean);
    integer(r.decode_read_bytes_max);
    text(r.token_nll);
    text(r.context_id);
    s.run();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void ResultsStore::delete_sample(const std::string& config_hash, const std::string& case_id) {
  prepare("DELETE FROM samples WHERE config_hash = ? AND case_id = ?").bind(1, config_hash).bind(2, case_id).run();
}

std::optional<std::string> ResultsStore::cached_file_hash(const std::string& path, int64_t size, int64_t mtime_ns) {
  Statement s = prepare("SELECT hash FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ?");
  s.bind(1, path).bind(2, size).bind(3, mtime_ns);
  if (s.step()) return s.text(0);
  return std::nullopt;
}

void ResultsStore::put_file_hash(const std::string& path, int64_t size, int64_t mtime_ns, const std::string& hash) {
  if (read_only_) return;
  prepare("INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, hash) VALUES (?,?,?,?)")
      .bind(1, path)
      .bind(2, size)
      .bind(3, mtime_ns)
      .bind(4, hash)
      .run();
}

std::string ResultsStore::model_hash(const fs::path& model) {
  std::error_code ec;
  const std::string key = fs::weakly_canonical(model, ec).string();
  const FileStamp st = file_stamp(model);
  if (auto h = cached_file_hash(key, st.size, st.mtime_ns)) return *h;
  std::string h = hash_model_files(model);
  put_file_hash(key, st.size, st.mtime_ns, h);
  return h;
}

std::optional<double> ResultsStore::seconds_per_token(const std::string& model_hash) {
  Statement s = prepare(
      "SELECT SUM(s.prefill_seconds + s.decode_seconds), SUM(s.prompt_tokens), COUNT(*) FROM samples s "
      "JOIN configs c ON c.config_hash = s.config_hash WHERE s.status = 'ok' AND c.model_hash = ? AND s.prompt_tokens "
      "> 0");
  s.bind(1, model_hash);
  if (!s.step() || s.is_null(0) || s.integer(2) == 0 || s.real(1) <= 0) return std::nullopt;
  return s.real(0) / s.real(1);
}

int64_t ResultsStore::merge_from(const fs::path& other) {
  KVB_CHECK(!read_only_, "{}: opened read-only", path_.string());
  std::error_code ec;
  KVB_CHECK(fs::exists(other, ec), "{}: results database not found", other.string());
  KVB_CHECK(!fs::equivalent(other, path_, ec), "{}: cannot merge a database into itself", other.string());
  // Validates and migrates the source forward; a source in a folder we cannot write (a read-only
  // filesystem) is validated read-only and attached immutable (see writable_folder).
  const bool source_writable = writable_folder(other);
  {
    ResultsStore check(other, !source_writable);
    check.check_integrity();  // a damaged page would otherwise fail halfway, naming this database
  }
  {
    Statement a = prepare("ATTACH DATABASE ? AS src");
    a.bind(1, source_writable ? other.string() : immutable_uri(other));
    a.run();
  }
  int64_t changed = 0;
  std::vector<std::string> conflicts;
  exec("BEGIN IMMEDIATE");
  try {
    // Runs: by uuid; a map from the source's run ids to ours.
    exec("CREATE TEMP TABLE IF NOT EXISTS run_map (src_id INTEGER PRIMARY KEY, dst_id INTEGER)");
    exec("DELETE FROM run_map");
    exec(
        "INSERT INTO main.runs (uuid, started_at, ended_at, status, command, argv, sweep_config, shard, git_commit, "
        "git_dirty, kvbench_version, build_type, compiler, cxx_flags, cpu_model, cpu_flags, cpu_cores, gpu, libraries, "
        "host, os, pid) SELECT uuid, started_at, ended_at, status, command, argv, sweep_config, shard, git_commit, "
        "git_dirty, kvbench_version, build_type, compiler, cxx_flags, cpu_model, cpu_flags, cpu_cores, gpu, libraries, "
        "host, os, pid FROM src.runs WHERE uuid NOT IN (SELECT uuid FROM main.runs) ORDER BY run_id");
    exec("INSERT INTO run_map SELECT s.run_id, m.run_id FROM src.runs s JOIN main.runs m ON m.uuid = s.uuid");
    fault_point("merge.after_runs");
    // Configs: the same hash must mean the same configuration.
    {
      Statement q = prepare(
          "SELECT s.config_hash FROM src.configs s JOIN main.configs m ON m.config_hash = s.config_hash "
          "WHERE m.canonical_json <> s.canonical_json");
      while (q.step()) conflicts.push_back(fmt::format("config {} differs", q.text(0)));
    }
    exec("INSERT OR IGNORE INTO main.configs SELECT * FROM src.configs");
    exec(
        "INSERT OR IGNORE INTO main.run_configs SELECT r.dst_id, s.config_hash, s.expected_cases FROM src.run_configs "
        "s "
        "JOIN run_map r ON r.src_id = s.run_id");
    // Samples: both ok and different is a conflict.
    {
      Statement q = prepare(
          "SELECT s.config_hash, s.case_id, m.prediction, s.prediction, m.score, s.score FROM src.samples s "
          "JOIN main.samples m ON m.config_hash = s.config_hash AND m.case_id = s.case_id "
          "WHERE m.status = 'ok' AND s.status = 'ok' AND NOT (m.case_hash = s.case_hash AND m.prediction = "
          "s.prediction "
          "AND m.score IS s.score)");
      while (q.step())
        conflicts.push_back(fmt::format("config {} case {}: '{}' (score {}) vs '{}' (score {})", q.text(0), q.text(1),
                                        q.text(2), q.real(4), q.text(3), q.real(5)));
    }
    if (!conflicts.empty()) {
      const size_t n = conflicts.size();
      conflicts.resize(std::min<size_t>(n, 3));
      KVB_FAIL("{}: {} conflicting duplicate{} with {}, nothing merged: {}{}", other.string(), n, n == 1 ? "" : "s",
               path_.string(), fmt::join(conflicts, "; "), n > 3 ? "; ..." : "");
    }
    const std::string cols = kSampleColumns;
    std::string src_cols;  // the source's columns with run_id mapped
    for (size_t p = 0, q; p < cols.size(); p = q + 2) {
      q = cols.find(", ", p);
      if (q == std::string::npos) q = cols.size();
      std::string c = cols.substr(p, q - p);
      src_cols += (src_cols.empty() ? "" : ", ") +
                  (c == "run_id" ? std::string("(SELECT dst_id FROM run_map WHERE src_id = s.run_id)") : "s." + c);
    }
    // New rows, and ok rows replacing error / skipped ones.
    exec(
        fmt::format("INSERT OR REPLACE INTO main.samples ({}) SELECT {} FROM src.samples s LEFT JOIN main.samples m "
                    "ON m.config_hash = s.config_hash AND m.case_id = s.case_id "
                    "WHERE m.config_hash IS NULL OR (m.status <> 'ok' AND s.status = 'ok')",
                    cols, src_cols));
    changed = sqlite3_changes(db_);
    exec("INSERT OR IGNORE INTO main.file_hashes SELECT * FROM src.file_hashes");
    fault_point("merge.before_commit");
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_exec(db_, "DETACH DATABASE src", nullptr, nullptr, nullptr);
    throw;
  }
  exec("DETACH DATABASE src");
  return changed;
}

}  // namespace kvb
