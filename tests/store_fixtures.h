// Records for store tests: a minimal valid configuration row (tests/test_store.cpp,
// tests/test_storage_faults.cpp).
#pragma once
#include <string>

#include "store/results_store.h"

namespace kvb::test {

// A configuration row whose hash is `hash` (full attention, niah_single at 300 tokens, model m.gguf).
inline ConfigRecord config_record(const std::string& hash) {
  ConfigRecord c;
  c.hash = hash;
  c.canonical_json = "{\"config\":\"" + hash + "\"}";
  c.model_path = c.model_name = "m.gguf";
  c.model_hash = "fnv1a64:0";
  c.chat_template = "auto";
  c.weights = "native";
  c.method = "full";
  c.method_version = 1;
  c.method_params = "{}";
  c.mode = "query_agnostic";
  c.task = "niah_single";
  c.task_version = 1;
  c.task_params = "{}";
  c.length = 300;
  return c;
}

}  // namespace kvb::test
