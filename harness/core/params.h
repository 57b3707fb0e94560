// Parameters of a task or a method: string key -> value, with typed getters whose errors name
// the key and the offending value. Exercised by tests/test_tasks.cpp (TaskParams*).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace kvb {

// String key -> value parameters (tasks and methods). Users give "key=value" strings; the
// registries resolve them against declared defaults so every declared key is present.
class Params {
 public:
  Params() = default;
  Params(std::initializer_list<std::pair<const std::string, std::string>> kv) : values_(kv) {}
  void set(const std::string& key, std::string value) { values_[key] = std::move(value); }
  // Parses "key=value"; throws kvb::Error without '='.
  void set_from_string(std::string_view key_equals_value);
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  const std::map<std::string, std::string>& values() const { return values_; }

  // Typed getters: throw kvb::Error naming the key and the value when absent or unparsable.
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  bool get_bool(const std::string& key) const;        // true/false/1/0/yes/no
  std::vector<int64_t> get_int_list(const std::string& key) const;  // "1,2,3"; "" -> {}
  // With a default when the key is absent.
  std::string get_string(const std::string& key, const std::string& def) const;
  int64_t get_int(const std::string& key, int64_t def) const;
  double get_double(const std::string& key, double def) const;
  bool get_bool(const std::string& key, bool def) const;

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace kvb
