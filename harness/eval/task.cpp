// Task registry, parameter parsing and canonical case serialization (see task.h).
// Registration follows the methods/ pattern (static objects in tasks/*.cpp, function-local registry).
// Exercised by tests/test_tasks.cpp (TaskRegistry*, TaskParams*).
#include "eval/task.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/error.h"

namespace kvb {
namespace {

std::map<std::string, TaskInfo, std::less<>>& registry() {
  static std::map<std::string, TaskInfo, std::less<>> r;
  return r;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

int64_t parse_int(const std::string& key, std::string_view text) {
  std::string t = trim(text);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  KVB_CHECK(ec == std::errc() && p == t.data() + t.size() && !t.empty(),
            "task parameter '{}': '{}' is not an integer", key, text);
  return v;
}

}  // namespace

void TaskParams::set_from_string(std::string_view kv) {
  size_t eq = kv.find('=');
  KVB_CHECK(eq != std::string_view::npos && eq > 0, "task parameter '{}': expected key=value", kv);
  set(trim(kv.substr(0, eq)), trim(kv.substr(eq + 1)));
}

std::string TaskParams::get_string(const std::string& key) const {
  auto it = values_.find(key);
  KVB_CHECK(it != values_.end(), "task parameter '{}' is missing", key);
  return it->second;
}
int64_t TaskParams::get_int(const std::string& key) const { return parse_int(key, get_string(key)); }
double TaskParams::get_double(const std::string& key) const {
  std::string t = trim(get_string(key));
  double v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  KVB_CHECK(ec == std::errc() && p == t.data() + t.size() && !t.empty() && std::isfinite(v),
            "task parameter '{}': '{}' is not a number", key, t);
  return v;
}
bool TaskParams::get_bool(const std::string& key) const {
  std::string t = trim(get_string(key));
  if (t == "true" || t == "1" || t == "yes") return true;
  if (t == "false" || t == "0" || t == "no") return false;
  KVB_FAIL("task parameter '{}': '{}' is not a boolean (true/false)", key, t);
}
std::vector<int64_t> TaskParams::get_int_list(const std::string& key) const {
  std::string s = get_string(key);
  std::vector<int64_t> out;
  if (trim(s).empty()) return out;
  size_t start = 0;
  while (true) {
    size_t comma = s.find(',', start);
    out.push_back(parse_int(key, std::string_view(s).substr(start, comma == std::string::npos ? std::string::npos
                                                                                               : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}
std::string TaskParams::get_string(const std::string& key, const std::string& def) const {
  return has(key) ? get_string(key) : def;
}
int64_t TaskParams::get_int(const std::string& key, int64_t def) const { return has(key) ? get_int(key) : def; }
double TaskParams::get_double(const std::string& key, double def) const { return has(key) ? get_double(key) : def; }
bool TaskParams::get_bool(const std::string& key, bool def) const { return has(key) ? get_bool(key) : def; }

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string nearest_name(std::string_view name, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    size_t d = edit_distance(name, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

void register_task(TaskInfo info) {
  KVB_CHECK(!info.id.empty() && info.generate, "task registration without an id or a generator");
  auto [it, inserted] = registry().emplace(info.id, std::move(info));
  KVB_CHECK(inserted, "task '{}' is registered twice", it->first);
}

std::vector<const TaskInfo*> list_tasks() {
  std::vector<const TaskInfo*> out;
  for (auto& [id, info] : registry()) out.push_back(&info);
  return out;
}

const TaskInfo& find_task(std::string_view id) {
  auto it = registry().find(id);
  if (it != registry().end()) return it->second;
  std::vector<std::string> known;
  for (auto& [k, v] : registry()) known.push_back(k);
  KVB_FAIL("unknown task '{}' (did you mean '{}'?); known tasks: {}", id, nearest_name(id, known),
           fmt::join(known, ", "));
}

TaskParams resolve_params(const TaskInfo& info, const TaskParams& user) {
  TaskParams out;
  for (const auto& p : info.params) out.set(p.name, p.default_value);
  for (const auto& [k, v] : user.values()) {
    if (!out.has(k)) {
      std::vector<std::string> valid;
      for (const auto& p : info.params) valid.push_back(p.name);
      KVB_FAIL("task '{}' has no parameter '{}' (did you mean '{}'?); valid parameters: {}", info.id, k,
               nearest_name(k, valid), fmt::join(valid, ", "));
    }
    out.set(k, v);
  }
  return out;
}

std::vector<Case> generate_cases(std::string_view id, const TaskParams& user, uint64_t seed, const TaskEnv& env) {
  const TaskInfo& info = find_task(id);
  return info.generate(resolve_params(info, user), seed, env);
}

nlohmann::json case_to_json(const Case& c) {
  nlohmann::json j;
  j["id"] = c.id;
  j["context"] = c.context;
  j["question"] = c.question;
  j["answer_prefix"] = c.answer_prefix;
  j["answers"] = c.answers;
  j["max_new_tokens"] = c.max_new_tokens;
  j["scorer"] = c.scorer;
  j["target_length"] = c.meta.target_length;
  j["token_length"] = c.meta.token_length;
  j["next_unit_tokens"] = c.meta.next_unit_tokens;
  j["haystack_units"] = c.meta.haystack_units;
  j["depths"] = c.meta.depths;
  j["needle_chars"] = c.meta.needle_chars;
  j["needle_tokens"] = c.meta.needle_tokens;
  j["extra"] = c.meta.extra;
  if (!c.input_ids.empty()) j["input_ids"] = c.input_ids;
  if (!c.labels.empty()) j["labels"] = c.labels;
  return j;
}

std::string hash_cases(const std::vector<Case>& cases) {
  uint64_t h = 1469598103934665603ull;
  for (const auto& c : cases) {
    std::string s = case_to_json(c).dump();
    s.push_back('\n');
    for (unsigned char ch : s) {
      h ^= ch;
      h *= 1099511628211ull;
    }
  }
  return fmt::format("{:016x}", h);
}

}  // namespace kvb
