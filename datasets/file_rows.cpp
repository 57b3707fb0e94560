// JSON Lines / JSON file reading with file:line errors (see file_rows.h). Used by tasks/qa.cpp,
// tasks/longbench.cpp, tasks/ruler_jsonl.cpp and tasks/kvpress_jsonl.cpp.
// Exercised by tests/test_tasks_more.cpp (TaskLoaders*).
#include "datasets/file_rows.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace kvb::datasets {
namespace {

std::string read_all(const std::string& path) {
  KVB_CHECK(!path.empty(), "no data file given (set the task parameter file=PATH)");
  std::ifstream in(path, std::ios::binary);
  KVB_CHECK(in.good(), "{}: cannot open the file (missing or unreadable)", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.rfind("\xEF\xBB\xBF", 0) == 0) s.erase(0, 3);  // UTF-8 byte order mark
  return s;
}

std::string short_message(const nlohmann::json::exception& e) {
  // nlohmann messages start with "[json.exception.parse_error.101] parse error at ...": drop the tag.
  std::string m = e.what();
  size_t b = m.find("] ");
  return b == std::string::npos ? m : m.substr(b + 2);
}

std::string type_name(const nlohmann::json& v) { return v.type_name(); }

const nlohmann::json& field(const Row& row, const std::string& path, const std::string& name) {
  auto it = row.value.find(name);
  KVB_CHECK(it != row.value.end(), "{}:{}: field '{}' is missing", path, row.line, name);
  return *it;
}

}  // namespace

std::vector<Row> read_jsonl(const std::string& path) {
  const std::string text = read_all(path);
  std::vector<Row> rows;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    Row r;
    r.line = line_no;
    try {
      r.value = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      KVB_FAIL("{}:{}: malformed JSON line: {}", path, line_no, short_message(e));
    }
    KVB_CHECK(r.value.is_object(), "{}:{}: expected a JSON object, got {}", path, line_no, type_name(r.value));
    rows.push_back(std::move(r));
  }
  KVB_CHECK(!rows.empty(), "{}: the file holds no JSON rows", path);
  return rows;
}

nlohmann::json read_json(const std::string& path) {
  const std::string text = read_all(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    const size_t at = std::min(text.size(), e.byte > 0 ? size_t(e.byte - 1) : size_t(0));
    const int line = 1 + int(std::count(text.begin(), text.begin() + std::ptrdiff_t(at), '\n'));
    KVB_FAIL("{}:{}: malformed JSON: {}", path, line, short_message(e));
  } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double (out_of_range 406)
    KVB_FAIL("{}: malformed JSON: {}", path, short_message(e));
  }
}

bool row_has(const Row& row, const std::string& name) { return row.value.contains(name); }

std::string row_string(const Row& row, const std::string& path, const std::string& name) {
  const auto& v = field(row, path, name);
  KVB_CHECK(v.is_string(), "{}:{}: field '{}' must be a string, got {}", path, row.line, name, type_name(v));
  return v.get<std::string>();
}

std::vector<std::string> row_strings(const Row& row, const std::string& path, const std::string& name) {
  const auto& v = field(row, path, name);
  auto one = [&](const nlohmann::json& x) -> std::string {
    if (x.is_string()) return x.get<std::string>();
    if (x.is_number()) return x.dump();
    KVB_FAIL("{}:{}: field '{}' must hold strings, found {}", path, row.line, name, type_name(x));
  };
  std::vector<std::string> out;
  if (v.is_array()) {
    for (const auto& x : v) out.push_back(one(x));
  } else {
    out.push_back(one(v));
  }
  KVB_CHECK(!out.empty(), "{}:{}: field '{}' is an empty list", path, row.line, name);
  return out;
}

int row_int(const Row& row, const std::string& path, const std::string& name) {
  const auto& v = field(row, path, name);
  KVB_CHECK(v.is_number_integer(), "{}:{}: field '{}' must be an integer, got {}", path, row.line, name,
            v.dump());
  return v.get<int>();
}

}  // namespace kvb::datasets
