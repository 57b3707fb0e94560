// ACT head lists; see act_heads.h.
#include "kv/act_heads.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace kvb {

namespace {

int parse_index(const std::string& s, const std::string& where, const char* what) {
  KVB_CHECK(!s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }) &&
                s.size() < 7,
            "{}: {} '{}' is not a non-negative integer", where, what, s);
  return std::stoi(s);
}

ActHeads sorted_unique(ActHeads h) {
  std::sort(h.begin(), h.end());
  h.erase(std::unique(h.begin(), h.end()), h.end());
  return h;
}

}  // namespace

ActHeads read_act_heads(const std::string& path) {
  KVB_CHECK(std::filesystem::is_regular_file(path), "act heads file '{}' not found", path);
  std::ifstream in(path);
  KVB_CHECK(in.good(), "act heads file '{}' cannot be read", path);
  ActHeads out;
  std::string line;
  for (int no = 1; std::getline(in, line); ++no) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream fields(line);
    std::string a, b, extra;
    fields >> a >> b >> extra;
    const std::string where = path + ":" + std::to_string(no);
    KVB_CHECK(!b.empty() && extra.empty(), "{}: expected 'layer head', got '{}'", where, line);
    out.emplace_back(parse_index(a, where, "layer"), parse_index(b, where, "head"));
  }
  return sorted_unique(std::move(out));
}

void write_act_heads(const std::string& path, const ActHeads& heads, const std::vector<std::string>& comment) {
  std::ofstream out(path);
  KVB_CHECK(out.good(), "act heads file '{}' cannot be written", path);
  out << "# act heads: layer head (0-based query heads), for --method act --param heads=FILE\n";
  for (const std::string& c : comment) out << "# " << c << "\n";
  for (const auto& [l, h] : heads) out << l << " " << h << "\n";
  KVB_CHECK(out.good(), "act heads file '{}': write failed", path);
}

ActHeads parse_act_heads(const std::string& inline_list) {
  ActHeads out;
  std::string item;
  std::istringstream items(inline_list);
  while (std::getline(items, item, ',')) {
    item.erase(std::remove(item.begin(), item.end(), ' '), item.end());
    if (item.empty()) continue;
    const auto colon = item.find(':');
    KVB_CHECK(colon != std::string::npos, "act heads '{}': item '{}' is not layer:head", inline_list, item);
    const std::string where = "act heads '" + inline_list + "'";
    out.emplace_back(parse_index(item.substr(0, colon), where, "layer"), parse_index(item.substr(colon + 1), where, "head"));
  }
  return sorted_unique(std::move(out));
}

bool is_inline_act_heads(const std::string& s) {
  return s.find(':') != std::string::npos &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) || c == ':' || c == ',' || c == ' '; });
}

}  // namespace kvb
