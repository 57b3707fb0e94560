// A sweep as Slurm jobs: job directory, sbatch scripts, per-shard completion (see slurm_jobs.h).
#include "eval/slurm_jobs.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "core/file.h"
#include "core/subprocess.h"
#include "store/results_store.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace kvb {

fs::path SlurmPlan::shard_db(int index) const {
  return shard_dir / fmt::format("shard-{}-of-{}.db", index, shards);
}

fs::path slurm_job_dir(const fs::path& db) {
  fs::path dir = db;
  if (dir.extension() == ".db" || dir.extension() == ".sqlite") dir.replace_extension();
  return fs::path(dir.string() + ".slurm");
}

namespace {

bool has_any(const std::string& s, const char* chars) { return s.find_first_of(chars) != std::string::npos; }

// Job names: the config's name in letters, digits, '-', '_' and '.'.
std::string job_name(const SlurmPlan& p) {
  std::string n;
  for (char c : p.name) n += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return "kvb-" + (n.empty() ? std::string("sweep") : n);
}

// #SBATCH lines every job of the plan shares: partition, time, account, working directory, extras.
std::string common_directives(const SlurmPlan& p) {
  std::string s;
  if (!p.partition.empty()) s += fmt::format("#SBATCH --partition={}\n", p.partition);
  if (!p.time.empty()) s += fmt::format("#SBATCH --time={}\n", p.time);
  if (!p.account.empty()) s += fmt::format("#SBATCH --account={}\n", p.account);
  s += fmt::format("#SBATCH --chdir={}\n", p.workdir.string());
  for (const std::string& e : p.extra_sbatch) s += fmt::format("#SBATCH {}\n", e);
  return s;
}

std::string q(const fs::path& p) { return shell_quote(p.string()); }

}  // namespace

void validate_slurm_options(const SlurmPlan& p) {
  KVB_CHECK(p.shards >= 1 && p.shards <= 100000, "--shards {}: expected a number of array tasks >= 1", p.shards);
  KVB_CHECK(p.gpus_per_task >= 0, "--gpus-per-task {}: expected GPUs per array task >= 0", p.gpus_per_task);
  KVB_CHECK(p.cpus_per_task >= 0, "--cpus-per-task {}: expected CPUs per array task >= 0", p.cpus_per_task);
  const std::pair<const char*, const std::string*> words[] = {
      {"--partition", &p.partition}, {"--time", &p.time}, {"--account", &p.account}};
  for (const auto& [opt, v] : words)
    KVB_CHECK(!has_any(*v, " \t\r\n'\"\\#"), "{} '{}': expected one word (it becomes an #SBATCH line)", opt, *v);
  // #SBATCH lines cannot quote: the paths in them must be single words.
  const std::pair<const char*, const fs::path*> dirs[] = {{"the job directory", &p.job_dir},
                                                          {"the working directory", &p.workdir}};
  for (const auto& [what, v] : dirs)
    KVB_CHECK(!has_any(v->string(), " \t\r\n'\"\\"), "{} '{}': #SBATCH lines need a path without spaces or quotes",
              what, v->string());
  for (const std::string& e : p.extra_sbatch)
    KVB_CHECK(!e.empty() && e[0] == '-' && !has_any(e, " \t\r\n"),
              "--extra-sbatch '{}': expected sbatch options such as \"--qos=high --mem=64G\"", e);
}

std::string array_spec(const std::vector<int>& indices) {
  std::string out;
  for (size_t i = 0; i < indices.size();) {
    size_t j = i;
    while (j + 1 < indices.size() && indices[j + 1] == indices[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? fmt::format("{}", indices[i]) : fmt::format("{}-{}", indices[i], indices[j]);
    i = j + 1;
  }
  return out;
}

std::vector<int> parse_array_spec(const std::string& text) {
  std::vector<int> out;
  std::string spec = text.substr(0, text.find('%'));
  if (!spec.empty() && spec.front() == '[') spec.erase(0, 1);
  if (!spec.empty() && spec.back() == ']') spec.pop_back();
  size_t begin = 0;
  while (begin < spec.size()) {
    size_t end = spec.find(',', begin);
    if (end == std::string::npos) end = spec.size();
    const std::string part = spec.substr(begin, end - begin);
    try {
      const size_t dash = part.find('-');
      if (dash == std::string::npos) {
        out.push_back(std::stoi(part));
      } else {
        const int a = std::stoi(part.substr(0, dash)), b = std::stoi(part.substr(dash + 1));
        for (int i = a; i <= b; ++i) out.push_back(i);
      }
    } catch (...) {  // "N/A" and anything else that is not an index
    }
    begin = end + 1;
  }
  return out;
}

std::string shard_script_text(const SlurmPlan& p, const std::vector<int>& indices) {
  std::string s = "#!/bin/bash\n";
  s += fmt::format(
      "# kvbench sweep {} as a Slurm job array: array task i runs shard i of {} (0-based; the\n"
      "# sweep's cases are spread over the shards by expected cost) into its own database\n"
      "# {}/shard-<i>-of-{}.db and resumes whatever that database holds, so a task that is\n"
      "# preempted, requeued, cancelled or resubmitted loses at most the case in flight.\n"
      "# Written by `kvbench slurm` (docs/cluster.md); edit freely: `kvbench slurm ... --submit` rewrites it.\n",
      p.config.string(), p.shards, p.shard_dir.string(), p.shards);
  s += fmt::format("#SBATCH --job-name={}\n", job_name(p));
  s += fmt::format("#SBATCH --array={}\n", array_spec(indices));
  s += "#SBATCH --ntasks=1\n";
  if (p.cpus_per_task > 0) s += fmt::format("#SBATCH --cpus-per-task={}\n", p.cpus_per_task);
  if (p.gpus_per_task > 0) s += fmt::format("#SBATCH --gpus-per-task={}\n", p.gpus_per_task);
  s += common_directives(p);
  s += "#SBATCH --requeue\n#SBATCH --open-mode=append\n";
  s += fmt::format("#SBATCH --output={}/logs/shard-%a.log\n", p.job_dir.string());
  s += "set -euo pipefail\n";
  s += "i=${SLURM_ARRAY_TASK_ID:?run this script with sbatch: it is a job array}\n";
  s += fmt::format(
      "echo \"kvbench shard $i/{} on $(hostname), job ${{SLURM_JOB_ID:-?}}, restart ${{SLURM_RESTART_COUNT:-0}}, "
      "$(date -u +%FT%TZ)\"\n",
      p.shards);
  s += fmt::format("exec {} sweep {} --shard \"$i/{}\" --db {}/\"shard-$i-of-{}.db\" --progress-interval 60\n",
                   q(p.kvbench), q(p.config), p.shards, q(p.shard_dir), p.shards);
  return s;
}

std::string merge_script_text(const SlurmPlan& p) {
  std::string s = "#!/bin/bash\n";
  s += fmt::format(
      "# Merges the {} shard databases of {} into {} and writes the report {}.\n"
      "# `kvbench slurm --submit` submits it with --dependency=afterok on the shard array; it checks that\n"
      "# every shard finished (kvbench slurm --status, exit 1 otherwise) before merging. Merging refuses\n"
      "# conflicting duplicates. Written by `kvbench slurm` (docs/cluster.md); edit freely.\n",
      p.shards, p.config.string(), p.db.string(), p.report.string());
  s += fmt::format("#SBATCH --job-name={}-merge\n", job_name(p));
  s += "#SBATCH --ntasks=1\n";
  s += common_directives(p);
  s += "#SBATCH --open-mode=append\n";
  s += fmt::format("#SBATCH --output={}/logs/merge.log\n", p.job_dir.string());
  s += "set -euo pipefail\n";
  s += fmt::format("{} slurm --status {}\n", q(p.kvbench), q(p.db));
  s += fmt::format("{} merge", q(p.kvbench));
  for (int i = 0; i < p.shards; ++i) s += fmt::format(" \\\n  {}", q(p.shard_db(i)));
  s += fmt::format(" \\\n  -o {}\n", q(p.db));
  s += fmt::format("{} report {} -o {}\n", q(p.kvbench), q(p.db), q(p.report));
  return s;
}

std::string submit_script_text(const SlurmPlan& p) {
  return fmt::format(
      "#!/bin/bash\n"
      "# Submits the shard array, then the merge job, which starts once every array task ended with exit 0.\n"
      "# `kvbench slurm {} ... --submit` does the same, records the job ids and submits only unfinished shards.\n"
      "set -euo pipefail\n"
      "array=$(sbatch --parsable {})\n"
      "sbatch --parsable --dependency=afterok:\"${{array%%;*}}\" {}\n",
      p.config.string(), q(p.shard_script()), q(p.merge_script()));
}

json slurm_plan_json(const SlurmPlan& p) {
  return json{{"config", p.config.string()},
              {"config_json", p.config_json},
              {"name", p.name},
              {"db", p.db.string()},
              {"report", p.report.string()},
              {"shard_dir", p.shard_dir.string()},
              {"workdir", p.workdir.string()},
              {"kvbench", p.kvbench.string()},
              {"shards", p.shards},
              {"partition", p.partition},
              {"time", p.time},
              {"account", p.account},
              {"gpus_per_task", p.gpus_per_task},
              {"cpus_per_task", p.cpus_per_task},
              {"extra_sbatch", p.extra_sbatch},
              {"submissions", p.submissions}};
}

SlurmPlan load_slurm_plan(const fs::path& db) {
  const fs::path file = slurm_job_dir(fs::absolute(db)) / "slurm.json";
  std::error_code ec;
  KVB_CHECK(fs::exists(file, ec), "{}: no Slurm plan for {} (write one with: kvbench slurm CONFIG --db {} --shards N)",
            file.string(), db.string(), db.string());
  SlurmPlan p;
  try {
    const json j = json::parse(read_text_file(file));
    p.config = j.at("config").get<std::string>();
    p.config_json = j.at("config_json");
    p.name = j.at("name").get<std::string>();
    p.db = j.at("db").get<std::string>();
    p.report = j.at("report").get<std::string>();
    p.job_dir = file.parent_path();
    p.shard_dir = j.at("shard_dir").get<std::string>();
    p.workdir = j.at("workdir").get<std::string>();
    p.kvbench = j.at("kvbench").get<std::string>();
    p.shards = j.at("shards").get<int>();
    p.partition = j.at("partition").get<std::string>();
    p.time = j.at("time").get<std::string>();
    p.account = j.at("account").get<std::string>();
    p.gpus_per_task = j.at("gpus_per_task").get<int>();
    p.cpus_per_task = j.at("cpus_per_task").get<int>();
    p.extra_sbatch = j.at("extra_sbatch").get<std::vector<std::string>>();
    p.submissions = j.at("submissions");
  } catch (const json::exception& e) {
    KVB_FAIL("{}: not a kvbench Slurm plan: {}", file.string(), e.what());
  }
  KVB_CHECK(p.shards >= 1, "{}: shards {}: expected >= 1", file.string(), p.shards);
  return p;
}

ShardState shard_state(const SlurmPlan& p, int index) {
  ShardState st;
  st.index = index;
  const fs::path db = p.shard_db(index);
  std::error_code ec;
  st.exists = fs::exists(db, ec);
  if (!st.exists) return st;
  ResultsStore store(db, true);
  {
    Statement s = store.prepare(
        "SELECT count(*), COALESCE(SUM(status = 'ok'), 0), COALESCE(SUM(status = 'error'), 0), "
        "COALESCE(SUM(status = 'skipped'), 0) FROM samples");
    if (s.step()) st.samples = s.integer(0), st.ok = s.integer(1), st.errors = s.integer(2), st.skipped = s.integer(3);
  }
  // The sweep records a shard as "i/n" (and a one-shard sweep as "").
  const std::string shard = p.shards > 1 ? fmt::format("{}/{}", index, p.shards) : std::string();
  Statement r = store.prepare(
      "SELECT status, started_at, sweep_config, ended_at FROM runs WHERE command = 'sweep' AND shard = ? "
      "ORDER BY run_id");
  r.bind(1, shard);
  while (r.step()) {
    st.last_run = r.text(0) == "running" && r.is_null(3) ? "running or killed" : r.text(0);
    st.last_time = r.text(1);
    if (r.text(0) != "finished") continue;
    if (!r.is_null(2) && json::parse(r.text(2), nullptr, false) == p.config_json)
      st.done = true;
    else
      st.other_config = true;
  }
  st.other_config = st.other_config && !st.done;
  return st;
}

}  // namespace kvb
