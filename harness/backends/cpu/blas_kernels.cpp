// OpenBLAS kernel check; see blas_kernels.h.
#include "backends/cpu/blas_kernels.h"

#include <cblas.h>
#include <unistd.h>

#include <cstdlib>

namespace kvb::cpu {

std::string blas_kernels_for_this_cpu() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return "";
}

std::string blas_kernels_running() {
  const char* name = openblas_get_corename();
  return name ? name : "";
}

void use_best_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") || std::getenv("KVB_BLAS_REEXEC")) return;  // the user's choice, or done
  if (blas_kernels_running() != "Prescott") return;
  const std::string best = blas_kernels_for_this_cpu();
  if (best.empty()) return;
  setenv("OPENBLAS_CORETYPE", best.c_str(), 1);
  setenv("KVB_BLAS_REEXEC", "1", 1);  // never twice, whatever OpenBLAS makes of the setting
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // the re-execution failed: go on with OpenBLAS's own choice
}

}  // namespace kvb::cpu
