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

SimdLevel simd_level() {
  // Parsed once; an invalid setting is reported on every call (the first use turns it into exit 2).
  static const std::string problem_or_empty = [] {
    const char* env = std::getenv("KVB_SIMD");
    if (!env || !*env) return std::string();
    for (SimdLevel l : {SimdLevel::Portable, SimdLevel::Avx2, SimdLevel::Avx512})
      if (simd_level_name(l) == env)
        return simd_level_runs_here(l) ? std::string()
                                       : fmt::format("KVB_SIMD={}: this CPU runs at most {}", env,
                                                     simd_level_name(cpu_simd_level()));
    return fmt::format("KVB_SIMD={}: expected portable, avx2 or avx512", env);
  }();
  static const SimdLevel level = [] {
    const char* env = std::getenv("KVB_SIMD");
    if (env && *env)
      for (SimdLevel l : {SimdLevel::Portable, SimdLevel::Avx2, SimdLevel::Avx512})
        if (simd_level_name(l) == env && simd_level_runs_here(l)) return l;
    return cpu_simd_level();
  }();
  KVB_CHECK(problem_or_empty.empty(), "{}", problem_or_empty);
  return level;
}

}  // namespace kvb::cpu
