// OpenBLAS's kernel choice, checked at start-up. A DYNAMIC_ARCH OpenBLAS picks its kernels once, when
// the library loads, from the CPU model it knows; on a CPU newer than the library (OpenBLAS 0.3.21 on
// Emerald Rapids, family 6 model 207) it falls back to the generic Prescott (SSE3) kernels, and
// kvbench's float32 GEMMs (prefill attention, SGEMM projections) run 2-3x slower than the CPU allows.
// Exercise: `kvbench list backends`; test: kvb_tests --gtest_filter='BlasKernels*'.
#pragma once
#include <string>

#include "core/simd.h"

namespace kvb::cpu {

// The OpenBLAS kernels the CPU's features call for: "SkylakeX" (AVX-512 F/CD/BW/DQ/VL), "Haswell"
// (AVX2 + FMA), or "" (leave OpenBLAS's own choice).
std::string blas_kernels_for_this_cpu();
// The OpenBLAS kernels of one SIMD level: "SkylakeX", "Haswell" or "Prescott" (SSE3).
std::string blas_kernels_for_level(SimdLevel level);
// openblas_get_corename(): the kernels OpenBLAS runs ("Prescott", "Haswell", "SkylakeX", ...).
std::string blas_kernels_running();

// The OPENBLAS_CORETYPE this process should run with, or "" for none: when OpenBLAS runs the generic
// Prescott kernels on a CPU with AVX2 or AVX-512 and the user has not chosen with OPENBLAS_CORETYPE,
// blas_kernels_for_this_cpu(). With KVB_SIMD below the CPU's level, that level's kernels (KVB_SIMD=avx2
// on an AVX-512 CPU runs OpenBLAS's Haswell kernels: what an AVX2-only CPU runs). OpenBLAS reads the
// variable only when it loads: cli/startup_env.h re-executes kvbench with it.
std::string blas_kernels_to_request();

}  // namespace kvb::cpu
