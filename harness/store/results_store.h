// The SQLite results store: runs (provenance), configs (canonical JSON + hash), samples (one row per
// (config hash, case id), written in one transaction each), cached model hashes, aggregate views.
// WAL journal, PRAGMA user_version with forward migrations; schema in docs/results-schema.md.
// Exercised by tests/test_store.cpp and `kvbench sweep|run|merge|inspect|export`.
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kvb {

// The schema version this build writes (PRAGMA user_version after migrations).
constexpr int kStoreSchemaVersion = 8;

// A configuration: everything that decides a case's result except the case itself.
struct ConfigRecord {
  std::string hash;            // fnv1a64 of `canonical_json`
  std::string canonical_json;  // sorted keys, no whitespace
  std::string model_path, model_name, model_hash, chat_template, weights;
  std::string method;
  int method_version = 0;
  std::string method_params;  // JSON object, resolved (defaults included)
  double compression_ratio = 0.0;
  int64_t token_budget = 0;
  std::string mode;  // query_agnostic | query_aware
  std::string task;
  int task_version = 0;
  std::string task_params;  // JSON object, resolved (num_samples excluded)
  int64_t length = 0;       // context length axis (0: the task's own)
  uint64_t seed = 0;
};

// One case's result. status: ok | error | skipped (reason says why for error / skipped).
struct SampleRecord {
  std::string config_hash, case_id, case_hash;
  int64_t run_id = 0;
  std::string status = "ok", reason;
  std::string prediction, answers = "[]", scorer;  // answers: JSON array
  double score = 0.0;
  int64_t prompt_tokens = 0, generated_tokens = 0, context_tokens = 0, kept_tokens = 0;
  double prefill_seconds = 0, method_seconds = 0, decode_seconds = 0, decode_p50_seconds = 0, decode_p95_seconds = 0;
  std::string decode_step_seconds = "[]";  // JSON array
  int64_t kv_resident_bytes = 0, kv_nominal_bytes = 0, kv_peak_bytes = 0, peak_rss_bytes = 0;
  std::string backend;
  int64_t threads = 0, prefill_chunk = 0;
  std::string finished_at;
  std::string case_meta = "{}";  // JSON: depths (per needle, %), target_length, token_length (tokens)
  std::string device;              // "cpu", or the GPU (name, compute capability, driver) for --backend cuda
  int64_t device_peak_bytes = 0;   // GPU memory peak during the case (weights, KV cache, activations); 0 on cpu
  int64_t decode_batch_rows = 1;     // rows decoded together with this one (one forward pass per step); 1: alone
  std::string token_nll;             // perplexity: JSON array of -log p per continuation token (nats); '' otherwise
  std::string context_id;            // multi-question mode: the context shared with other rows' questions; "": own
  int64_t shared_prefill_rows = 0;   // rows that started from this case's one shared prefill; 0: prefilled alone
  int64_t shared_prefill_bytes = 0;  // that shared snapshot's bytes (full KV cache + recorded queries / mass)
  // Per decode step: (layer, KV head, token) entries attention read and their K/V bytes, mean and
  // max over the case's steps (kv/read_selection.h; a step without a selector reads everything).
  double decode_read_entries_mean = 0, decode_read_bytes_mean = 0;
  int64_t decode_read_entries_max = 0, decode_read_bytes_max = 0;
};

struct StoredCase {
  std::string status;
  std::string case_hash;
};

// A prepared statement; columns by index.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql, const std::string& where);
  Statement(Statement&&) noexcept;
  Statement(const Statement&) = delete;
  ~Statement();
  Statement& bind(int i, const std::string& v);
  Statement& bind(int i, int64_t v);
  Statement& bind(int i, double v);
  Statement& bind_null(int i);
  bool step();  // true: a row is available
  void run();   // step until done
  void reset();
  int columns() const;
  std::string name(int i) const;
  bool is_null(int i) const;
  int type(int i) const;  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_NULL
  std::string text(int i) const;
  int64_t integer(int i) const;
  double real(int i) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  std::string where_;
};

class ResultsStore {
 public:
  // Opens (creating unless read_only) and migrates `path`. A file that is not a kvbench results
  // database, or one written by a newer schema, throws kvb::Error naming the file; nothing is changed.
  explicit ResultsStore(const std::filesystem::path& path, bool read_only = false);
  ResultsStore(const ResultsStore&) = delete;
  ~ResultsStore();

  const std::filesystem::path& path() const { return path_; }
  int schema_version();

  // Runs. `info`: command, argv, sweep config, shard, and machine facts (see provenance.h).
  int64_t begin_run(const nlohmann::json& info);
  void end_run(int64_t run_id, const std::string& status);
  // Expected case count of a config as planned by a run (for completion in `inspect`).
  void plan_config(int64_t run_id, const std::string& config_hash, int64_t expected_cases);

  // Inserts the config unless present; a present hash with a different canonical JSON throws.
  void put_config(const ConfigRecord& c);
  // case id -> status and case hash, for one config.
  std::map<std::string, StoredCase> stored_cases(const std::string& config_hash);
  // Number of stored samples per config hash (dry runs).
  std::map<std::string, int64_t> stored_counts();
  // Replaces the (config hash, case id) row, in one transaction.
  void put_sample(const SampleRecord& s);
  void delete_sample(const std::string& config_hash, const std::string& case_id);

  // Model hash cache, keyed by path + size + mtime.
  std::optional<std::string> cached_file_hash(const std::string& path, int64_t size, int64_t mtime_ns);
  void put_file_hash(const std::string& path, int64_t size, int64_t mtime_ns, const std::string& hash);
  // Cached hash, or hash_model_files() stored in the cache.
  std::string model_hash(const std::filesystem::path& model);

  // Seconds per prompt token of ok samples of a model (mean of (prefill + decode) / prompt tokens),
  // or nullopt without history; for dry-run estimates.
  std::optional<double> seconds_per_token(const std::string& model_hash);

  // Merges another store into this one in one transaction: runs (by uuid), configs, samples,
  // file hashes. Equal duplicates are kept once; an ok row replaces an error / skipped one; two
  // different ok (or two different non-ok) rows for one (config hash, case id) are a conflict, and
  // conflicts roll everything back and throw listing them. Returns the samples added or replaced.
  int64_t merge_from(const std::filesystem::path& other);

  // Reads every page (PRAGMA quick_check): a damaged file (bad sectors, a truncated or scribbled copy)
  // throws kvb::Error naming it. O(file size); `merge` runs it on every input before writing anything.
  void check_integrity();

  Statement prepare(const std::string& sql);
  void exec(const std::string& sql);
  sqlite3* handle() { return db_; }

 private:
  void migrate();
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  bool read_only_ = false;
};


}  // namespace kvb
