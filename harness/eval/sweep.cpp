// The sweep loop, shards, progress and dry-run plans; see sweep.h. Crash safety comes from the
// store: each case is one SQLite transaction, so a killed sweep loses at most the case in flight
// and a rerun resumes after the last stored case (tests/test_sweep.cpp kills real sweeps).
#include "eval/sweep.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <map>
#include <numeric>
#include <optional>

#include "core/error.h"
#include "core/log.h"
#include "core/threads.h"
#include "core/timer.h"
#include "eval/runner.h"
#include "model/checkpoint.h"
#include "model/transformer.h"
#include "store/provenance.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace kvb {

std::string Shard::str() const { return fmt::format("{}/{}", index, count); }

Shard parse_shard(const std::string& text) {
  Shard s;
  const size_t slash = text.find('/');
  bool ok = slash != std::string::npos && slash > 0 && slash + 1 < text.size();
  if (ok) {
    try {
      size_t a = 0, b = 0;
      s.index = std::stoi(text.substr(0, slash), &a);
      s.count = std::stoi(text.substr(slash + 1), &b);
      ok = a == slash && b == text.size() - slash - 1;
    } catch (...) {
      ok = false;
    }
  }
  KVB_CHECK(ok && s.count >= 1 && s.index >= 0 && s.index < s.count,
            "--shard '{}': expected i/n with 0 <= i < n (e.g. 0/4 ... 3/4)", text);
  return s;
}

double expected_case_cost(const Case& c) {
  double t = c.meta.token_length > 0    ? c.meta.token_length
             : c.meta.target_length > 0 ? c.meta.target_length
             : !c.input_ids.empty()     ? double(c.input_ids.size())
                                        : double(c.context.size() + c.question.size()) / 4.0;
  // Prefill is linear in tokens plus attention's quadratic term; a decode step costs roughly what
  // a few dozen prefill tokens do on a CPU.
  return t + t * t / 16384.0 + 24.0 * c.max_new_tokens;
}

std::vector<int> assign_shards(const std::vector<WorkUnit>& units, std::vector<double>& loads) {
  std::vector<size_t> order(units.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const WorkUnit &x = units[a], &y = units[b];
    if (x.cost != y.cost) return x.cost > y.cost;
    if (x.config_hash != y.config_hash) return x.config_hash < y.config_hash;
    return x.case_id < y.case_id;
  });
  std::vector<int> shard(units.size(), 0);
  for (size_t i : order) {
    const size_t best = size_t(std::min_element(loads.begin(), loads.end()) - loads.begin());
    shard[i] = int(best);
    loads[best] += units[i].cost;
  }
  return shard;
}

namespace {

volatile std::sig_atomic_t g_interrupted = 0;
void on_signal(int sig) {
  g_interrupted = 1;
  std::signal(sig, SIG_DFL);  // a second Ctrl-C ends the process at once
}

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e9) return "?";
  const int64_t t = int64_t(s + 0.5);
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m", t / 3600, t % 3600 / 60);
}

class Progress {
 public:
  Progress(bool quiet, double interval) : quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0), interval_(interval) {}
  void set_total(int64_t total) { total_ = total; }
  void set_current(std::string label) {
    current_ = std::move(label);
    draw(false);
  }
  void case_done() {
    ++done_;
    draw(false);
  }
  void finish() {
    if (quiet_) return;
    if (tty_ && drawn_)
      fmt::print(stderr, "\n");
    else if (!tty_ && done_ > 0)
      draw(true);
  }
  // A message on its own line (keeps the bar intact on a terminal).
  void message(const std::string& m) {
    if (quiet_) return;
    if (tty_ && drawn_) fmt::print(stderr, "\r\033[K");
    fmt::print(stderr, "{}\n", m);
    if (tty_ && drawn_) draw(false);
  }

 private:
  void draw(bool force) {
    if (quiet_) return;
    const double t = clock_.seconds();
    const double rate = t > 0 ? double(done_) / t * 60.0 : 0.0;  // cases per minute
    const int64_t left = std::max<int64_t>(0, total_ - done_);
    const std::string eta = done_ > 0 ? format_duration(double(left) / (rate / 60.0)) : "?";
    if (tty_) {
      const int width = 24;
      const int filled = total_ > 0 ? int(double(width) * double(std::min(done_, total_)) / double(total_)) : 0;
      std::string bar = std::string(size_t(filled), '#') + std::string(size_t(width - filled), '.');
      std::string line =
          fmt::format("[{}] {}/{} | {:.1f} cases/min | ETA {} | {}", bar, done_, total_, rate, eta, current_);
      if (line.size() > 160) line = line.substr(0, 157) + "...";
      fmt::print(stderr, "\r\033[K{}", line);
      std::fflush(stderr);
      drawn_ = true;
    } else if (force || t - last_line_ >= interval_) {
      last_line_ = t;
      fmt::print(stderr, "progress: {}/{} cases | {:.1f} cases/min | ETA {} | {}\n", done_, total_, rate, eta,
                 current_);
      std::fflush(stderr);
    }
  }

  bool quiet_, tty_;
  double interval_;
  Stopwatch clock_;
  double last_line_ = 0.0;
  int64_t total_ = 0, done_ = 0;
  std::string current_;
  bool drawn_ = false;
};

json decode_steps_json(const std::vector<double>& steps) {
  json a = json::array();
  for (double s : steps) a.push_back(s);
  return a;
}

ConfigRecord config_record(const SweepCell& cell, const SweepModel& m, const std::string& model_hash,
                           const json& canonical, const std::string& hash) {
  ConfigRecord r;
  r.hash = hash;
  r.canonical_json = canonical.dump();
  r.model_path = m.path.string();
  r.model_name = m.path.filename().string();
  r.model_hash = model_hash;
  r.chat_template = m.chat_template;
  r.weights = m.weights;
  r.method = cell.method.id;
  r.method_version = cell.method_version;
  r.method_params = canonical["method"]["params"].dump();
  r.compression_ratio = cell.method.compression_ratio;
  r.token_budget = cell.method.token_budget;
  r.mode = canonical["mode"].get<std::string>();
  r.task = cell.task;
  r.task_version = cell.task_version;
  r.task_params = canonical["task"]["params"].dump();
  r.length = cell.length;
  r.seed = cell.seed;
  return r;
}

// Whether a stored case is reused.
bool keep_stored(const std::map<std::string, StoredCase>& stored, const std::string& case_id,
                 const std::string& case_hash, const SweepOptions& opt) {
  if (opt.force) return false;
  auto it = stored.find(case_id);
  if (it == stored.end()) return false;
  if (!case_hash.empty() && it->second.case_hash != case_hash) return false;  // the case itself changed
  if (it->second.status == "error" && opt.rerun_failed) return false;
  return true;
}

constexpr const char* kWholeConfig = "*";  // case id of a row recording that a configuration could not start

struct PreparedCell {
  const SweepCell* cell = nullptr;
  std::string hash;
  std::vector<Case> cases;
  std::vector<int> shard;   // per case
  std::string error;        // the configuration could not start (cases not generated)
  bool skip_whole = false;  // a stored config-level error is kept (no --rerun-failed)
};

}  // namespace

SweepSummary run_sweep(const SweepConfig& config, ResultsStore& store, const SweepOptions& opt) {
  SweepSummary sum;
  Stopwatch total_clock;
  const std::vector<SweepCell> cells = expand_grid(config);
  sum.configs = int64_t(cells.size());
  // A backend that cannot start here fails the whole sweep before anything is recorded.
  {
    const std::string why = backend_unavailable_reason(config.engine.backend);
    KVB_CHECK(why.empty(), "engine.backend: {}", why);
  }

  json run_info = {{"command", opt.command},
                   {"argv", opt.argv},
                   {"sweep_config", config.json},
                   {"shard", opt.shard.count > 1 ? opt.shard.str() : std::string()}};
  sum.run_id = store.begin_run(run_info);
  g_interrupted = 0;
  auto old_int = std::signal(SIGINT, on_signal);
  auto old_term = std::signal(SIGTERM, on_signal);

  Progress progress(opt.quiet, opt.progress_interval_seconds);
  set_num_threads(config.engine.threads);
  const int threads = num_threads();

  // Model hashes first (cached in the store by path + size + mtime).
  std::vector<std::string> model_hash(config.models.size());
  for (size_t i = 0; i < config.models.size(); ++i) {
    if (i > 0 && config.models[i].path == config.models[i - 1].path) {
      model_hash[i] = model_hash[i - 1];
      continue;
    }
    Stopwatch sw;
    model_hash[i] = store.model_hash(config.models[i].path);
    if (sw.seconds() > 1.0) log_info("hashed {} in {:.1f}s", config.models[i].path.string(), sw.seconds());
  }

  // Rough total for the progress line until each model's cases are generated.
  std::map<size_t, int64_t> estimate_by_model;
  {
    auto counts = store.stored_counts();
    for (const auto& cell : cells) {
      const std::string h = config_hash(cell.canonical(model_hash[cell.model], config.models[cell.model], config.engine));
      int64_t n = (cell.expected_cases + opt.shard.count - 1) / opt.shard.count;
      if (!opt.force) n -= std::min<int64_t>(n, counts.count(h) ? counts[h] / opt.shard.count : 0);
      estimate_by_model[cell.model] += n;
    }
  }
  auto total_now = [&] {
    int64_t t = 0;
    for (auto& [m, n] : estimate_by_model) t += n;
    return t;
  };
  progress.set_total(total_now());

  std::vector<double> loads(size_t(opt.shard.count), 0.0);
  std::vector<bool> model_done(config.models.size(), false);
  try {
    for (size_t first = 0; first < config.models.size() && !g_interrupted; ++first) {
      if (model_done[first]) continue;
      // Every model entry with the same file and weight mode shares one load.
      std::vector<size_t> group;
      for (size_t i = first; i < config.models.size(); ++i)
        if (!model_done[i] && config.models[i].path == config.models[first].path &&
            config.models[i].weights == config.models[first].weights) {
          group.push_back(i);
          model_done[i] = true;
        }
      std::vector<const SweepCell*> group_cells;
      for (const auto& c : cells)
        if (std::find(group.begin(), group.end(), c.model) != group.end()) group_cells.push_back(&c);
      if (group_cells.empty()) continue;

      // Load (errors are recorded per configuration and the sweep goes on).
      const SweepModel& m0 = config.models[first];
      std::string load_error;
      std::optional<Checkpoint> ck;
      std::unique_ptr<Tokenizer> tok;
      std::optional<Transformer> model;
      progress.set_current(fmt::format("loading {}", m0.path.filename().string()));
      try {
        ck.emplace(load_checkpoint(m0.path));
        if (m0.weights == "f32") ck->weights.dequantize_all();
        tok = make_tokenizer(ck->tokenizer);
        model.emplace(ck->config, ck->weights,
                      RunnerOptions{config.engine.prefill_chunk, config.engine.backend, config.engine.device_dtype,
                                    config.engine.matmul});
        // Warm-up (excluded from every timing): a short forward pass touches the weights once.
        KVCache warm = model->make_cache();
        std::vector<int32_t> ids(16, tok->bos_id() >= 0 ? tok->bos_id() : 1);
        model->forward(ids, warm, LogitRows::Last);
      } catch (const std::exception& e) {
        load_error = fmt::format("loading {}: {}", m0.path.string(), e.what());
        progress.message(fmt::format("configuration failed: {}", load_error));
      }

      // Generate every configuration's cases, then partition them across shards.
      std::vector<PreparedCell> prepared;
      std::vector<WorkUnit> units;
      std::vector<std::pair<size_t, size_t>> unit_of;  // (prepared index, case index)
      for (const SweepCell* cell : group_cells) {
        const SweepModel& m = config.models[cell->model];
        const json canonical = cell->canonical(model_hash[cell->model], m, config.engine);
        PreparedCell p;
        p.cell = cell;
        p.hash = config_hash(canonical);
        store.put_config(config_record(*cell, m, model_hash[cell->model], canonical, p.hash));
        // Cases are generated even for a configuration kept as failed, so that the shard partition
        // depends on the config alone, never on what a database holds.
        p.skip_whole = store.stored_cases(p.hash).count(kWholeConfig) && !opt.force && !opt.rerun_failed;
        if (p.skip_whole) sum.already_stored += 1;
        if (!load_error.empty()) {
          p.error = load_error;
        } else {
          try {
            TaskEnv env{tok.get(), resolve_chat_format(m.chat_template, ck->chat_template)};
            p.cases = generate_cases(cell->task, cell->task_params, cell->seed, env);
          } catch (const std::exception& e) {
            p.error = fmt::format("generating the cases of {}: {}", cell->task, e.what());
          }
        }
        for (size_t i = 0; i < p.cases.size(); ++i) {
          units.push_back(WorkUnit{p.hash, p.cases[i].id, expected_case_cost(p.cases[i])});
          unit_of.emplace_back(prepared.size(), i);
        }
        prepared.push_back(std::move(p));
      }
      std::vector<int> shard_of = assign_shards(units, loads);
      for (auto& p : prepared) p.shard.assign(p.cases.size(), 0);
      for (size_t u = 0; u < units.size(); ++u) prepared[unit_of[u].first].shard[unit_of[u].second] = shard_of[u];

      // What this invocation will run, for the progress total.
      int64_t to_run = 0;
      std::vector<std::map<std::string, StoredCase>> stored_of(prepared.size());
      for (size_t pi = 0; pi < prepared.size(); ++pi) {
        auto& p = prepared[pi];
        if (p.skip_whole || !p.error.empty()) continue;
        stored_of[pi] = store.stored_cases(p.hash);
        store.plan_config(sum.run_id, p.hash, int64_t(p.cases.size()));
        for (size_t i = 0; i < p.cases.size(); ++i)
          if (p.shard[i] == opt.shard.index &&
              !keep_stored(stored_of[pi], p.cases[i].id, fnv1a64_hex(case_to_json(p.cases[i]).dump()), opt))
            ++to_run;
      }
      estimate_by_model[first] = to_run;
      for (size_t g : group)
        if (g != first) estimate_by_model[g] = 0;
      progress.set_total(total_now());

      for (size_t pi = 0; pi < prepared.size() && !g_interrupted; ++pi) {
        auto& p = prepared[pi];
        const SweepCell& cell = *p.cell;
        const SweepModel& m = config.models[cell.model];
        if (p.skip_whole) continue;
        if (!p.error.empty()) {
          // The configuration could not start: one row for all its cases.
          SampleRecord r;
          r.config_hash = p.hash;
          r.case_id = kWholeConfig;
          r.run_id = sum.run_id;
          r.status = "error";
          r.reason = p.error;
          r.backend = config.engine.backend;
          r.threads = threads;
          r.prefill_chunk = config.engine.prefill_chunk;
          store.put_sample(r);
          ++sum.config_errors;
          if (load_error.empty())
            progress.message(fmt::format("configuration failed: {}: {}", cell.label(config), p.error));
          continue;
        }
        if (stored_of[pi].count(kWholeConfig)) store.delete_sample(p.hash, kWholeConfig);
        progress.set_current(cell.label(config));
        const TaskEnv env{tok.get(), resolve_chat_format(m.chat_template, ck->chat_template)};
        for (size_t i = 0; i < p.cases.size() && !g_interrupted; ++i) {
          const Case& c = p.cases[i];
          if (p.shard[i] != opt.shard.index) {
            ++sum.other_shards;
            continue;
          }
          const std::string case_hash = fnv1a64_hex(case_to_json(c).dump());
          if (keep_stored(stored_of[pi], c.id, case_hash, opt)) {
            ++sum.already_stored;
            continue;
          }
          SampleRecord r;
          r.config_hash = p.hash;
          r.case_id = c.id;
          r.case_hash = case_hash;
          r.run_id = sum.run_id;
          r.answers = json(c.answers).dump();
          r.scorer = c.scorer;
          r.backend = config.engine.backend;
          r.threads = threads;
          r.prefill_chunk = config.engine.prefill_chunk;
          r.case_meta = json{{"depths", c.meta.depths},
                             {"target_length", c.meta.target_length},
                             {"token_length", c.meta.token_length}}
                            .dump();
          reset_peak_rss();
          model->reset_device_peak_memory();
          r.device = model->device();
          const int max_pos = ck->config.max_position;
          if (max_pos > 0 && c.meta.target_length > max_pos) {
            r.status = "skipped";
            r.reason =
                fmt::format("target length {} exceeds the model's context window {}", c.meta.target_length, max_pos);
          } else {
            try {
              CaseResult cr = run_case(*model, c, env, cell.method);
              r.status = "ok";
              r.prediction = cr.prediction;
              r.score = cr.score;
              r.prompt_tokens = cr.prompt_tokens;
              r.generated_tokens = cr.generated_tokens;
              r.context_tokens = cr.context_tokens;
              r.kept_tokens = cr.kept_tokens;
              r.prefill_seconds = cr.prefill_seconds;
              r.method_seconds = cr.method_seconds;
              r.decode_seconds = cr.decode_seconds;
              r.decode_p50_seconds = percentile(cr.decode_step_seconds, 50);
              r.decode_p95_seconds = percentile(cr.decode_step_seconds, 95);
              r.decode_step_seconds = decode_steps_json(cr.decode_step_seconds).dump();
              r.kv_resident_bytes = int64_t(cr.kv_resident_bytes);
              r.kv_nominal_bytes = int64_t(cr.kv_nominal_bytes);
              r.kv_peak_bytes = int64_t(cr.kv_peak_bytes);
            } catch (const std::exception& e) {
              r.status = "error";
              r.reason = e.what();
              progress.message(fmt::format("case failed: {} | {}: {}", cell.label(config), c.id, e.what()));
            }
          }
          r.peak_rss_bytes = peak_rss_bytes();
          r.device_peak_bytes = int64_t(model->device_memory().peak_bytes);
          store.put_sample(r);
          ++sum.ran;
          if (r.status == "ok")
            ++sum.ok;
          else if (r.status == "error")
            ++sum.errors;
          else
            ++sum.skipped;
          progress.case_done();
        }
      }
    }
  } catch (...) {
    progress.finish();
    std::signal(SIGINT, old_int);
    std::signal(SIGTERM, old_term);
    try {
      store.end_run(sum.run_id, "failed");
    } catch (...) {
    }
    throw;
  }
  progress.finish();
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  sum.interrupted = g_interrupted != 0;
  sum.seconds = total_clock.seconds();
  store.end_run(sum.run_id, sum.interrupted ? "interrupted" : "finished");
  return sum;
}

SweepPlan plan_sweep(const SweepConfig& config, ResultsStore* store, const Shard& shard) {
  SweepPlan plan;
  const std::vector<SweepCell> cells = expand_grid(config);
  plan.configs = int64_t(cells.size());
  std::map<std::string, int64_t> counts;
  if (store) counts = store->stored_counts();
  std::vector<std::string> hashes(config.models.size());
  for (size_t i = 0; i < config.models.size(); ++i)
    hashes[i] = store ? store->model_hash(config.models[i].path) : hash_model_files(config.models[i].path);
  bool all_history = true;
  for (const auto& cell : cells) {
    plan.cases += cell.expected_cases;
    if (cell.expected_cases == 0) ++plan.uncounted_configs;
    const std::string h = config_hash(cell.canonical(hashes[cell.model], config.models[cell.model], config.engine));
    const int64_t stored = counts.count(h) ? std::min(counts[h], cell.expected_cases) : 0;
    plan.stored += stored;
    const int64_t mine = (cell.expected_cases - stored + shard.count - 1) / shard.count;
    plan.shard_cases += mine;
    // Seconds per prompt token: this model's history in the store, else a rough CPU figure that
    // scales with the checkpoint's size (calibrated on SmolLM2-135M Q4_1, 2 threads).
    std::optional<double> spt = store ? store->seconds_per_token(hashes[cell.model]) : std::nullopt;
    if (!spt) {
      all_history = false;
      const double gb = double(file_stamp(config.models[cell.model].path).size) / 1e9;
      spt = 2.5e-3 * std::max(gb / 0.093, 0.01) * (config.models[cell.model].weights == "f32" ? 1.2 : 1.0);
    }
    const double tokens = cell.expected_tokens;
    plan.estimated_seconds += double(mine) * *spt * tokens * (1.0 + tokens / 32768.0);
  }
  plan.estimate_from_history = all_history && !cells.empty();
  return plan;
}

std::string SweepPlan::describe(const SweepConfig& c, const Shard& shard) const {
  std::string out = fmt::format(
      "sweep {}{}: {} configurations ({} model{}, {} method setting{}, {} budget{}, {} task setting{}, {} length{}, {} "
      "seed{}, {} mode{}), {} cases\n",
      c.name.empty() ? "(unnamed)" : c.name, c.source.empty() ? "" : fmt::format(" ({})", c.source), configs,
      c.models.size(), c.models.size() == 1 ? "" : "s", c.methods.size(), c.methods.size() == 1 ? "" : "s",
      c.budgets.size(), c.budgets.size() == 1 ? "" : "s", c.tasks.size(), c.tasks.size() == 1 ? "" : "s",
      std::max<size_t>(c.lengths.size(), 1), c.lengths.size() > 1 ? "s" : "", c.seeds.size(),
      c.seeds.size() == 1 ? "" : "s", c.query_aware.size(), c.query_aware.size() == 1 ? "" : "s", cases);
  if (uncounted_configs > 0)
    out += fmt::format("plus all rows of the input files of {} configuration{} (counted once generated)\n",
                       uncounted_configs, uncounted_configs == 1 ? "" : "s");
  out += fmt::format("already stored: {}; to run{}: {}\n", stored,
                     shard.count > 1 ? fmt::format(" in shard {}", shard.str()) : "", shard_cases);
  out += fmt::format("estimated time: {} ({}; {} threads)\n", format_duration(estimated_seconds),
                     estimate_from_history ? "from this database's timings of the same models"
                                           : "rough, from the model sizes; stored timings refine it",
                     c.engine.threads > 0 ? std::to_string(c.engine.threads) : "all");
  return out;
}

}  // namespace kvb
