// libFuzzer entry point for one target, chosen at compile time (KVB_FUZZ_TARGET, set per binary by
// tests/fuzz/CMakeLists.txt). Run: scripts/fuzz.sh [seconds] [target...]; see docs/reliability.md.
#include <cstdio>
#include <cstdlib>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const kvb::fuzz::Target* target = [] {
    const kvb::fuzz::Target* t = kvb::fuzz::find_target(KVB_FUZZ_TARGET);
    if (!t) {
      std::fprintf(stderr, "fuzz: no target named %s\n", KVB_FUZZ_TARGET);
      std::abort();
    }
    return t;
  }();
  target->run(data, size);  // a kvb::Error is handled inside; anything else escapes and is a crash
  return 0;
}
