// `kvbench slurm`: the scripts it writes, per-shard completion from real shard databases, bad input,
// and — against a real single-node Slurm (munged, slurmctld, slurmd started by scripts/slurm-local.sh
// in a temporary directory) — an oracle sweep as a 4-task job array whose merged database equals a
// single-process sweep row for row, and a task cancelled mid-run (scancel) that a resubmission
// completes with nothing lost or duplicated. The Slurm tests skip only without root or without the
// Slurm/munge binaries (scripts/setup.sh installs them). Run: build/tests/kvb_tests --gtest_filter='Slurm*'
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>
#include <tuple>

#include "core/file.h"
#include "core/subprocess.h"
#include "eval/slurm_jobs.h"
#include "store/results_store.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// An oracle sweep (no download): needles of `length` tokens, four methods, both modes; `cases` per
// configuration; one thread per process.
json oracle_config(const std::string& name, int length, int cases) {
  return json{{"name", name},
              {"models", {"builtin:oracle"}},
              {"methods", {"full", "streaming_llm", {{"id", "snapkv"}, {"params", {{"window", {16}}}}}, "h2o"}},
              {"budgets", {{"ratios", {0.5}}}},
              {"tasks", {{{"id", "niah_single"}, {"params", {{"form", "symbolic"}, {"length", length}}}},
                         {{"id", "mqar"},
                          {"params", {{"form", "symbolic"}, {"num_kv_pairs", 16}, {"seq_len", 128},
                                      {"random_non_queries", false}}}}}},
              {"cases", cases},
              {"mode", {"query_agnostic", "query_aware"}},
              {"engine", {{"threads", 1}}}};
}

// A fresh directory under the test tmp dir.
fs::path fresh_dir(const std::string& name) {
  const fs::path d = test::tmp_dir() / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

fs::path write_config(const fs::path& dir, const json& j) {
  const fs::path p = dir / "sweep.json";
  std::ofstream(p) << j.dump(2);
  return p;
}

// What a row must carry whichever process ran it: per (config hash, case id).
using Facts = std::tuple<std::string, std::string, double, int64_t, int64_t, int64_t, std::string>;
std::map<std::pair<std::string, std::string>, Facts> rows(const fs::path& db) {
  ResultsStore s(db, true);
  Statement q = s.prepare(
      "SELECT config_hash, case_id, status, prediction, COALESCE(score, -1), kept_tokens, kv_resident_bytes, "
      "context_tokens, case_hash FROM samples");
  std::map<std::pair<std::string, std::string>, Facts> out;
  while (q.step())
    out[{q.text(0), q.text(1)}] = Facts{q.text(2), q.text(3), q.real(4), q.integer(5), q.integer(6), q.integer(7),
                                        q.text(8)};
  return out;
}

int64_t scalar(const fs::path& db, const std::string& sql) {
  ResultsStore s(db, true);
  Statement q = s.prepare(sql);
  return q.step() ? q.integer(0) : -1;
}

// --- Without a cluster: scripts, completion, bad input.

TEST(SlurmScripts, ArraySpecsRoundTrip) {
  EXPECT_EQ(array_spec({0, 1, 2, 3}), "0-3");
  EXPECT_EQ(array_spec({1, 3}), "1,3");
  EXPECT_EQ(array_spec({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
  EXPECT_EQ(parse_array_spec("0-2,5,7-8%2"), (std::vector<int>{0, 1, 2, 5, 7, 8}));
  EXPECT_EQ(parse_array_spec("[1,3]"), (std::vector<int>{1, 3}));
  EXPECT_EQ(parse_array_spec("4"), (std::vector<int>{4}));
  EXPECT_TRUE(parse_array_spec("N/A").empty());
}

TEST(SlurmScripts, PrintWritesAnArrayOfShardsAndAMergeJob) {
  const fs::path dir = fresh_dir("slurm_print");
  const fs::path cfg = write_config(dir, oracle_config("print-test", 256, 2));
  const fs::path db = dir / "out.db";
  auto r = test::run_kvbench("slurm '" + cfg.string() + "' --db '" + db.string() +
                             "' --shards 4 --partition gpu --gpus-per-task 1 --cpus-per-task 8 --time 02:00:00 "
                             "--account proj1 --extra-sbatch='--qos=high --mem=64G' --print");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path job = dir / "out.slurm";
  const std::string shard = read_text_file(job / "shard.sbatch"), merge = read_text_file(job / "merge.sbatch");
  for (const std::string& line : std::vector<std::string>{"#SBATCH --array=0-3", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-task=1", "#SBATCH --cpus-per-task=8",
        "#SBATCH --time=02:00:00", "#SBATCH --account=proj1", "#SBATCH --qos=high", "#SBATCH --mem=64G",
        "#SBATCH --requeue", "#SBATCH --job-name=kvb-print-test", "--shard \"$i/4\"",
        "/shards/\"shard-$i-of-4.db\"", "sweep " + cfg.string()})
    EXPECT_NE(shard.find(line), std::string::npos) << line << "\n" << shard;
  EXPECT_EQ(merge.find("--gpus-per-task"), std::string::npos) << merge;  // the merge needs no GPU
  for (int i = 0; i < 4; ++i)
    EXPECT_NE(merge.find(fmt::format("shard-{}-of-4.db", i)), std::string::npos) << merge;
  EXPECT_NE(merge.find("-o " + db.string()), std::string::npos) << merge;
  EXPECT_NE(merge.find("report " + db.string() + " -o " + (dir / "out.html").string()), std::string::npos) << merge;
  EXPECT_NE(r.output.find("==> " + (job / "shard.sbatch").string()), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(job / "submit.sh"));
  EXPECT_TRUE(fs::exists(job / "slurm.json"));
  // The scripts are valid bash.
  for (const char* f : {"shard.sbatch", "merge.sbatch", "submit.sh"}) {
    const ProcessResult syntax = run_process({"bash", "-n", (job / f).string()});
    EXPECT_EQ(syntax.exit_code, 0) << f << ": " << syntax.output;
  }
  // Nothing ran yet: --status lists four unstarted shards and exits 1.
  auto st = test::run_kvbench("slurm --status '" + db.string() + "'");
  EXPECT_EQ(st.exit_code, 1) << st.output;
  EXPECT_NE(st.output.find("0 of 4 shards done"), std::string::npos) << st.output;
}

// Shards 0 and 2 of 4 run as plain `kvbench sweep --shard` into the shard directory: they are done,
// the rewritten array holds only 1 and 3; a shard whose config changed since is not done.
TEST(SlurmScripts, FinishedShardsAreLeftOutOfTheArray) {
  const fs::path dir = fresh_dir("slurm_partial");
  const fs::path cfg = write_config(dir, oracle_config("partial", 256, 2));
  const fs::path db = dir / "all.db", shards = dir / "shared_fs";
  const std::string base = "slurm '" + cfg.string() + "' --db '" + db.string() + "' --shards 4 --shard-dir '" +
                           shards.string() + "'";
  ASSERT_EQ(test::run_kvbench(base).exit_code, 0);
  for (int i : {0, 2}) {
    auto s = test::run_kvbench("-q sweep '" + cfg.string() + "' --shard " + std::to_string(i) + "/4 --db '" +
                               (shards / fmt::format("shard-{}-of-4.db", i)).string() + "'");
    ASSERT_EQ(s.exit_code, 0) << s.output;
  }
  auto r = test::run_kvbench(base);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2 done, 2 to run (array 1,3)"), std::string::npos) << r.output;
  EXPECT_NE(read_text_file(dir / "all.slurm/shard.sbatch").find("#SBATCH --array=1,3\n"), std::string::npos);
  auto st = test::run_kvbench("slurm --status '" + db.string() + "'");
  EXPECT_EQ(st.exit_code, 1) << st.output;
  EXPECT_NE(st.output.find("2 of 4 shards done"), std::string::npos) << st.output;
  EXPECT_TRUE(std::regex_search(st.output, std::regex(R"(\n +0  done +[1-9])"))) << st.output;
  EXPECT_TRUE(std::regex_search(st.output, std::regex(R"(\n +1  not started)"))) << st.output;

  // Another number of shards would repartition the cases: refused while shard databases exist.
  auto other = test::run_kvbench("slurm '" + cfg.string() + "' --db '" + db.string() + "' --shards 3 --shard-dir '" +
                                 shards.string() + "'");
  EXPECT_EQ(other.exit_code, 2) << other.output;
  EXPECT_NE(other.output.find("keep --shards 4"), std::string::npos) << other.output;

  // A changed config (one more case per configuration): no shard is done any more.
  write_config(dir, oracle_config("partial", 256, 3));
  r = test::run_kvbench(base);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("0 done, 4 to run (array 0-3)"), std::string::npos) << r.output;
  st = test::run_kvbench("slurm --status '" + db.string() + "'");
  EXPECT_TRUE(std::regex_search(st.output, std::regex(R"(\n +2  old config +[1-9])"))) << st.output;
}

TEST(SlurmCli, BadInputIsOneErrorLineWithExitCode2) {
  const fs::path dir = fresh_dir("slurm_bad");
  const fs::path cfg = write_config(dir, oracle_config("bad", 256, 2));
  const std::string db = (dir / "x.db").string();
  const std::string ok = "slurm '" + cfg.string() + "' --db '" + db + "'";
  const std::pair<std::string, std::string> cases[] = {
      {ok, "--shards: give the number of array tasks"},
      {ok + " --shards 0", "--shards: give the number of array tasks"},
      {"slurm '" + cfg.string() + "' --shards 2", "--db: give the merged results database"},
      {"slurm --db '" + db + "' --shards 2", "give the sweep config"},
      {"slurm '" + (dir / "missing.yaml").string() + "' --db '" + db + "' --shards 2", "sweep config not found"},
      {ok + " --shards 2 --partition 'a b'", "--partition 'a b': expected one word"},
      {ok + " --shards 2 --extra-sbatch=qos", "--extra-sbatch 'qos': expected sbatch options"},
      {ok + " --shards 2 --gpus-per-task -1", "--gpus-per-task -1"},
      {ok + " --shards 2 --submit --print", "--submit and --print: give one"},
      {"slurm --status '" + (dir / "nothing.db").string() + "'", "no Slurm plan for"},
  };
  for (const auto& [args, message] : cases) {
    auto r = test::run_kvbench(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(r.output.find("error:"), r.output.rfind("error:")) << "one error line: " << r.output;
  }
  // --submit where sbatch is not on PATH: a clear error, nothing submitted.
  auto r = test::run_kvbench_env("PATH=/nonexistent", ok + " --shards 2 --submit");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("sbatch not found on PATH"), std::string::npos) << r.output;
}

// engine.threads 0 means the CPUs the process may run on (what a Slurm allocation binds a task to),
// not every core of the machine: a sweep under `taskset -c 0` runs one thread.
TEST(SlurmThreads, ThreadsZeroMeansTheCpusOfTheAffinityMask) {
  if (!find_on_path("taskset")) GTEST_SKIP() << "taskset not found (util-linux)";
  const fs::path dir = fresh_dir("slurm_threads");
  json j = oracle_config("threads", 256, 1);
  j["engine"]["threads"] = 0;
  j["methods"] = {"full"};
  const fs::path cfg = write_config(dir, j), db = dir / "t.db";
  const ProcessResult r = run_process({"taskset", "-c", "0", kvb::test::kvbench_binary(), "-q", "sweep", cfg.string(), "--db", db.string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM samples WHERE threads = 1"), scalar(db, "SELECT count(*) FROM samples"));
  EXPECT_GT(scalar(db, "SELECT count(*) FROM samples"), 0);
}

// --- Against a real Slurm.

// Why this machine cannot run the local cluster, or "" when it can.
std::string slurm_unavailable() {
  if (geteuid() != 0) return "not root: scripts/slurm-local.sh runs munged and slurmd as root";
  for (const char* b : {"munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo"})
    if (!find_on_path(b) && !fs::exists(fs::path("/usr/sbin") / b))
      return std::string(b) + " not found: run scripts/setup.sh (Debian packages munge slurmctld slurmd slurm-client)";
  return "";
}

// A single-node cluster for one test: started in the constructor, always stopped in the
// destructor, its logs (and the jobs' logs) printed when the test failed.
class LocalSlurm {
 public:
  LocalSlurm(const fs::path& dir, const fs::path& job_logs) : dir_(dir / "cluster"), job_logs_(job_logs) {
    const ProcessResult r = run_process({"bash", script().string(), "start", dir_.string()});
    started_ = r.exit_code == 0;
    start_output_ = r.output;
  }
  ~LocalSlurm() {
    if (::testing::Test::HasFailure()) {
      std::printf("%s\n", run_process({"bash", script().string(), "logs", dir_.string()}).output.c_str());
      std::printf("squeue: %s\n", shell("squeue -o '%i %T %r'").output.c_str());
      std::error_code ec;
      if (fs::is_directory(job_logs_, ec))
        for (const auto& f : fs::directory_iterator(job_logs_))
          std::printf("===== %s\n%s\n", f.path().c_str(), read_text_file(f.path()).c_str());
    }
    run_process({"bash", script().string(), "stop", dir_.string()});
  }
  LocalSlurm(const LocalSlurm&) = delete;
  LocalSlurm& operator=(const LocalSlurm&) = delete;

  bool started() const { return started_; }
  const std::string& start_output() const { return start_output_; }
  std::string env() const { return "SLURM_CONF=" + (dir_ / "slurm.conf").string(); }
  // A shell command with this cluster's SLURM_CONF.
  ProcessResult shell(const std::string& cmd) const {
    return run_process({"bash", "-c", "export " + env() + " PATH=\"$PATH:/usr/sbin\"; " + cmd});
  }
  // Waits until no job is queued or running (true), a job waits on a dependency that can no longer
  // be met, or `seconds` pass (false).
  bool wait_until_idle(double seconds, std::string* why) const {
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
      const ProcessResult q = shell("squeue --noheader --format='%i %T %r'");
      if (q.exit_code == 0 && q.output.find_first_not_of(" \n") == std::string::npos) return true;
      if (q.output.find("DependencyNeverSatisfied") != std::string::npos) {
        *why = "a job's dependency can never be satisfied: " + q.output;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    *why = fmt::format("jobs still queued after {} s: {}", seconds, shell("squeue").output);
    return false;
  }

 private:
  static fs::path script() { return test::source_dir() / "scripts/slurm-local.sh"; }
  fs::path dir_, job_logs_;
  bool started_ = false;
  std::string start_output_;
};

#define KVB_REQUIRE_SLURM()                                   \
  do {                                                        \
    const std::string why_not = slurm_unavailable();          \
    if (!why_not.empty()) GTEST_SKIP() << "no local Slurm: " << why_not; \
  } while (0)

// The last "already stored" count in a shard's log (the sweep's summary line), or -1.
int64_t last_already_stored(const fs::path& log) {
  const std::string text = read_text_file(log);
  const std::regex summary(R"((\d+) already stored)");
  int64_t last = -1;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), summary); it != std::sregex_iterator(); ++it)
    last = std::stoll((*it)[1]);
  return last;
}

// Waits until the shard database `db` holds at least one row; returns how many (0: none within `seconds`).
int64_t wait_for_rows(const fs::path& db, double seconds) {
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    std::error_code ec;
    if (fs::exists(db, ec)) {
      try {
        const int64_t n = scalar(db, "SELECT count(*) FROM samples");
        if (n > 0) return n;
      } catch (const std::exception&) {  // the database is being created
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}

TEST(Slurm, ArrayOfFourShardsWithARequeuedTaskMergesToTheSingleProcessSweep) {
  KVB_REQUIRE_SLURM();
  const auto t0 = Clock::now();
  const fs::path dir = fresh_dir("slurm_array");
  // Needles of 3072 tokens: a shard runs for seconds, long enough to requeue one mid-run.
  const fs::path cfg = write_config(dir, oracle_config("slurm-array", 3072, 12));
  const fs::path single = dir / "single.db", merged = dir / "merged.db";
  auto s = test::run_kvbench("-q sweep '" + cfg.string() + "' --db '" + single.string() + "'");
  ASSERT_EQ(s.exit_code, 0) << s.output;

  LocalSlurm slurm(dir, dir / "merged.slurm/logs");
  ASSERT_TRUE(slurm.started()) << slurm.start_output();
  auto sub = test::run_kvbench_env(slurm.env(), "slurm '" + cfg.string() + "' --db '" + merged.string() +
                                                    "' --shards 4 --submit");
  ASSERT_EQ(sub.exit_code, 0) << sub.output;
  EXPECT_NE(sub.output.find("(shards 0-3) and merge job"), std::string::npos) << sub.output;
  const std::string array_id = load_slurm_plan(merged).submissions.at(0).at("array").get<std::string>();

  // Requeue shard 2 mid-run, as preemption with requeue does; it starts again at once (Slurm would
  // otherwise hold a requeued job for two minutes) and resumes from its database.
  const int64_t before = wait_for_rows(dir / "merged.slurm/shards/shard-2-of-4.db", 120);
  ASSERT_GT(before, 0) << "shard 2 stored nothing within 120 s";
  const std::string task = array_id + "_2";
  const ProcessResult requeue = slurm.shell(
      "scontrol requeue " + task + " && for i in $(seq 1 120); do [ \"$(squeue -h -j " + task +
      " -o %r)\" = BeginTime ] && break; sleep 0.25; done && scontrol update JobId=" + task + " StartTime=now");
  ASSERT_EQ(requeue.exit_code, 0) << requeue.output;
  std::string why;
  ASSERT_TRUE(slurm.wait_until_idle(240, &why)) << why;
  const fs::path log2 = dir / "merged.slurm/logs/shard-2.log";
  EXPECT_NE(read_text_file(log2).find("restart 1"), std::string::npos) << read_text_file(log2);
  EXPECT_GE(last_already_stored(log2), before) << read_text_file(log2);
  EXPECT_EQ(scalar(dir / "merged.slurm/shards/shard-2-of-4.db", "SELECT count(*) FROM runs WHERE status <> 'finished'"),
            1);

  auto st = test::run_kvbench_env(slurm.env(), "slurm --status '" + merged.string() + "'");
  EXPECT_EQ(st.exit_code, 0) << st.output;
  EXPECT_NE(st.output.find("4 of 4 shards done"), std::string::npos) << st.output;
  ASSERT_TRUE(fs::exists(merged)) << read_text_file(dir / "merged.slurm/logs/merge.log");
  EXPECT_TRUE(fs::exists(dir / "merged.html"));
  const auto want = rows(single), got = rows(merged);
  EXPECT_GT(want.size(), 100u);
  EXPECT_EQ(got, want);
  EXPECT_EQ(scalar(merged, "SELECT count(*) FROM samples"), scalar(single, "SELECT count(*) FROM samples"));
  // Every shard did a share of the work, and four finished shard runs are recorded.
  for (int i = 0; i < 4; ++i)
    EXPECT_GT(scalar(dir / fmt::format("merged.slurm/shards/shard-{}-of-4.db", i), "SELECT count(*) FROM samples"),
              10);
  EXPECT_EQ(scalar(merged, "SELECT count(*) FROM runs WHERE status = 'finished' AND shard LIKE '%/4'"), 4);
  std::printf("[ timing   ] Slurm array test: %.1f s (shard 2 requeued after %lld rows)\n",
              std::chrono::duration<double>(Clock::now() - t0).count(), static_cast<long long>(before));
}

TEST(Slurm, CancelledShardIsResubmittedAloneAndNothingIsLostOrDuplicated) {
  KVB_REQUIRE_SLURM();
  const auto t0 = Clock::now();
  const fs::path dir = fresh_dir("slurm_cancel");
  // Longer needles: a shard runs for several seconds, long enough to cancel it mid-run.
  const fs::path cfg = write_config(dir, oracle_config("slurm-cancel", 3072, 12));
  const fs::path single = dir / "single.db", merged = dir / "merged.db";
  const fs::path victim_db = dir / "merged.slurm/shards/shard-1-of-4.db";

  LocalSlurm slurm(dir, dir / "merged.slurm/logs");
  ASSERT_TRUE(slurm.started()) << slurm.start_output();
  const std::string submit = "slurm '" + cfg.string() + "' --db '" + merged.string() + "' --shards 4 --submit";
  auto sub = test::run_kvbench_env(slurm.env(), submit);
  ASSERT_EQ(sub.exit_code, 0) << sub.output;
  const std::string array_id = load_slurm_plan(merged).submissions.at(0).at("array").get<std::string>();
  // While its tasks are queued or running, --status names them and a second --submit is refused.
  auto queued = test::run_kvbench_env(slurm.env(), "slurm --status '" + merged.string() + "'");
  EXPECT_EQ(queued.exit_code, 1) << queued.output;
  EXPECT_NE(queued.output.find(array_id + "_3 "), std::string::npos) << queued.output;
  auto early = test::run_kvbench_env(slurm.env(), submit);
  EXPECT_EQ(early.exit_code, 2) << early.output;
  EXPECT_NE(early.output.find("still queued or running"), std::string::npos) << early.output;

  // Cancel shard 1 once it has stored some rows (it is among the first two tasks to start).
  const int64_t before = wait_for_rows(victim_db, 120);
  ASSERT_GT(before, 0) << "shard 1 stored nothing within 120 s";
  const ProcessResult cancel = slurm.shell("scancel " + array_id + "_1");
  ASSERT_EQ(cancel.exit_code, 0) << cancel.output;

  // The single-process reference runs while the other shards finish.
  auto s = test::run_kvbench("-q sweep '" + cfg.string() + "' --db '" + single.string() + "'");
  ASSERT_EQ(s.exit_code, 0) << s.output;

  // The other tasks finish; the merge job now waits on a dependency that cannot be met.
  const auto until = Clock::now() + std::chrono::seconds(180);
  while (Clock::now() < until) {
    const ProcessResult q = slurm.shell("squeue --noheader --array --format='%F %K' | grep -c '^" + array_id + " '");
    if (q.output.find_first_not_of("0\n") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  const ShardState cut = shard_state(load_slurm_plan(merged), 1);
  ASSERT_FALSE(cut.done) << "shard 1 finished before the cancel reached it";
  const int64_t kept = cut.samples;
  EXPECT_GE(kept, before);
  auto st = test::run_kvbench_env(slurm.env(), "slurm --status '" + merged.string() + "'");
  EXPECT_EQ(st.exit_code, 1) << st.output;
  EXPECT_NE(st.output.find("3 of 4 shards done"), std::string::npos) << st.output;
  EXPECT_FALSE(fs::exists(merged));

  // Rerunning the same command resubmits shard 1 alone (and a new merge job in place of the stale one).
  auto again = test::run_kvbench_env(slurm.env(), submit);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("3 done, 1 to run (array 1)"), std::string::npos) << again.output;
  EXPECT_NE(again.output.find("cancelled the earlier merge job"), std::string::npos) << again.output;
  EXPECT_NE(read_text_file(dir / "merged.slurm/shard.sbatch").find("#SBATCH --array=1\n"), std::string::npos);
  std::string why;
  ASSERT_TRUE(slurm.wait_until_idle(180, &why)) << why;

  // The resumed task kept what the cancelled one stored and ran only the rest.
  EXPECT_EQ(last_already_stored(dir / "merged.slurm/logs/shard-1.log"), kept);
  EXPECT_EQ(scalar(victim_db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 1);
  EXPECT_EQ(scalar(victim_db, "SELECT count(*) FROM runs WHERE status <> 'finished'"), 1);
  ASSERT_TRUE(fs::exists(merged)) << read_text_file(dir / "merged.slurm/logs/merge.log");
  const auto want = rows(single), got = rows(merged);
  EXPECT_EQ(got, want);
  EXPECT_EQ(scalar(merged, "SELECT count(*) FROM samples"), scalar(single, "SELECT count(*) FROM samples"));
  std::printf("[ timing   ] Slurm cancel/resubmit test: %.1f s (shard 1 cancelled after %lld rows, %lld kept)\n",
              std::chrono::duration<double>(Clock::now() - t0).count(), static_cast<long long>(before),
              static_cast<long long>(kept));
}

}  // namespace
}  // namespace kvb
