// OpenBLAS kernel check; see blas_kernels.h.
#include "backends/cpu/blas_kernels.h"

#include <cblas.h>
#include <unistd.h>

#include <cstdlib>

#include "core/error.h"

namespace kvb::cpu {

std::string blas_kernels_for_level(SimdLevel level) {
#if defined(__x86_64__)
  switch (level) {
    case SimdLevel::Avx512: return "SkylakeX";
    case SimdLevel::Avx2: return "Haswell";
    default: return "Prescott";
  }
#else
  return "";
#endif
}

std::string blas_kernels_for_this_cpu() {
  return cpu_simd_level() == SimdLevel::Portable ? "" : blas_kernels_for_level(cpu_simd_level());
}

std::string blas_kernels_running() {
  const char* name = openblas_get_corename();
  return name ? name : "";
}

void use_best_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") || std::getenv("KVB_BLAS_REEXEC")) return;  // the user's choice, or done
  SimdLevel level = cpu_simd_level();
  try {
    level = simd_level();  // KVB_SIMD=avx2 on an AVX-512 CPU: OpenBLAS's AVX2 kernels too
  } catch (const Error&) {
    return;  // a bad KVB_SIMD: main() reports it
  }
  const std::string running = blas_kernels_running();
  if (level == cpu_simd_level() && running != "Prescott") return;  // OpenBLAS knows this CPU
  const std::string best = level == cpu_simd_level() ? blas_kernels_for_this_cpu() : blas_kernels_for_level(level);
  if (best.empty() || best == running) return;
  setenv("OPENBLAS_CORETYPE", best.c_str(), 1);
  setenv("KVB_BLAS_REEXEC", "1", 1);  // never twice, whatever OpenBLAS makes of the setting
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // the re-execution failed: go on with OpenBLAS's own choice
}

}  // namespace kvb::cpu
