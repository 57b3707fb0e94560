// OpenBLAS kernel check; see blas_kernels.h.
#include "backends/cpu/blas_kernels.h"

#include <cblas.h>

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

std::string blas_kernels_to_request() {
  if (std::getenv("OPENBLAS_CORETYPE")) return "";  // the user's choice
  SimdLevel level = cpu_simd_level();
  try {
    level = simd_level();  // KVB_SIMD=avx2 on an AVX-512 CPU: OpenBLAS's AVX2 kernels too
  } catch (const Error&) {
    return "";  // a bad KVB_SIMD: main() reports it
  }
  const std::string running = blas_kernels_running();
  if (level == cpu_simd_level() && running != "Prescott") return "";  // OpenBLAS knows this CPU
  const std::string best = level == cpu_simd_level() ? blas_kernels_for_this_cpu() : blas_kernels_for_level(level);
  return best == running ? "" : best;
}

}  // namespace kvb::cpu
