// String key -> value parameters shared by tasks and methods (see params.h).
#include "core/params.h"

#include <charconv>
#include <cmath>

#include "core/error.h"

namespace kvb {
namespace {

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
            "parameter '{}': '{}' is not an integer", key, text);
  return v;
}

}  // namespace

void Params::set_from_string(std::string_view kv) {
  size_t eq = kv.find('=');
  KVB_CHECK(eq != std::string_view::npos && eq > 0, "parameter '{}': expected key=value", kv);
  set(trim(kv.substr(0, eq)), trim(kv.substr(eq + 1)));
}

std::string Params::get_string(const std::string& key) const {
  auto it = values_.find(key);
  KVB_CHECK(it != values_.end(), "parameter '{}' is missing", key);
  return it->second;
}
int64_t Params::get_int(const std::string& key) const { return parse_int(key, get_string(key)); }
double Params::get_double(const std::string& key) const {
  std::string t = trim(get_string(key));
  double v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  KVB_CHECK(ec == std::errc() && p == t.data() + t.size() && !t.empty() && std::isfinite(v),
            "parameter '{}': '{}' is not a number", key, t);
  return v;
}
bool Params::get_bool(const std::string& key) const {
  std::string t = trim(get_string(key));
  if (t == "true" || t == "1" || t == "yes") return true;
  if (t == "false" || t == "0" || t == "no") return false;
  KVB_FAIL("parameter '{}': '{}' is not a boolean (true/false)", key, t);
}
std::vector<int64_t> Params::get_int_list(const std::string& key) const {
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
std::string Params::get_string(const std::string& key, const std::string& def) const {
  return has(key) ? get_string(key) : def;
}
int64_t Params::get_int(const std::string& key, int64_t def) const { return has(key) ? get_int(key) : def; }
double Params::get_double(const std::string& key, double def) const { return has(key) ? get_double(key) : def; }
bool Params::get_bool(const std::string& key, bool def) const { return has(key) ? get_bool(key) : def; }

}  // namespace kvb
