// `kvbench slurm CONFIG --db OUT.db --shards N [--submit | --print]` — a sweep as a Slurm job array
// (task i runs `kvbench sweep CONFIG --shard i/N` into its own database) plus a merge job that starts
// once every task ended with exit 0; rerunning submits only the shards not finished yet.
// `kvbench slurm --status OUT.db` shows each shard's completion (exit 0 all done, 1 not yet).
// Scripts and plan: eval/slurm_jobs.h. docs/cluster.md; tests/test_slurm.cpp (against a real Slurm).
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/subprocess.h"
#include "eval/slurm_jobs.h"
#include "eval/sweep_config.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace kvb::cli {
namespace {

struct SlurmArgs {
  std::string config, db, status_db, shard_dir, report, kvbench;
  int shards = 0, gpus_per_task = 0, cpus_per_task = 0;
  std::string partition, time, account;
  std::vector<std::string> extra_sbatch;
  bool submit = false, print = false;
};

// What squeue says about this plan's jobs: array indices still queued or running, and the merge jobs.
struct QueueState {
  bool known = false;                 // squeue answered
  std::map<int, std::string> shards;  // index -> "<job>_<index> <STATE>"
  std::map<std::string, std::string> merges;  // merge job id -> state
};

QueueState query_queue(const SlurmPlan& p) {
  QueueState q;
  std::set<std::string> arrays, merges;
  for (const json& s : p.submissions) {
    if (!s.value("array", std::string()).empty()) arrays.insert(s["array"].get<std::string>());
    if (!s.value("merge", std::string()).empty()) merges.insert(s["merge"].get<std::string>());
  }
  if (arrays.empty() && merges.empty()) return q;
  if (!find_on_path("squeue")) return q;
  const ProcessResult r = run_process({"squeue", "--me", "--noheader", "--format=%F|%K|%i|%T"});
  if (r.exit_code != 0) return q;
  q.known = true;
  std::istringstream lines(r.output);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string x; std::getline(ls, x, '|');) f.push_back(x);
    if (f.size() < 4) continue;
    if (arrays.count(f[0]))
      for (int i : parse_array_spec(f[1])) q.shards[i] = fmt::format("{}_{} {}", f[0], i, f[3]);
    if (merges.count(f[2])) q.merges[f[2]] = f[3];
  }
  return q;
}

std::vector<ShardState> all_states(const SlurmPlan& p) {
  std::vector<ShardState> states;
  for (int i = 0; i < p.shards; ++i) states.push_back(shard_state(p, i));
  return states;
}

// Prints one line per shard; returns the number done.
int print_states(const SlurmPlan& p, const std::vector<ShardState>& states, const QueueState& queue) {
  fmt::print("{}: {} shards of {} in {}\n", p.db.string(), p.shards, p.config.string(), p.shard_dir.string());
  fmt::print("  {:>5}  {:<12} {:>8} {:>8} {:>7} {:>8}  {:<38} {}\n", "shard", "state", "rows", "ok", "errors",
             "skipped", "last run", queue.known ? "slurm" : "");
  int done = 0;
  for (const ShardState& s : states) {
    done += s.done;
    const std::string state = s.done           ? "done"
                              : !s.exists      ? "not started"
                              : s.other_config ? "old config"
                                               : "unfinished";
    const std::string last = s.last_run.empty() ? "-" : fmt::format("{} (started {})", s.last_run, s.last_time);
    auto it = queue.shards.find(s.index);
    fmt::print("  {:>5}  {:<12} {:>8} {:>8} {:>7} {:>8}  {:<38} {}\n", s.index, state, s.samples, s.ok, s.errors,
               s.skipped, last, it != queue.shards.end() ? it->second : queue.known ? "-" : "");
  }
  for (const auto& [job, st] : queue.merges) fmt::print("  merge job {}: {}\n", job, st);
  if (std::any_of(states.begin(), states.end(), [](const ShardState& s) { return s.other_config; }))
    fmt::print("old config: the shard finished a run of another version of the config; resubmitting runs what changed\n");
  fmt::print("{} of {} shards done{}\n", done, p.shards,
             done == p.shards ? "" : "; `kvbench slurm CONFIG --db ... --shards N --submit` resubmits the others");
  return done;
}

void write_file(const fs::path& path, const std::string& text, bool executable) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  KVB_CHECK(out.good(), "{}: cannot write", path.string());
  out << text;
  out.close();
  KVB_CHECK(out.good(), "{}: cannot write", path.string());
  if (executable)
    fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec, fs::perm_options::add);
}

// The job id sbatch --parsable printed ("12" or "12;cluster"), or an error naming the script.
std::string sbatch(const std::vector<std::string>& args, const fs::path& script) {
  std::vector<std::string> argv{"sbatch", "--parsable"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(script.string());
  const ProcessResult r = run_process(argv);
  std::string out = r.output;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) out.pop_back();
  const std::string last = out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
  const std::string id = last.substr(0, last.find(';'));
  KVB_CHECK(r.exit_code == 0 && !id.empty() && id.find_first_not_of("0123456789") == std::string::npos,
            "sbatch {} failed (exit {}): {}", script.string(), r.exit_code, out);
  return id;
}

SlurmPlan plan_from_args(const SlurmArgs& a) {
  KVB_CHECK(!a.config.empty(), "slurm: give the sweep config (kvbench slurm CONFIG --db OUT.db --shards N)");
  KVB_CHECK(!a.db.empty(), "--db: give the merged results database (e.g. --db results/ruler.db)");
  KVB_CHECK(a.shards >= 1, "--shards: give the number of array tasks (>= 1), e.g. --shards 16");
  const SweepConfig config = load_sweep_config(a.config);  // every problem listed before anything is written
  SlurmPlan p;
  p.config = fs::absolute(a.config).lexically_normal();
  p.config_json = config.json;
  p.name = config.name.empty() ? fs::path(a.config).stem().string() : config.name;
  p.db = fs::absolute(a.db).lexically_normal();
  p.job_dir = slurm_job_dir(p.db);
  p.shard_dir = a.shard_dir.empty() ? p.job_dir / "shards" : fs::absolute(a.shard_dir).lexically_normal();
  p.report = a.report.empty() ? fs::path(p.db).replace_extension(".html") : fs::absolute(a.report).lexically_normal();
  p.workdir = fs::current_path();
  p.kvbench = a.kvbench.empty() ? fs::read_symlink("/proc/self/exe") : fs::absolute(a.kvbench);
  KVB_CHECK(fs::exists(p.kvbench), "--kvbench {}: not found", p.kvbench.string());
  p.shards = a.shards;
  p.partition = a.partition;
  p.time = a.time;
  p.account = a.account;
  p.gpus_per_task = a.gpus_per_task;
  p.cpus_per_task = a.cpus_per_task;
  for (const std::string& group : a.extra_sbatch) {  // "--qos=high --mem=64G": one option per word
    std::istringstream words(group);
    for (std::string w; words >> w;) p.extra_sbatch.push_back(w);
    KVB_CHECK(group.find_first_not_of(" \t") != std::string::npos, "--extra-sbatch: empty value");
  }
  validate_slurm_options(p);
  KVB_CHECK(p.db != p.shard_db(0), "--db {}: is the first shard's database", p.db.string());
  return p;
}

void run_slurm(const SlurmArgs& a) {
  if (!a.status_db.empty()) {
    KVB_CHECK(a.config.empty() && !a.submit && !a.print,
              "--status {}: shows the shards of an earlier `kvbench slurm`; give no CONFIG, --submit or --print",
              a.status_db);
    const SlurmPlan p = load_slurm_plan(a.status_db);
    const int done = print_states(p, all_states(p), query_queue(p));
    if (done < p.shards) exit_code() = 1;
    return;
  }
  KVB_CHECK(!(a.submit && a.print), "--submit and --print: give one (--print writes and shows the scripts only)");
  SlurmPlan p = plan_from_args(a);

  // An earlier plan for the same database: its shards must match (the partition depends on N) and
  // its submissions are kept, so that jobs still queued are found.
  std::error_code ec;
  if (fs::exists(p.plan_file(), ec)) {
    const SlurmPlan old = load_slurm_plan(p.db);
    if (old.shards != p.shards) {
      bool any = false;
      for (int i = 0; i < old.shards; ++i) any = any || fs::exists(old.shard_db(i), ec);
      KVB_CHECK(!any,
                "--shards {}: {} already holds shard databases of a {}-shard run in {}; which cases a shard runs depends "
                "on the number of shards, so keep --shards {} or use another --db",
                p.shards, p.job_dir.string(), old.shards, old.shard_dir.string(), old.shards);
    }
    p.submissions = old.submissions;
  }

  const std::vector<ShardState> states = all_states(p);
  std::vector<int> todo;
  for (const ShardState& s : states)
    if (!s.done) todo.push_back(s.index);

  if (a.submit) {
    KVB_CHECK(find_on_path("sbatch").has_value(),
              "--submit: sbatch not found on PATH (Slurm's client commands); write the scripts without --submit and "
              "submit them where Slurm is");
    const QueueState queue = query_queue(p);
    std::vector<std::string> active;
    for (const auto& [i, what] : queue.shards) active.push_back(what);
    KVB_CHECK(active.empty(),
              "--submit: shards of an earlier submission are still queued or running ({}); wait for them or scancel "
              "them, then rerun to submit the unfinished shards",
              fmt::join(active, ", "));
    for (const auto& [job, state] : queue.merges) {
      KVB_CHECK(state == "PENDING", "--submit: the merge job {} of an earlier submission is {}; wait for it", job, state);
      // Its dependency can no longer be met (a shard failed or was cancelled): the new merge job replaces it.
      const ProcessResult r = run_process({"scancel", job});
      KVB_CHECK(r.exit_code == 0, "scancel {} (the earlier merge job) failed: {}", job, r.output);
      fmt::print("cancelled the earlier merge job {} (still waiting for shards that did not finish)\n", job);
    }
  }

  fs::create_directories(p.job_dir / "logs");
  fs::create_directories(p.shard_dir);
  fs::create_directories(p.db.parent_path());
  write_file(p.shard_script(), shard_script_text(p, todo), true);
  write_file(p.merge_script(), merge_script_text(p), true);
  write_file(p.submit_script(), submit_script_text(p), true);
  fmt::print("{}: {} shards of {}: {} done, {} to run{}\n", p.db.string(), p.shards, p.config.string(),
             p.shards - int(todo.size()), todo.size(), todo.empty() ? "" : fmt::format(" (array {})", array_spec(todo)));
  fmt::print("wrote {}, {}, {}\n", p.shard_script().string(), p.merge_script().string(), p.submit_script().string());

  if (a.submit) {
    json sub = {{"array", ""}, {"indices", todo}, {"merge", ""}};
    std::string merge_id;
    if (!todo.empty()) {
      const std::string array_id = sbatch({}, p.shard_script());
      sub["array"] = array_id;
      p.submissions.push_back(sub);  // recorded before the merge job, so a failure there still finds the array
      write_file(p.plan_file(), slurm_plan_json(p).dump(2) + "\n", false);
      merge_id = sbatch({"--dependency=afterok:" + array_id}, p.merge_script());
      p.submissions.back()["merge"] = merge_id;
      fmt::print("submitted job array {} (shards {}) and merge job {} (after every shard ended with exit 0)\n",
                 array_id, array_spec(todo), merge_id);
    } else {
      merge_id = sbatch({}, p.merge_script());
      sub["merge"] = merge_id;
      p.submissions.push_back(sub);
      fmt::print("every shard is done: submitted merge job {}\n", merge_id);
    }
    fmt::print("merged results: {}, report: {}; progress: kvbench slurm --status {}\n", p.db.string(),
               p.report.string(), p.db.string());
  } else if (todo.empty()) {
    fmt::print("every shard is done: submit the merge job with: sbatch {}\n", p.merge_script().string());
  } else {
    fmt::print("submit with: bash {}   (or rerun with --submit, which records the job ids for --status)\n",
               p.submit_script().string());
  }
  write_file(p.plan_file(), slurm_plan_json(p).dump(2) + "\n", false);
  if (a.print) {
    for (const fs::path& f : {p.shard_script(), p.merge_script(), p.submit_script()}) {
      std::ifstream in(f);
      std::stringstream ss;
      ss << in.rdbuf();
      fmt::print("\n==> {} <==\n{}", f.string(), ss.str());
    }
  }
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<SlurmArgs>();
  auto* cmd = app.add_subcommand(
      "slurm", "Run a sweep on a Slurm cluster: a job array of shards plus a merge job (--status: per-shard completion)");
  cmd->add_option("config", a->config, "Sweep config (.yaml, .yml or .json)");
  cmd->add_option("--db", a->db, "Merged results database the merge job writes (its scripts go to <db>.slurm/)");
  cmd->add_option("--shards", a->shards, "Array tasks, each running one shard i/N of the sweep");
  cmd->add_option("--shard-dir", a->shard_dir, "Where the shard databases live (shared filesystem; default <db>.slurm/shards)");
  cmd->add_option("--report", a->report, "HTML report the merge job writes (default: the --db path with .html)");
  cmd->add_option("--partition", a->partition, "sbatch --partition for every job");
  cmd->add_option("--gpus-per-task", a->gpus_per_task, "sbatch --gpus-per-task for the array tasks");
  cmd->add_option("--cpus-per-task", a->cpus_per_task, "sbatch --cpus-per-task for the array tasks");
  cmd->add_option("--time", a->time, "sbatch --time for every job (e.g. 04:00:00)");
  cmd->add_option("--account", a->account, "sbatch --account for every job");
  cmd->add_option("--extra-sbatch", a->extra_sbatch,
                  "More sbatch options for every job, e.g. --extra-sbatch=\"--qos=high --mem=64G\" (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--kvbench", a->kvbench, "kvbench binary the jobs run (default: this one)");
  cmd->add_flag("--submit", a->submit, "Submit the array and the merge job (only shards not finished yet)");
  cmd->add_flag("--print", a->print, "Write the scripts and print them; submit nothing");
  cmd->add_option("--status", a->status_db, "Show the completion of each shard of OUT.db (exit 0 all done, 1 not yet)");
  cmd->callback([a] { run_slurm(*a); });
});

}  // namespace
}  // namespace kvb::cli
