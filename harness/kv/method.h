// KV-compression methods: the spec a user gives (id, parameters, budget, mode) and the registry.
// Methods decide, the KV cache applies (docs/architecture.md). methods/README.md lists them.
#pragma once
#include <cstdint>
#include <string>

#include "core/params.h"

namespace kvb {

// Which KV-compression method a case runs with.
struct MethodSpec {
  std::string id = "full";
  Params params;                  // method parameters; undeclared keys are rejected by the registry
  double compression_ratio = 0.0; // fraction of the context's KV entries removed (kvpress convention)
  int64_t token_budget = 0;       // > 0: tokens kept per KV head instead of a ratio
  bool query_aware = false;       // true: the question is prefilled before compression
  uint64_t seed = 0;              // for seeded methods (random)
};

}  // namespace kvb
