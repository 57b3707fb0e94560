// Run-time instruction-set choice; see simd.h.
#include "core/simd.h"

#include <cpuid.h>

#include <cstdlib>
#include <string>

#include "core/error.h"

namespace kvb::cpu {

SimdLevel cpu_simd_level() {
#if KVB_SIMD_X86
  static const SimdLevel level = [] {
    __builtin_cpu_init();
    unsigned a = 0, b = 0, c = 0, d = 0;
    const bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1u);  // (clang 14 lacks "f16c" here)
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    return avx512 ? SimdLevel::Avx512 : avx2 ? SimdLevel::Avx2 : SimdLevel::Portable;
  }();
  return level;
#else
  return SimdLevel::Portable;
#endif
}

std::string_view simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::Avx512: return "avx512";
    case SimdLevel::Avx2: return "avx2";
    default: return "portable";
  }
}

namespace {

// KVB_SIMD read once: the level it asks for (or the CPU's), or the problem with its value.
struct SimdSetting {
  SimdLevel level = SimdLevel::Portable;
  std::string problem;  // empty when the setting is usable
};

SimdSetting read_simd_setting() {
  const char* env = std::getenv("KVB_SIMD");
  if (!env || !*env) return {cpu_simd_level(), {}};
  for (SimdLevel l : {SimdLevel::Portable, SimdLevel::Avx2, SimdLevel::Avx512}) {
    if (simd_level_name(l) != env) continue;
    if (simd_level_runs_here(l)) return {l, {}};
    return {cpu_simd_level(),
            fmt::format("KVB_SIMD={}: this CPU runs at most {}", env, simd_level_name(cpu_simd_level()))};
  }
  return {cpu_simd_level(), fmt::format("KVB_SIMD={}: expected portable, avx2 or avx512", env)};
}

}  // namespace

SimdLevel simd_level() {
  // Parsed once; an invalid setting is reported on every call (the first use turns it into exit 2).
  static const SimdSetting setting = read_simd_setting();
  KVB_CHECK(setting.problem.empty(), "{}", setting.problem);
  return setting.level;
}

}  // namespace kvb::cpu
