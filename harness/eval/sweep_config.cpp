// Sweep config parsing, validation and grid expansion; see sweep_config.h. The keys follow
// llama-bench's habit (every parameter a list, every combination runs); the file format is
// documented in docs/results-schema.md. Exercised by tests/test_sweep.cpp and configs/*.yaml.
#include "eval/sweep_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/names.h"
#include "eval/task.h"
#include "model/chat_template.h"
#include "model/model_path.h"
#include "model/unicode.h"
#include "store/provenance.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace kvb {

const MethodInfo& lookup_method(const std::string& id) { return find_method(id); }

std::string config_hash(const json& canonical) { return fnv1a64_hex(canonical.dump()); }

namespace {

// Throws kvb::Error (with the node's line) for what JSON cannot hold: a key that is not a scalar
// (`? [a, b]: 1`); a number too large for a double stays text (tests/fuzz/regressions/sweep_yaml/).
json yaml_node_to_json(const YAML::Node& n, const std::string& source) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& e : n) a.push_back(yaml_node_to_json(e, source));
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) {
        KVB_CHECK(kv.first.IsScalar(), "{}:{}:{}: a mapping key must be a plain value, not a {}", source,
                  kv.first.Mark().line + 1, kv.first.Mark().column + 1, kv.first.IsMap() ? "mapping" : "list");
        KVB_CHECK(unicode::is_valid_utf8(kv.first.Scalar()), "{}:{}:{}: a mapping key is not UTF-8 text", source,
                  kv.first.Mark().line + 1, kv.first.Mark().column + 1);
        o[kv.first.Scalar()] = yaml_node_to_json(kv.second, source);
      }
      return o;
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string s = n.Scalar();
  // yaml-cpp can make invalid UTF-8 from valid text (escapes, its own folding): checked per value too.
  KVB_CHECK(unicode::is_valid_utf8(s), "{}:{}:{}: a value is not UTF-8 text", source, n.Mark().line + 1,
            n.Mark().column + 1);
  if (n.Tag() == "!") return s;  // quoted: always a string
  static const std::regex int_re(R"([-+]?[0-9]+)");
  static const std::regex float_re(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (std::regex_match(s, int_re)) {
    try {
      return std::stoll(s);
    } catch (...) {
      return s;
    }
  }
  if (std::regex_match(s, float_re)) {
    try {
      return std::stod(s);
    } catch (const std::out_of_range&) {
      return s;  // 1e999: not a double; validation then names the field that wanted a number
    }
  }
  return s;
}

// Every problem found, each prefixed with where it is.
struct Problems {
  std::vector<std::string> list;
  void add(std::string msg) {
    for (const auto& p : list)
      if (p == msg) return;
    list.push_back(std::move(msg));
  }
  // Runs f, recording a kvb::Error's message under `where`.
  template <typename F>
  bool check(const std::string& where, F&& f) {
    try {
      f();
      return true;
    } catch (const Error& e) {
      add(fmt::format("{}: {}", where, e.what()));
      return false;
    }
  }
};

std::vector<json> as_list(const json& v) {
  if (v.is_array()) return std::vector<json>(v.begin(), v.end());
  return {v};
}

std::string type_name(const json& v) {
  if (v.is_string()) return "a string";
  if (v.is_number()) return "a number";
  if (v.is_boolean()) return "a boolean";
  if (v.is_null()) return "empty";
  if (v.is_array()) return "a list";
  return "a mapping";
}

// A parameter value as the registries take it ("0.5", "true", "noise").
bool scalar_text(const json& v, std::string& out) {
  if (v.is_string())
    out = v.get<std::string>();
  else if (v.is_number_integer())
    out = std::to_string(v.get<int64_t>());
  else if (v.is_number_float())
    out = fmt::format("{}", v.get<double>());
  else if (v.is_boolean())
    out = v.get<bool>() ? "true" : "false";
  else
    return false;
  return true;
}

bool get_int(const json& v, int64_t& out) {
  if (v.is_number_integer()) {
    out = v.get<int64_t>();
    return true;
  }
  if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() && std::abs(v.get<double>()) < 1e15) {
    out = int64_t(v.get<double>());
    return true;
  }
  return false;
}

void check_keys(const json& obj, const std::string& where, const std::vector<std::string>& allowed, Problems& pr) {
  for (const auto& [k, v] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
    std::string near = nearest_name(k, allowed);
    pr.add(fmt::format("{}: unknown key '{}'{}; valid keys: {}", where, k,
                       near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near), fmt::join(allowed, ", ")));
  }
}

// {key: value | [values]} -> every combination, in key order then value order.
std::vector<Params> param_grid(const json& params, const std::string& where, Problems& pr) {
  std::vector<Params> out{Params{}};
  if (params.is_null()) return out;
  if (!params.is_object()) {
    pr.add(fmt::format("{}: expected a mapping of parameter: value or [values], got {}", where, type_name(params)));
    return out;
  }
  for (const auto& [k, v] : params.items()) {
    std::vector<std::string> values;
    for (const auto& e : as_list(v)) {
      std::string s;
      if (!scalar_text(e, s)) {
        pr.add(fmt::format("{}.{}: expected a value or a list of values, got {}", where, k, type_name(e)));
        continue;
      }
      values.push_back(s);
    }
    if (v.is_array() && v.empty()) pr.add(fmt::format("{}.{}: empty list", where, k));
    if (values.empty()) continue;
    std::vector<Params> next;
    for (const auto& p : out)
      for (const auto& val : values) {
        Params q = p;
        q.set(k, val);
        next.push_back(std::move(q));
      }
    out = std::move(next);
  }
  return out;
}

// `entry` is an id string or {id: ..., params: {...}}.
bool entry_id(const json& entry, const std::string& where, std::string& id, json& params,
              const std::vector<std::string>& keys, Problems& pr) {
  if (entry.is_string()) {
    id = entry.get<std::string>();
    return true;
  }
  if (!entry.is_object()) {
    pr.add(fmt::format("{}: expected an id or a mapping with 'id', got {}", where, type_name(entry)));
    return false;
  }
  check_keys(entry, where, keys, pr);
  if (!entry.contains("id") || !entry["id"].is_string()) {
    pr.add(fmt::format("{}: missing 'id'", where));
    return false;
  }
  id = entry["id"].get<std::string>();
  if (entry.contains("params")) params = entry["params"];
  return true;
}

void parse_models(const json& j, SweepConfig& c, Problems& pr) {
  if (!j.contains("models")) {
    pr.add("models: missing (a list of model paths or names, e.g. [SmolLM2-135M-Instruct.Q4_1])");
    return;
  }
  auto entries = as_list(j["models"]);
  if (entries.empty()) pr.add("models: empty list");
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string where = fmt::format("models[{}]", i);
    const json& e = entries[i];
    std::string spec;
    std::vector<std::string> templates{"auto"}, weights{"native"};
    auto strings = [&](const json& v, const std::string& w, std::vector<std::string>& out) {
      out.clear();
      for (const auto& x : as_list(v)) {
        if (x.is_string())
          out.push_back(x.get<std::string>());
        else
          pr.add(fmt::format("{}: expected a string, got {}", w, type_name(x)));
      }
    };
    if (e.is_string()) {
      spec = e.get<std::string>();
    } else if (e.is_object()) {
      check_keys(e, where, {"path", "chat_template", "weights"}, pr);
      if (!e.contains("path") || !e["path"].is_string()) {
        pr.add(fmt::format("{}: missing 'path' (a .gguf file, a Hugging Face directory or a model name)", where));
        continue;
      }
      spec = e["path"].get<std::string>();
      if (e.contains("chat_template")) strings(e["chat_template"], where + ".chat_template", templates);
      if (e.contains("weights")) strings(e["weights"], where + ".weights", weights);
    } else {
      pr.add(fmt::format("{}: expected a path or a mapping with 'path', got {}", where, type_name(e)));
      continue;
    }
    fs::path path;
    bool ok = pr.check(where + ".path", [&] { path = resolve_model_path(spec); });
    for (const auto& t : templates) ok &= pr.check(where + ".chat_template", [&] { resolve_chat_format(t, ""); });
    for (const auto& w : weights)
      if (w != "native" && w != "f32") {
        pr.add(fmt::format("{}.weights: '{}' is not native or f32", where, w));
        ok = false;
      }
    if (!ok) continue;
    for (const auto& t : templates)
      for (const auto& w : weights) {
        bool listed = false;  // the same model twice would run the same configurations twice
        for (const auto& m : c.models) listed |= m.path == path && m.chat_template == t && m.weights == w;
        if (!listed) c.models.push_back(SweepModel{spec, path, t, w});
      }
  }
}

// Each entry of the list `key` (an id or {id, params}) as add(where, id, params); `hint` says
// what a missing list should look like.
template <typename Add>
void for_each_entry(const json& j, const char* key, const char* hint, Problems& pr, Add&& add) {
  if (!j.contains(key)) {
    pr.add(fmt::format("{}: missing ({})", key, hint));
    return;
  }
  auto entries = as_list(j[key]);
  if (entries.empty()) pr.add(fmt::format("{}: empty list", key));
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string where = fmt::format("{}[{}]", key, i);
    std::string id;
    json params;
    if (entry_id(entries[i], where, id, params, {"id", "params"}, pr)) add(where, id, params);
  }
}

void parse_methods(const json& j, SweepConfig& c, Problems& pr) {
  for_each_entry(j, "methods", "e.g. [full, {id: snapkv}]; kvbench list methods", pr,
                 [&](const std::string& where, const std::string& id, const json& params) {
                   const MethodInfo* info = nullptr;
                   if (!pr.check(where, [&] { info = &lookup_method(id); })) return;
                   for (const Params& p : param_grid(params, where + ".params", pr))
                     if (pr.check(where, [&] { resolve_method_params(*info, p); }))
                       c.methods.push_back(SweepMethod{id, p});
                 });
}

void parse_budgets(const json& j, SweepConfig& c, Problems& pr) {
  auto ratio = [&](const json& v, const std::string& where) {
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0.0 || v.get<double>() >= 1.0) {
      pr.add(fmt::format("{}: compression ratio must be a number in [0, 1), got {}", where, v.dump()));
      return;
    }
    c.budgets.push_back(SweepBudget{v.get<double>(), 0});
  };
  auto tokens = [&](const json& v, const std::string& where) {
    int64_t t = 0;
    if (!get_int(v, t) || t < 1) {
      pr.add(fmt::format("{}: token budget must be an integer >= 1, got {}", where, v.dump()));
      return;
    }
    c.budgets.push_back(SweepBudget{0.0, t});
  };
  if (!j.contains("budgets")) {
    c.budgets.push_back(SweepBudget{});
    for (const auto& m : c.methods)
      if (m.id != "full") {
        pr.add(
            fmt::format("budgets: missing; method '{}' needs compression ratios or token budgets "
                        "(budgets: {{ratios: [0.5]}} or {{tokens: [256]}})",
                        m.id));
        break;
      }
    return;
  }
  const json& b = j["budgets"];
  size_t given = 0;
  if (b.is_object()) {
    check_keys(b, "budgets", {"ratios", "tokens"}, pr);
    if (b.contains("ratios"))
      for (const auto& v : as_list(b["ratios"])) ++given, ratio(v, "budgets.ratios");
    if (b.contains("tokens"))
      for (const auto& v : as_list(b["tokens"])) ++given, tokens(v, "budgets.tokens");
  } else {
    for (const auto& v : as_list(b)) ++given, ratio(v, "budgets");  // a plain list: ratios
  }
  if (given == 0) pr.add("budgets: no ratio or token budget given");
  if (c.budgets.empty()) c.budgets.push_back(SweepBudget{});
}

// Tasks that declare questions_per_context (multi-question mode).
std::vector<std::string> multi_question_tasks() {
  std::vector<std::string> out;
  for (const TaskInfo* t : list_tasks())
    for (const auto& p : t->params)
      if (p.name == "questions_per_context") out.push_back(t->id);
  return out;
}

void parse_tasks(const json& j, SweepConfig& c, Problems& pr) {
  auto add = [&](const std::string& where, const std::string& id, const json& params) {
    const TaskInfo* info = nullptr;
    if (!pr.check(where, [&] { info = &find_task(id); })) return;
    auto declares = [&](const std::string& key) {
      for (const auto& p : info->params)
        if (p.name == key) return true;
      return false;
    };
    if (params.is_object() && params.contains("num_samples"))
      pr.add(fmt::format("{}.params.num_samples: set the number of cases with the top-level 'cases'", where));
    if (params.is_object() && params.contains("length") && j.contains("lengths"))
      pr.add(fmt::format("{}.params.length: the top-level 'lengths' sets it; give one or the other", where));
    if (j.contains("lengths") && !declares("length"))
      pr.add(
          fmt::format("lengths: task '{}' has no 'length' parameter; give it its own size parameters and "
                      "sweep it in a config without 'lengths'",
                      id));
    if (j.contains("cases") && !declares("num_samples"))
      pr.add(fmt::format("cases: task '{}' has no 'num_samples' parameter", id));
    if (j.contains("questions_per_context") && !declares("questions_per_context"))
      pr.add(fmt::format("questions_per_context: task '{}' has no multi-question mode (tasks that have one: {})", id,
                         fmt::join(multi_question_tasks(), ", ")));
    if (params.is_object() && params.contains("questions_per_context") && j.contains("questions_per_context"))
      pr.add(fmt::format("{}.params.questions_per_context: the top-level 'questions_per_context' sets it; give one or "
                         "the other", where));
    for (const Params& p : param_grid(params, where + ".params", pr))
      if (pr.check(where, [&] { resolve_params(*info, p); })) c.tasks.push_back(SweepTask{id, p});
  };
  for_each_entry(j, "tasks", "e.g. [niah_single]; kvbench list tasks", pr, add);
}

template <typename T>
void parse_int_axis(const json& j, const char* key, int64_t min, std::vector<T>& out, Problems& pr) {
  if (!j.contains(key)) return;
  auto values = as_list(j[key]);
  if (values.empty()) pr.add(fmt::format("{}: empty list", key));
  for (const auto& v : values) {
    int64_t x = 0;
    if (!get_int(v, x) || x < min) {
      pr.add(fmt::format("{}: expected an integer >= {}, got {}", key, min, v.dump()));
      continue;
    }
    out.push_back(T(x));
  }
}

void parse_engine(const json& j, SweepConfig& c, Problems& pr) {
  if (!j.contains("engine")) return;
  const json& e = j["engine"];
  if (!e.is_object()) {
    pr.add(fmt::format("engine: expected a mapping (threads, backend, device_dtype, matmul, prefill_chunk), got {}",
                       type_name(e)));
    return;
  }
  check_keys(e, "engine", {"threads", "backend", "device_dtype", "matmul", "prefill_chunk"}, pr);
  for (const auto& [k, v] : e.items())
    if (v.is_array())
      pr.add(
          fmt::format("engine.{}: engine options are not a grid axis (they do not change results and are not "
                      "part of a configuration's identity); run one sweep per value",
                      k));
  int64_t x = 0;
  if (e.contains("threads") && !e["threads"].is_array()) {
    if (!get_int(e["threads"], x) || x < 0)
      pr.add(fmt::format("engine.threads: expected an integer >= 0 (0: all cores), got {}", e["threads"].dump()));
    else
      c.engine.threads = int(x);
  }
  if (e.contains("prefill_chunk") && !e["prefill_chunk"].is_array()) {
    if (!get_int(e["prefill_chunk"], x) || x < 1)
      pr.add(fmt::format("engine.prefill_chunk: expected an integer >= 1, got {}", e["prefill_chunk"].dump()));
    else
      c.engine.prefill_chunk = int(x);
  }
  if (e.contains("backend") && !e["backend"].is_array()) {
    std::string b = e["backend"].is_string() ? e["backend"].get<std::string>() : e["backend"].dump();
    if (b != "cpu" && b != "cuda")
      pr.add(fmt::format("engine.backend: unknown backend '{}' (known: cpu, cuda)", b));
    else
      c.engine.backend = b;
  }
  if (e.contains("device_dtype") && !e["device_dtype"].is_array()) {
    std::string t = e["device_dtype"].is_string() ? e["device_dtype"].get<std::string>() : e["device_dtype"].dump();
    if (t != "bf16" && t != "f16" && t != "f32")
      pr.add(fmt::format("engine.device_dtype: expected bf16, f16 or f32, got '{}'", t));
    else
      c.engine.device_dtype = t;
  }
  if (e.contains("matmul") && !e["matmul"].is_array()) {
    std::string m = e["matmul"].is_string() ? e["matmul"].get<std::string>() : e["matmul"].dump();
    if (m != "f32" && m != "int8")
      pr.add(fmt::format("engine.matmul: expected f32 or int8, got '{}'", m));
    else if (m == "int8" && c.engine.backend != "cpu")
      pr.add(fmt::format("engine.matmul: int8 is a cpu backend option (backend is '{}'; use device_dtype)",
                         c.engine.backend));
    else
      c.engine.matmul = m;
  }
}

// Every task x model pair can run: the oracle model reads only symbolic forms, language models only
// text (eval/task.h task_model_mismatch); each problem says what to pass instead.
void check_task_forms(const SweepConfig& c, Problems& pr) {
  const bool cli = c.source.rfind("kvbench ", 0) == 0;
  std::set<std::string> seen;
  for (const SweepModel& m : c.models) {
    const TaskModel tm = task_model(m.spec, m.path);
    for (const SweepTask& t : c.tasks) {
      const TaskInfo& info = find_task(t.id);
      TaskParams user = t.params;
      apply_model_form(info, tm, user);
      const std::string why = task_model_mismatch(info, tm, user, cli);
      if (!why.empty() && seen.insert(why).second) pr.add(why);
    }
  }
}

// Expected cases and prompt tokens of a cell, for progress totals and dry-run estimates (the
// exact cases exist only once generated): num_samples and the length, except for tasks whose
// parameters multiply them (niah_grid: lengths x depths x num_samples).
void estimate_cases(SweepCell& cell) {
  const Params& p = cell.task_params;
  cell.expected_cases = std::max<int64_t>(p.get_int("num_samples", 1), 0);
  try {  // multi-question mode: num_samples contexts, each asked that many questions
    cell.expected_cases *= std::max<int64_t>(p.get_int("questions_per_context", 1), 1);
  } catch (const Error&) {
    // Bad values fail when the cases are generated.
  }
  cell.expected_tokens = double(cell.length > 0 ? cell.length : 1000);
  if (cell.task == "niah_grid") {
    try {
      std::vector<int64_t> lengths = p.get_int_list("lengths");
      double mean = 0;
      for (int64_t l : lengths) mean += double(l) / double(lengths.size());
      const int64_t n_lengths = lengths.empty() ? p.get_int("num_lengths") : int64_t(lengths.size());
      if (lengths.empty()) mean = double(p.get_int("min_length") + p.get_int("max_length")) / 2.0;
      cell.expected_cases *= n_lengths * p.get_int("num_depths");
      cell.expected_tokens = mean;
    } catch (const Error&) {
      // Bad values fail when the cases are generated.
    }
  }
}

}  // namespace

json yaml_to_json(const std::string& text, const std::string& source) {
  // JSON strings must be UTF-8 (nlohmann::json::dump throws on anything else, far from here); JSON
  // files are checked by the JSON parser, YAML text here (tests/fuzz/regressions/sweep_yaml/).
  if (!unicode::is_valid_utf8(text)) {
    size_t line = 1, pos = 0;
    while (pos < text.size()) {
      const unicode::CodePoint ch = unicode::decode(text, pos);
      if (!ch.valid) break;
      if (text[pos] == '\n') ++line;
      pos += ch.len;
    }
    KVB_FAIL("{}:{}: not UTF-8 text (byte 0x{:02x} at offset {}); save the file as UTF-8", source, line,
             static_cast<unsigned char>(text[pos]), pos);
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    KVB_FAIL("{}:{}:{}: invalid YAML: {}", source, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  return yaml_node_to_json(root, source);
}

SweepConfig load_sweep_config(const fs::path& path) {
  std::error_code ec;
  KVB_CHECK(fs::exists(path, ec), "{}: sweep config not found", path.string());
  const std::string text = read_text_file(path);
  const std::string ext = path.extension().string();
  json j;
  if (ext == ".json") {
    try {
      j = json::parse(text);
    } catch (const json::exception& e) {  // parse_error, or out_of_range 406: a number too large for a double
      KVB_FAIL("{}: invalid JSON: {}", path.string(), e.what());
    }
  } else {
    KVB_CHECK(ext == ".yaml" || ext == ".yml", "{}: sweep configs are .yaml, .yml or .json files", path.string());
    j = yaml_to_json(text, path.string());
  }
  return parse_sweep_config(j, path.string());
}

SweepConfig parse_sweep_config(const json& j, const std::string& source) {
  const std::string where = source.empty() ? "sweep config" : source;
  KVB_CHECK(j.is_object(), "{}: expected a mapping at the top level (models, methods, budgets, tasks, ...), got {}",
            where, type_name(j));
  SweepConfig c;
  c.source = source;
  c.json = j;
  Problems pr;
  check_keys(j, "config",
             {"name", "models", "methods", "budgets", "tasks", "lengths", "seeds", "cases", "questions_per_context",
              "mode", "engine"},
             pr);
  if (j.contains("name")) {
    if (j["name"].is_string())
      c.name = j["name"].get<std::string>();
    else
      pr.add(fmt::format("name: expected a string, got {}", type_name(j["name"])));
  }
  parse_models(j, c, pr);
  parse_methods(j, c, pr);
  parse_budgets(j, c, pr);
  parse_tasks(j, c, pr);
  parse_int_axis(j, "lengths", 1, c.lengths, pr);
  parse_int_axis(j, "seeds", 0, c.seeds, pr);
  if (c.seeds.empty()) c.seeds.push_back(0);
  if (j.contains("cases")) {
    int64_t n = 0;
    if (j["cases"].is_array())
      pr.add(
          "cases: expected one integer (cases per cell), not a list: the first n cases of a cell are the same "
          "for any n");
    else if (!get_int(j["cases"], n) || n < 1)
      pr.add(fmt::format("cases: expected an integer >= 1, got {}", j["cases"].dump()));
    else
      c.cases = int(n);
  }
  if (j.contains("questions_per_context")) {
    int64_t n = 0;
    if (!get_int(j["questions_per_context"], n) || n < 1 || n > 1000)
      pr.add(fmt::format("questions_per_context: expected an integer in 1..1000, got {}",
                         j["questions_per_context"].dump()));
    else
      c.questions_per_context = int(n);
  }
  if (j.contains("mode")) {
    for (const auto& v : as_list(j["mode"])) {
      if (v == "query_agnostic")
        c.query_aware.push_back(false);
      else if (v == "query_aware")
        c.query_aware.push_back(true);
      else
        pr.add(fmt::format("mode: expected query_agnostic or query_aware, got {}", v.dump()));
    }
  }
  if (c.query_aware.empty()) c.query_aware.push_back(false);
  parse_engine(j, c, pr);
  check_task_forms(c, pr);
  if (!pr.list.empty()) {
    std::string msg = fmt::format("{}: {} problem{}:", where, pr.list.size(), pr.list.size() == 1 ? "" : "s");
    for (size_t i = 0; i < pr.list.size(); ++i)
      msg += fmt::format(" ({}) {}{}", i + 1, pr.list[i], i + 1 < pr.list.size() ? ";" : "");
    KVB_FAIL("{}", msg);
  }
  return c;
}

std::vector<SweepCell> expand_grid(const SweepConfig& c) {
  std::vector<SweepCell> out;
  std::set<std::string> seen;  // no configuration twice (e.g. full listed with several budgets)
  for (size_t mi = 0; mi < c.models.size(); ++mi) {
    const TaskModel task_model_mi = task_model(c.models[mi].spec, c.models[mi].path);
    for (const auto& m : c.methods) {
      const MethodInfo& minfo = lookup_method(m.id);
      // A method without a budget (full, kivi alone, decoding) gets one budget; one that leaves the
      // cache as it is (full) also one mode.
      const MethodRoles& r = minfo.roles;
      const bool changes_cache = r.evicts || r.selects || r.codec || r.prunes_key_channels || r.compensates;
      const std::vector<SweepBudget> budgets =
          r.budget != Budget::None ? c.budgets : std::vector<SweepBudget>{SweepBudget{}};
      const std::vector<bool> modes = changes_cache ? c.query_aware : std::vector<bool>{false};
      for (const auto& b : budgets)
        for (bool qa : modes)
          for (const auto& t : c.tasks) {
            const TaskInfo& tinfo = find_task(t.id);
            std::vector<int64_t> lengths = c.lengths.empty() ? std::vector<int64_t>{0} : c.lengths;
            for (int64_t len : lengths)
              for (uint64_t seed : c.seeds) {
                SweepCell cell;
                cell.model = mi;
                cell.method.id = m.id;
                cell.method.params = m.params;
                cell.method.compression_ratio = b.ratio;
                cell.method.token_budget = b.tokens;
                cell.method.query_aware = qa;
                cell.method.seed = seed;
                cell.method_version = minfo.version;
                cell.method_params = resolve_method_params(minfo, m.params);
                Params user = t.params;
                apply_model_form(tinfo, task_model_mi, user);  // the oracle: form=symbolic
                if (len > 0) user.set("length", std::to_string(len));
                if (c.cases > 0) user.set("num_samples", std::to_string(c.cases));
                if (c.questions_per_context > 0)
                  user.set("questions_per_context", std::to_string(c.questions_per_context));
                cell.task = t.id;
                cell.task_version = tinfo.version;
                cell.task_params = resolve_params(tinfo, user);
                cell.length = len > 0 ? len : cell.task_params.get_int("length", 0);
                cell.seed = seed;
                estimate_cases(cell);
                const std::string key = cell.canonical("", c.models[mi]).dump() + "#" + std::to_string(mi);
                if (seen.insert(key).second) out.push_back(std::move(cell));
              }
          }
    }
  }
  return out;
}

json SweepCell::canonical(const std::string& model_hash, const SweepModel& m, const EngineOptions& engine) const {
  json task_params = json::object();
  for (const auto& [k, v] : this->task_params.values())
    // The first n cases of a cell are the same for any n; one question per context is what every
    // configuration before multi-question mode ran (their hashes stay).
    if (k != "num_samples" && !(k == "questions_per_context" && v == "1")) task_params[k] = v;
  json method_params = json::object();
  for (const auto& [k, v] : this->method_params.values()) method_params[k] = v;
  json model = {{"hash", model_hash}, {"chat_template", m.chat_template}, {"weights", m.weights}};
  // Engine settings that change the numbers (float32 CPU runs add nothing, so their hashes stay).
  if (engine.backend != "cpu") model["compute"] = {{"backend", engine.backend}, {"device_dtype", engine.device_dtype}};
  else if (engine.matmul != "f32")  // int8 mode: projections and prefill attention scores (int8_gemm.h)
    model["compute"] = {{"backend", engine.backend}, {"matmul", engine.matmul}, {"attention_scores", "int8"}};
  return json{{"schema", 1},
              {"model", model},
              {"method",
               {{"id", method.id},
                {"version", method_version},
                {"params", method_params},
                {"compression_ratio", method.compression_ratio},
                {"token_budget", method.token_budget}}},
              {"mode", method.query_aware ? "query_aware" : "query_agnostic"},
              {"task", {{"id", task}, {"version", task_version}, {"params", task_params}}},
              {"length", length},
              {"seed", seed}};
}

std::string SweepCell::label(const SweepConfig& c) const {
  std::string budget = method.id == "full"       ? ""
                       : method.token_budget > 0 ? fmt::format(" budget {}", method.token_budget)
                                                 : fmt::format(" ratio {}", method.compression_ratio);
  std::string params;
  for (const auto& [k, v] : method.params.values()) params += fmt::format(" {}={}", k, v);
  return fmt::format("{} | {}{}{}{} | {} L{} seed {}", c.models[model].path.filename().string(), method.id, params,
                     budget, method.query_aware ? " query-aware" : "", task, length, seed);
}

}  // namespace kvb
