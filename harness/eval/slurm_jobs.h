// A sweep as Slurm jobs: the job directory next to the merged database (scripts, logs, the plan
// in slurm.json), the sbatch scripts (a job array of `kvbench sweep --shard i/n`, a merge job) and
// each shard's completion read from its own results database. Pure text and SQLite: nothing here
// talks to Slurm (harness/cli/cmd_slurm.cpp runs sbatch / squeue / scancel). docs/cluster.md;
// tests/test_slurm.cpp.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kvb {

// What `kvbench slurm` was asked for, with every path absolute.
struct SlurmPlan {
  std::filesystem::path config;     // the sweep config
  nlohmann::json config_json;       // as parsed (a shard is done when a run of exactly this finished)
  std::string name;                 // the config's name (job names)
  std::filesystem::path db;         // merged results database
  std::filesystem::path report;     // HTML report the merge job writes
  std::filesystem::path job_dir;    // scripts, logs, slurm.json
  std::filesystem::path shard_dir;  // one database per shard (a shared filesystem on a cluster)
  std::filesystem::path workdir;    // the jobs' working directory (relative paths in the config)
  std::filesystem::path kvbench;    // the binary the jobs run
  int shards = 1;
  // sbatch options of the array tasks ("" / 0: left to the cluster's defaults).
  std::string partition, time, account;
  int gpus_per_task = 0, cpus_per_task = 0;
  std::vector<std::string> extra_sbatch;  // more sbatch options, one per element ("--qos=high")
  // Submissions so far, oldest first: {"array": job id or "", "indices": [...], "merge": job id}.
  nlohmann::json submissions = nlohmann::json::array();

  std::filesystem::path shard_db(int index) const;  // shard_dir/shard-<i>-of-<n>.db
  std::filesystem::path plan_file() const { return job_dir / "slurm.json"; }
  std::filesystem::path shard_script() const { return job_dir / "shard.sbatch"; }
  std::filesystem::path merge_script() const { return job_dir / "merge.sbatch"; }
  std::filesystem::path submit_script() const { return job_dir / "submit.sh"; }
};

// The job directory of a merged database: results/x.db -> results/x.slurm.
std::filesystem::path slurm_job_dir(const std::filesystem::path& db);
// Throws kvb::Error naming the option when a value would break a script line (newline, quote,
// whitespace in a single-word option) or an extra option does not start with '-'.
void validate_slurm_options(const SlurmPlan& p);

// "0-3", "1,3", "0-2,5": Slurm's --array syntax for sorted, distinct indices.
std::string array_spec(const std::vector<int>& indices);
// Parses squeue's %K: "3", "0-3", "1,3", "0-7%2" (a throttle after %), "N/A" (no array) -> indices.
std::vector<int> parse_array_spec(const std::string& text);

// The scripts (plain files a user can read and edit).
std::string shard_script_text(const SlurmPlan& p, const std::vector<int>& indices);
std::string merge_script_text(const SlurmPlan& p);
std::string submit_script_text(const SlurmPlan& p);

// slurm.json: the plan (without the derived paths' defaults) and its submissions.
nlohmann::json slurm_plan_json(const SlurmPlan& p);
// Reads DB's job directory's slurm.json; kvb::Error naming the file when absent or unreadable.
SlurmPlan load_slurm_plan(const std::filesystem::path& db);

// One shard's completion, from its database alone.
struct ShardState {
  int index = 0;
  bool exists = false;    // the database file is there
  bool done = false;      // a sweep run of this shard and this exact config finished
  bool other_config = false;  // not done, but a run of this shard with another config finished (it changed)
  int64_t samples = 0, ok = 0, errors = 0, skipped = 0;
  std::string last_run;   // status of the latest run of this shard: finished | interrupted | running or killed | ...
  std::string last_time;  // its start time
};
ShardState shard_state(const SlurmPlan& p, int index);

}  // namespace kvb
