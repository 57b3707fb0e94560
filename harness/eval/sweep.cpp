// The sweep: plan (the grid, its hashes and shards; shared with the dry run), execute (per model:
// load, generate, run each case) and row mapping (eval/sweep_rows.h); see sweep.h. Crash safety
// comes from the store: each case is one SQLite transaction, so a killed sweep loses at most the
// case in flight and a rerun resumes after the last stored case (tests/test_sweep.cpp kills real sweeps).
#include "eval/sweep.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csignal>
#include <map>
#include <numeric>
#include <optional>

#include "core/error.h"
#include "core/log.h"
#include "core/threads.h"
#include "core/timer.h"
#include "engine/transformer.h"
#include "eval/runner.h"
#include "eval/sweep_progress.h"
#include "eval/sweep_rows.h"
#include "kv/method.h"
#include "model/checkpoint.h"
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

int64_t parse_byte_size(const std::string& text, const std::string& what) {
  size_t used = 0;
  double v = -1.0;
  try {
    v = std::stod(text, &used);
  } catch (...) {
  }
  std::string unit = text.substr(std::min(used, text.size()));
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (!unit.empty() && (unit.back() == 'i')) unit.pop_back();
  const std::string units = "KMGT";
  double scale = 1.0;
  if (unit.size() == 1 && units.find(char(std::toupper(unit[0]))) != std::string::npos)
    scale = std::pow(1024.0, double(units.find(char(std::toupper(unit[0]))) + 1));
  else
    KVB_CHECK(unit.empty() && used > 0, "{} '{}': expected bytes, e.g. 8G, 512M or 1000000", what, text);
  KVB_CHECK(v >= 0.0 && std::isfinite(v) && v * scale < 9e18, "{} '{}': expected a size >= 0", what, text);
  return int64_t(v * scale);
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

// SIGINT / SIGTERM stop the sweep after the case in flight; the old handlers come back on exit.
class InterruptScope {
 public:
  InterruptScope() : old_int_(std::signal(SIGINT, on_signal)), old_term_(std::signal(SIGTERM, on_signal)) {
    g_interrupted = 0;
  }
  ~InterruptScope() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

// --- Plan: the grid with every configuration's identity (shared by run_sweep and plan_sweep).

struct GridPlan {
  std::vector<SweepCell> cells;
  std::vector<std::string> model_hash;  // per SweepConfig::models entry
  std::vector<nlohmann::json> canonical;  // per cell
  std::vector<std::string> hash;          // per cell: the config hash
};

// Model files are hashed once per path (the store caches hashes by path + size + mtime).
GridPlan plan_grid(const SweepConfig& config, ResultsStore* store) {
  GridPlan g;
  g.cells = expand_grid(config);
  std::map<fs::path, std::string> by_path;
  for (const SweepModel& m : config.models) {
    auto it = by_path.find(m.path);
    if (it == by_path.end()) {
      Stopwatch sw;
      it = by_path.emplace(m.path, store ? store->model_hash(m.path) : hash_model_files(m.path)).first;
      if (sw.seconds() > 1.0) log_info("hashed {} in {:.1f}s", m.path.string(), sw.seconds());
    }
    g.model_hash.push_back(it->second);
  }
  for (const SweepCell& cell : g.cells) {
    g.canonical.push_back(cell.canonical(g.model_hash[cell.model], config.models[cell.model], config.engine));
    g.hash.push_back(config_hash(g.canonical.back()));
  }
  return g;
}

// Model entries that share one load (same file and weight mode), in order of first appearance.
std::vector<std::vector<size_t>> model_groups(const SweepConfig& config) {
  std::vector<std::vector<size_t>> groups;
  std::vector<bool> placed(config.models.size(), false);
  for (size_t first = 0; first < config.models.size(); ++first) {
    if (placed[first]) continue;
    groups.emplace_back();
    for (size_t i = first; i < config.models.size(); ++i)
      if (!placed[i] && config.models[i].path == config.models[first].path &&
          config.models[i].weights == config.models[first].weights) {
        groups.back().push_back(i);
        placed[i] = true;
      }
  }
  return groups;
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

// Cells that see the same cases in the same mode form a prefill group: same model entry, task,
// resolved task parameters (length included) and seed, same mode; methods and budgets differ.
std::string prefill_group_key(const SweepCell& c) {
  std::string key = fmt::format("{}|{}|{}|{}", c.model, c.task, c.seed, c.method.query_aware ? "aware" : "agnostic");
  for (const auto& [k, v] : c.task_params.values()) key += fmt::format("|{}={}", k, v);
  return key;
}

// Whether a cell's rows may start from a shared prefill: shared prefill on, the CPU backend (the
// CUDA backend keeps a device copy of the cache), and a method that does not change the prefill.
bool may_share_prefill(const SweepCell& c, const SweepConfig& config, bool shared_prefill) {
  return shared_prefill && config.engine.backend == "cpu" && !find_method(c.method.id).roles.changes_prefill;
}

// --- Execute.

struct LoadedModel {
  std::optional<Checkpoint> ck;
  std::unique_ptr<Tokenizer> tok;
  std::optional<Transformer> model;
  std::string error;  // the load failed: recorded for every configuration of the model
};

LoadedModel load_model(const SweepModel& m, const EngineOptions& engine) {
  LoadedModel l;
  try {
    l.ck.emplace(load_checkpoint(m.path));
    if (m.weights == "f32") l.ck->weights.dequantize_all();
    l.tok = make_tokenizer(l.ck->tokenizer);
    l.model.emplace(l.ck->config, l.ck->weights, engine);
    // Warm-up (excluded from every timing): a short forward pass touches the weights once.
    KVCache warm = l.model->make_cache();
    std::vector<int32_t> ids(16, l.tok->bos_id() >= 0 ? l.tok->bos_id() : 1);
    l.model->forward(ids, warm, LogitRows::Last);
  } catch (const std::exception& e) {
    l.error = fmt::format("loading {}: {}", m.path.string(), e.what());
  }
  return l;
}

// One configuration of a model group, its cases generated and assigned to shards.
struct PreparedCell {
  size_t cell = 0;          // index into GridPlan::cells
  std::vector<Case> cases;
  std::vector<int> shard;   // per case
  std::vector<std::string> case_hash;  // per case
  std::map<std::string, StoredCase> stored;
  std::string error;        // the configuration could not start (cases not generated)
  bool skip_whole = false;  // a stored config-level error is kept (no --rerun-failed)
  PrefillNeeds needs;       // what the method records during the prefill
  size_t group = 0;         // prefill group (prefill_group_key), index into the model group's list
};

class SweepExecutor {
 public:
  SweepExecutor(const SweepConfig& config, const GridPlan& grid, ResultsStore& store, const SweepOptions& opt,
                SweepSummary& sum)
      : config_(config), grid_(grid), store_(store), opt_(opt), sum_(sum),
        progress_(opt.quiet, opt.progress_interval_seconds), loads_(size_t(opt.shard.count), 0.0) {}

  void run() {
    set_num_threads(config_.engine.threads);
    ctx_ = RowContext{sum_.run_id, config_.engine.backend, num_threads(), config_.engine.prefill_chunk};
    estimate_totals();
    try {
      for (const std::vector<size_t>& group : model_groups(config_)) {
        if (g_interrupted) break;
        run_model_group(group);
      }
    } catch (...) {
      progress_.finish();
      throw;
    }
    progress_.finish();
  }

 private:
  // Rough total for the progress line until each model's cases are generated.
  void estimate_totals() {
    auto counts = store_.stored_counts();
    const int64_t n_shards = opt_.shard.count;
    for (size_t c = 0; c < grid_.cells.size(); ++c) {
      int64_t n = (grid_.cells[c].expected_cases + n_shards - 1) / n_shards;
      auto it = counts.find(grid_.hash[c]);
      if (!opt_.force && it != counts.end()) n -= std::min<int64_t>(n, it->second / n_shards);
      estimate_by_model_[grid_.cells[c].model] += n;
    }
    progress_.set_total(total_estimate());
  }
  int64_t total_estimate() const {
    int64_t t = 0;
    for (const auto& [m, n] : estimate_by_model_) t += n;
    return t;
  }

  void run_model_group(const std::vector<size_t>& group) {
    std::vector<size_t> cells;
    for (size_t c = 0; c < grid_.cells.size(); ++c)
      if (std::find(group.begin(), group.end(), grid_.cells[c].model) != group.end()) cells.push_back(c);
    if (cells.empty()) return;
    const SweepModel& m0 = config_.models[group[0]];
    progress_.set_current(fmt::format("loading {}", m0.path.filename().string()));
    LoadedModel loaded = load_model(m0, config_.engine);
    if (!loaded.error.empty()) progress_.message(fmt::format("configuration failed: {}", loaded.error));

    std::vector<PreparedCell> prepared = prepare_cells(cells, loaded);
    estimate_by_model_[group[0]] = count_to_run(prepared);
    for (size_t g : group)
      if (g != group[0]) estimate_by_model_[g] = 0;
    progress_.set_total(total_estimate());
    for (size_t g = 0; g < group_first_.size() && !g_interrupted; ++g) {
      std::vector<const PreparedCell*> sharing;
      for (const PreparedCell& p : prepared) {
        if (p.group != g) continue;
        const bool runs = !p.skip_whole && p.error.empty();
        if (runs && may_share_prefill(grid_.cells[p.cell], config_, opt_.shared_prefill))
          sharing.push_back(&p);
        else if (!g_interrupted)
          execute_cell(p, loaded);  // one by one (or its configuration's error row)
      }
      if (sharing.size() == 1 && !g_interrupted) execute_cell(*sharing[0], loaded);
      if (sharing.size() > 1) execute_shared(sharing, loaded);
      context_.reset();
    }
  }

  // Rows of cells that share a prefill group, case by case: the cells that still need a case
  // share one prefill of it (split when the memory bound says so), then each runs its method on a
  // copy of the cache.
  void execute_shared(const std::vector<const PreparedCell*>& cells, LoadedModel& loaded) {
    for (const PreparedCell* p : cells)
      if (p->stored.count(kWholeConfigCaseId)) store_.delete_sample(grid_.hash[p->cell], kWholeConfigCaseId);
    const PreparedCell& first = *cells[0];
    const SweepCell& cell0 = grid_.cells[first.cell];
    const SweepModel& m = config_.models[cell0.model];
    const TaskEnv env{loaded.tok.get(), resolve_chat_format(m.chat_template, loaded.ck->chat_template)};
    progress_.set_current(fmt::format("{} x {} configurations (shared prefill)", cell0.task, cells.size()));
    for (size_t i = 0; i < first.cases.size() && !g_interrupted; ++i) {
      std::vector<const PreparedCell*> todo;
      for (const PreparedCell* p : cells) {
        if (p->shard[i] != opt_.shard.index) {
          ++sum_.other_shards;
        } else if (keep_stored(p->stored, p->cases[i].id, p->case_hash[i], opt_)) {
          ++sum_.already_stored;
        } else {
          todo.push_back(p);
        }
      }
      for (const auto& part : split_by_memory(todo, first.cases[i], env, loaded)) {
        if (g_interrupted) break;
        run_shared_case(part, i, env, loaded);
      }
    }
  }

  // The cells of `todo` in parts whose shared prefill fits opt_.max_shared_bytes: the snapshot
  // (cache + the union of their recordings) plus one method's copy of the cache. A part of one
  // cell prefills alone.
  std::vector<std::vector<const PreparedCell*>> split_by_memory(const std::vector<const PreparedCell*>& todo,
                                                                const Case& c, const TaskEnv& env,
                                                                LoadedModel& loaded) const {
    std::vector<std::vector<const PreparedCell*>> parts;
    if (todo.empty()) return parts;
    const ModelConfig& mc = loaded.ck->config;
    int64_t T = 0;
    try {
      T = int64_t(compressed_part(c, env, mc, grid_.cells[todo[0]->cell].method.query_aware).size());
    } catch (const std::exception&) {
      for (const PreparedCell* p : todo) parts.push_back({p});  // each row reports the error itself
      return parts;
    }
    auto estimate = [&](const std::vector<const PreparedCell*>& cells) { return shared_bytes_estimate(cells, T, mc); };
    for (const PreparedCell* p : todo) {  // first fit, in grid order
      bool placed = false;
      for (auto& part : parts) {
        std::vector<const PreparedCell*> grown = part;
        grown.push_back(p);
        if (estimate(grown) <= double(opt_.max_shared_bytes)) {
          part = std::move(grown);
          placed = true;
          break;
        }
      }
      if (!placed) parts.push_back({p});
    }
    return parts;
  }

  // The snapshot a shared prefill of T tokens holds for `cells` (cache + the union of their
  // recordings) plus one method's copy of the cache.
  double shared_bytes_estimate(const std::vector<const PreparedCell*>& cells, int64_t T, const ModelConfig& mc) const {
    const double cache = double(T) * mc.n_layers * mc.n_kv_heads * (2.0 * mc.head_dim * sizeof(float) + sizeof(int32_t));
    std::vector<PrefillNeeds> needs;
    for (const PreparedCell* p : cells) needs.push_back(p->needs);
    const PrefillNeeds u = union_of_needs(needs);
    const double Lq = double(mc.n_layers) * mc.n_heads;
    double rec = Lq * double(std::min<int64_t>(u.window, T)) * mc.head_dim * sizeof(float);
    if (u.attention_mass) rec += Lq * double(T) * sizeof(float);
    if (u.token_surprisal) rec += double(T + mc.vocab_size) * sizeof(float);
    if (u.query_stats_from >= 0) rec += Lq * mc.head_dim * (1.0 + (u.query_covariance ? mc.head_dim : 0)) * 8.0 * 2;
    return 2.0 * cache + rec;
  }

  // Multi-question mode (Case::context_id, query-agnostic): whether case i of `part` asks one of
  // several questions of a context whose prefill its rows then share with the other questions' (when
  // the snapshot fits opt_.max_shared_bytes).
  bool asks_of_shared_context(const std::vector<const PreparedCell*>& part, size_t i, const TaskEnv& env,
                              LoadedModel& loaded) const {
    const Case& c = part[0]->cases[i];
    if (c.context_id.empty() || grid_.cells[part[0]->cell].method.query_aware) return false;
    try {
      const int64_t T = int64_t(compressed_part(c, env, loaded.ck->config, false).size());
      return shared_bytes_estimate(part, T, loaded.ck->config) <= double(opt_.max_shared_bytes);
    } catch (const std::exception&) {
      return false;  // the row reports the error itself
    }
  }
  // The rows that use one prefill of case i's context: the part's cells x the context's questions.
  static int64_t context_rows(const std::vector<const PreparedCell*>& part, size_t i) {
    const std::vector<Case>& cases = part[0]->cases;
    int64_t questions = 0;
    for (const Case& k : cases) questions += k.context_id == cases[i].context_id ? 1 : 0;
    return int64_t(part.size()) * questions;
  }

  // The prefill the rows of `part` share for case i: one recorded now, or (multi-question mode) the
  // one kept from an earlier question of the same context for the same cells. Null when it could not
  // be recorded: each row then prefills alone and records the error itself.
  const RecordedPrefill* shared_prefill_for(const std::vector<const PreparedCell*>& part, size_t i, const TaskEnv& env,
                                            LoadedModel& loaded, bool per_context, std::optional<RecordedPrefill>& own) {
    const Case& c = part[0]->cases[i];
    std::vector<size_t> cells;
    for (const PreparedCell* p : part) cells.push_back(p->cell);
    if (per_context && context_.prefill && context_.context_id == c.context_id && context_.cells == cells)
      return &*context_.prefill;
    context_.reset();
    std::vector<PrefillNeeds> needs;
    for (const PreparedCell* p : part) needs.push_back(p->needs);
    const bool aware = grid_.cells[part[0]->cell].method.query_aware;
    try {
      reset_peak_rss();
      std::optional<RecordedPrefill>& slot = per_context ? context_.prefill : own;
      slot.emplace(record_prefill(*loaded.model, compressed_part(c, env, loaded.ck->config, aware), needs, aware));
      ++sum_.prefills;
      progress_.prefill_done();
      if (per_context) {
        context_.context_id = c.context_id;
        context_.cells = std::move(cells);
      }
      return &*slot;
    } catch (const std::exception&) {
      context_.reset();
      own.reset();
      return nullptr;
    }
  }

  void run_shared_case(const std::vector<const PreparedCell*>& part, size_t i, const TaskEnv& env, LoadedModel& loaded) {
    const Case& c = part[0]->cases[i];
    const int max_pos = loaded.ck->config.max_position;
    std::optional<RecordedPrefill> own;
    const RecordedPrefill* shared = nullptr;
    const bool per_context = asks_of_shared_context(part, i, env, loaded);
    if ((part.size() > 1 || per_context) && !(max_pos > 0 && c.meta.target_length > max_pos))
      shared = shared_prefill_for(part, i, env, loaded, per_context, own);
    const int64_t shared_rows = !shared ? 0 : per_context ? context_rows(part, i) : int64_t(part.size());
    if (!shared || opt_.decode_batch <= 1 || part.size() == 1) {
      for (const PreparedCell* p : part) {
        if (g_interrupted) break;
        const SweepCell& cell = grid_.cells[p->cell];
        progress_.set_current(cell.label(config_));
        run_one_case(cell, grid_.hash[p->cell], c, p->case_hash[i], env, loaded, shared, shared_rows);
      }
      return;
    }
    // The rows decode in batches: as many as --decode-batch and the memory bound allow (the snapshot
    // plus each live row's copy, counted at the full cache's size before its compression).
    const int64_t room = opt_.max_shared_bytes - int64_t(shared->bytes());
    const int64_t per_row = std::max<int64_t>(1, int64_t(shared->cache.resident_bytes()));
    const size_t batch = size_t(std::clamp<int64_t>(room / per_row, 1, opt_.decode_batch));
    for (size_t begin = 0; begin < part.size() && !g_interrupted; begin += batch) {
      const size_t end = std::min(part.size(), begin + batch);
      std::vector<MethodSpec> specs;
      for (size_t k = begin; k < end; ++k) specs.push_back(grid_.cells[part[k]->cell].method);
      progress_.set_current(fmt::format("{}: {} rows decoding together", c.id, specs.size()));
      loaded.model->reset_device_peak_memory();
      std::vector<BatchedRow> rows = run_case_batch(*loaded.model, c, env, specs, *shared);
      const int64_t together = c.input_ids.empty() ? int64_t(specs.size()) : 1;  // symbolic: teacher-forced alone
      for (size_t k = begin; k < end; ++k) {
        const PreparedCell& p = *part[k];
        record_case(grid_.cells[p.cell], grid_.hash[p.cell], c, p.case_hash[i], loaded, rows[k - begin].result,
                    rows[k - begin].error, shared_rows, together);
      }
    }
  }

  // Records each configuration, generates its cases (even for one kept as failed, so that the
  // shard partition depends on the config alone, never on what a database holds) and partitions
  // the group's cases across shards.
  std::vector<PreparedCell> prepare_cells(const std::vector<size_t>& cells, LoadedModel& loaded) {
    std::vector<PreparedCell> prepared;
    group_first_.clear();
    group_key_.clear();
    for (size_t c : cells) {
      const SweepCell& cell = grid_.cells[c];
      const SweepModel& m = config_.models[cell.model];
      PreparedCell p;
      p.cell = c;
      store_.put_config(config_record(cell, m, grid_.model_hash[cell.model], grid_.canonical[c], grid_.hash[c]));
      p.skip_whole = store_.stored_cases(grid_.hash[c]).count(kWholeConfigCaseId) && !opt_.force && !opt_.rerun_failed;
      if (p.skip_whole) sum_.already_stored += 1;
      if (!loaded.error.empty()) {
        p.error = loaded.error;
      } else {
        try {
          TaskEnv env{loaded.tok.get(), resolve_chat_format(m.chat_template, loaded.ck->chat_template)};
          p.cases = generate_cases(cell.task, cell.task_params, cell.seed, env);
        } catch (const std::exception& e) {
          p.error = fmt::format("generating the cases of {}: {}", cell.task, e.what());
        }
        // A method that cannot be built for this model (missing calibration, bad parameters) fails
        // the configuration once instead of every case.
        if (p.error.empty()) {
          try {
            p.needs = make_method(cell.method, loaded.ck->config, &*loaded.model)->prefill_needs();
          } catch (const std::exception& e) {
            p.error = fmt::format("method {}: {}", cell.method.id, e.what());
          }
        }
      }
      for (const Case& k : p.cases) p.case_hash.push_back(case_hash(k));
      // The prefill group: same key and the very same cases (ids and contents).
      const std::string key = prefill_group_key(cell);
      size_t g = 0;
      while (g < group_first_.size() && !(group_key_[g] == key && prepared[group_first_[g]].case_hash == p.case_hash &&
                                          same_case_ids(prepared[group_first_[g]].cases, p.cases)))
        ++g;
      if (g == group_first_.size()) {
        group_first_.push_back(prepared.size());
        group_key_.push_back(key);
      }
      p.group = g;
      prepared.push_back(std::move(p));
    }
    // Shards take (prefill group, case) units, so that every row of a case's shared prefill runs in
    // one shard (multi-question mode: the cases of one context form one unit); the partition depends
    // on the config alone, never on what a database holds.
    std::vector<WorkUnit> units;
    std::vector<std::pair<size_t, std::vector<size_t>>> unit_of;  // (group, case indices)
    std::vector<std::vector<size_t>> members(group_first_.size());  // per group: its prepared cells
    for (size_t i = 0; i < prepared.size(); ++i) members[prepared[i].group].push_back(i);
    for (size_t g = 0; g < group_first_.size(); ++g) {
      const PreparedCell& first = prepared[group_first_[g]];
      for (size_t i = 0; i < first.cases.size(); ++i) {
        const Case& c = first.cases[i];
        const double cost = expected_case_cost(c) * double(members[g].size());
        if (i > 0 && !c.context_id.empty() && c.context_id == first.cases[i - 1].context_id) {
          units.back().cost += cost;
          unit_of.back().second.push_back(i);
          continue;
        }
        units.push_back(WorkUnit{grid_.hash[first.cell], c.context_id.empty() ? c.id : c.context_id, cost});
        unit_of.push_back({g, {i}});
      }
    }
    const std::vector<int> shard_of = assign_shards(units, loads_);
    for (auto& p : prepared) p.shard.assign(p.cases.size(), 0);
    for (size_t u = 0; u < units.size(); ++u)
      for (size_t m : members[unit_of[u].first])
        for (size_t i : unit_of[u].second) prepared[m].shard[i] = shard_of[u];
    return prepared;
  }

  static bool same_case_ids(const std::vector<Case>& a, const std::vector<Case>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].id != b[i].id) return false;
    return true;
  }

  // Cases this invocation will run (for the progress total); loads what each configuration has stored.
  int64_t count_to_run(std::vector<PreparedCell>& prepared) {
    int64_t to_run = 0;
    for (PreparedCell& p : prepared) {
      if (p.skip_whole || !p.error.empty()) continue;
      p.stored = store_.stored_cases(grid_.hash[p.cell]);
      store_.plan_config(sum_.run_id, grid_.hash[p.cell], int64_t(p.cases.size()));
      for (size_t i = 0; i < p.cases.size(); ++i)
        if (p.shard[i] == opt_.shard.index && !keep_stored(p.stored, p.cases[i].id, p.case_hash[i], opt_)) ++to_run;
    }
    return to_run;
  }

  void execute_cell(const PreparedCell& p, LoadedModel& loaded) {
    const SweepCell& cell = grid_.cells[p.cell];
    const std::string& hash = grid_.hash[p.cell];
    if (p.skip_whole) return;
    if (!p.error.empty()) {  // the configuration could not start: one row for all its cases
      store_.put_sample(config_error_row(hash, p.error, ctx_));
      ++sum_.config_errors;
      if (sum_.first_config_error.empty()) sum_.first_config_error = fmt::format("{}: {}", cell.label(config_), p.error);
      if (loaded.error.empty())
        progress_.message(fmt::format("configuration failed: {}: {}", cell.label(config_), p.error));
      return;
    }
    if (p.stored.count(kWholeConfigCaseId)) store_.delete_sample(hash, kWholeConfigCaseId);
    progress_.set_current(cell.label(config_));
    const SweepModel& m = config_.models[cell.model];
    const TaskEnv env{loaded.tok.get(), resolve_chat_format(m.chat_template, loaded.ck->chat_template)};
    const bool shares = may_share_prefill(cell, config_, opt_.shared_prefill);
    for (size_t i = 0; i < p.cases.size() && !g_interrupted; ++i) {
      if (p.shard[i] != opt_.shard.index) {
        ++sum_.other_shards;
        continue;
      }
      if (keep_stored(p.stored, p.cases[i].id, p.case_hash[i], opt_)) {
        ++sum_.already_stored;
        continue;
      }
      if (shares && !p.cases[i].context_id.empty())
        run_shared_case({&p}, i, env, loaded);  // multi-question mode: one prefill per context
      else
        run_one_case(cell, hash, p.cases[i], p.case_hash[i], env, loaded);
    }
  }

  // `shared`: the case's prefill shared by `shared_rows` rows (null: this row prefills alone).
  void run_one_case(const SweepCell& cell, const std::string& hash, const Case& c, const std::string& c_hash,
                    const TaskEnv& env, LoadedModel& loaded, const RecordedPrefill* shared = nullptr,
                    int64_t shared_rows = 0) {
    if (!shared) reset_peak_rss();  // a shared prefill's peak belongs to each row that used it
    loaded.model->reset_device_peak_memory();
    const int max_pos = loaded.ck->config.max_position;
    if (max_pos > 0 && c.meta.target_length > max_pos) {
      SampleRecord r = case_row(hash, c, c_hash, ctx_);
      r.device = loaded.model->device();
      r.status = "skipped";
      r.reason = fmt::format("target length {} exceeds the model's context window {}", c.meta.target_length, max_pos);
      store_row(r, loaded);
      return;
    }
    CaseResult cr;
    std::string error;
    try {
      if (!shared) ++sum_.prefills;
      cr = run_case(*loaded.model, c, env, cell.method, shared);
    } catch (const std::exception& e) {
      error = e.what();
    }
    record_case(cell, hash, c, c_hash, loaded, cr, error, shared ? shared_rows : 0, 1);
  }

  // Stores the row of a case that ran (`error` empty) or failed.
  void record_case(const SweepCell& cell, const std::string& hash, const Case& c, const std::string& c_hash,
                   LoadedModel& loaded, const CaseResult& cr, const std::string& error, int64_t shared_rows,
                   int64_t decode_batch_rows) {
    SampleRecord r = case_row(hash, c, c_hash, ctx_);
    r.device = loaded.model->device();
    if (error.empty()) {
      fill_result(r, cr);
      r.shared_prefill_rows = shared_rows;
      r.decode_batch_rows = decode_batch_rows;
      if (opt_.on_case_result) opt_.on_case_result(hash, c, cr);
    } else {
      r.status = "error";
      r.reason = error;
      progress_.message(fmt::format("case failed: {} | {}: {}", cell.label(config_), c.id, error));
    }
    store_row(r, loaded);
  }

  void store_row(SampleRecord& r, LoadedModel& loaded) {
    r.peak_rss_bytes = peak_rss_bytes();
    r.device_peak_bytes = int64_t(loaded.model->device_memory().peak_bytes);
    store_.put_sample(r);
    ++sum_.ran;
    ++(r.status == "ok" ? sum_.ok : r.status == "error" ? sum_.errors : sum_.skipped);
    progress_.case_done();
  }

  const SweepConfig& config_;
  const GridPlan& grid_;
  ResultsStore& store_;
  const SweepOptions& opt_;
  SweepSummary& sum_;
  SweepProgress progress_;
  RowContext ctx_;
  std::vector<double> loads_;  // expected cost per shard, across model groups
  std::map<size_t, int64_t> estimate_by_model_;
  // Multi-question mode: the prefill of the context the last case asked about, kept for the next
  // questions of that context (query-agnostic rows of the same cells).
  struct ContextPrefill {
    std::string context_id;
    std::vector<size_t> cells;  // grid cells whose needs it recorded
    std::optional<RecordedPrefill> prefill;
    void reset() {
      context_id.clear();
      cells.clear();
      prefill.reset();
    }
  };
  ContextPrefill context_;
  std::vector<size_t> group_first_;     // per prefill group of the current model group: its first cell
  std::vector<std::string> group_key_;  // per prefill group: prefill_group_key
};

}  // namespace

SweepSummary run_sweep(const SweepConfig& config, ResultsStore& store, const SweepOptions& opt) {
  SweepSummary sum;
  Stopwatch total_clock;
  // A backend that cannot start here fails the whole sweep before anything is recorded.
  const std::string why = backend_unavailable_reason(config.engine.backend);
  KVB_CHECK(why.empty(), "engine.backend: {}", why);
  const GridPlan grid = plan_grid(config, &store);
  sum.configs = int64_t(grid.cells.size());

  const json run_info = {{"command", opt.command},
                         {"argv", opt.argv},
                         {"sweep_config", config.json},
                         {"shard", opt.shard.count > 1 ? opt.shard.str() : std::string()}};
  sum.run_id = store.begin_run(run_info);
  InterruptScope interrupts;
  try {
    SweepExecutor(config, grid, store, opt, sum).run();
  } catch (...) {
    try {
      store.end_run(sum.run_id, "failed");
    } catch (...) {
    }
    throw;
  }
  sum.interrupted = g_interrupted != 0;
  sum.seconds = total_clock.seconds();
  store.end_run(sum.run_id, sum.interrupted ? "interrupted" : "finished");
  return sum;
}

SweepPlan plan_sweep(const SweepConfig& config, ResultsStore* store, const Shard& shard, bool shared_prefill) {
  SweepPlan plan;
  const GridPlan grid = plan_grid(config, store);
  // Prefills: one per case and prefill group for the cells that may share (the rows still to run
  // of the first such cell bound it), one per row for the others.
  std::map<std::string, int64_t> group_prefills;
  std::map<std::string, double> group_row_seconds;
  plan.configs = int64_t(grid.cells.size());
  std::map<std::string, int64_t> counts;
  if (store) counts = store->stored_counts();
  bool all_history = true;
  for (size_t c = 0; c < grid.cells.size(); ++c) {
    const SweepCell& cell = grid.cells[c];
    plan.cases += cell.expected_cases;
    if (cell.expected_cases == 0) ++plan.uncounted_configs;
    const int64_t stored = counts.count(grid.hash[c]) ? std::min(counts[grid.hash[c]], cell.expected_cases) : 0;
    plan.stored += stored;
    const int64_t mine = (cell.expected_cases - stored + shard.count - 1) / shard.count;
    plan.shard_cases += mine;
    const bool shares = may_share_prefill(cell, config, shared_prefill);
    // Multi-question mode (query-agnostic): one prefill per context of that many questions.
    int64_t questions = 1;
    try {
      if (!cell.method.query_aware) questions = std::max<int64_t>(cell.task_params.get_int("questions_per_context", 1), 1);
    } catch (const Error&) {
    }
    if (shares) {
      int64_t& g = group_prefills[prefill_group_key(cell)];
      g = std::max(g, (mine + questions - 1) / questions);
    } else {
      plan.shard_prefills += mine;
    }
    // Seconds per prompt token: this model's history in the store, else a rough CPU figure that
    // scales with the checkpoint's size (calibrated on SmolLM2-135M Q4_1, 2 threads).
    std::optional<double> spt = store ? store->seconds_per_token(grid.model_hash[cell.model]) : std::nullopt;
    if (!spt) {
      all_history = false;
      const double gb = double(file_stamp(config.models[cell.model].path).size) / 1e9;
      spt = 2.5e-3 * std::max(gb / 0.093, 0.01) * (config.models[cell.model].weights == "f32" ? 1.2 : 1.0);
    }
    const double tokens = cell.expected_tokens;
    // A row is mostly its prefill (~80% at these lengths); a shared prefill is paid once per case.
    const double row_seconds = *spt * tokens * (1.0 + tokens / 32768.0);
    plan.estimated_seconds += double(mine) * row_seconds * (shares ? 0.2 : 1.0);
    if (shares) group_row_seconds[prefill_group_key(cell)] = 0.8 * row_seconds;
  }
  for (const auto& [key, n] : group_prefills) {
    plan.shard_prefills += n;
    plan.estimated_seconds += double(n) * group_row_seconds[key];
  }
  plan.estimate_from_history = all_history && !grid.cells.empty();
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
  out += fmt::format("already stored: {}; to run{}: {} rows from {} prefills{}\n", stored,
                     shard.count > 1 ? fmt::format(" in shard {}", shard.str()) : "", shard_cases, shard_prefills,
                     shard_prefills < shard_cases ? " (shared prefill: one per case for the methods and budgets of "
                                                    "a task setting)"
                                                  : "");
  out += fmt::format("estimated time: {} ({}; {} threads)\n", format_duration(estimated_seconds),
                     estimate_from_history ? "from this database's timings of the same models"
                                           : "rough, from the model sizes; stored timings refine it",
                     c.engine.threads > 0 ? std::to_string(c.engine.threads) : "all");
  return out;
}

}  // namespace kvb
