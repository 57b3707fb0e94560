// Instruction sets of the hand-written CPU kernels, chosen at run time (cpuid), never at build time:
// one binary runs on any x86-64 CPU and takes the widest kernels the CPU has. Each dispatched
// kernel (decode attention, fused quantized dots, softmax/exp, SwiGLU, the int8 GEMM) exists as a
// portable loop, an AVX2+FMA variant and, where it pays, an AVX-512 variant; the variants are
// compiled with target attributes in the same files, so the build itself needs no -march flag.
//
// KVB_SIMD=portable|avx2|avx512 caps the level (to run a narrower CPU's kernels on this one, or to
// test every path): the dispatched kernels, the int8 kernel choice and OpenBLAS's kernels
// (blas_kernels.h) follow it. A value that is unknown or above what the CPU has is an error (exit 2).
// Exercise: `kvbench list backends`; tests: kvb_tests --gtest_filter='SimdKernels*'.
#pragma once
#include <string_view>

namespace kvb::cpu {

enum class SimdLevel { Portable = 0, Avx2 = 1, Avx512 = 2 };

// What this CPU runs: Avx512 = AVX-512 F/BW/CD/DQ/VL (+ AVX2, FMA, F16C), Avx2 = AVX2 + FMA + F16C.
SimdLevel cpu_simd_level();
// The level the kernels use: cpu_simd_level(), or KVB_SIMD when set (kvb::Error when it is unknown
// or above cpu_simd_level()). Read once per process.
SimdLevel simd_level();
std::string_view simd_level_name(SimdLevel level);  // "portable" | "avx2" | "avx512"
// Every level this CPU runs, narrowest first (what tests iterate over).
inline bool simd_level_runs_here(SimdLevel level) { return level <= cpu_simd_level(); }

}  // namespace kvb::cpu

// Function attributes for the variants. FMA contraction is off project-wide (-ffp-contract=off), so
// a variant compiled with wider vectors computes the same float32 value as the portable loop unless
// it sums in a different order (each kernel's header says which do).
#if defined(__x86_64__) || defined(__i386__)
#define KVB_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define KVB_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")))
#define KVB_SIMD_X86 1
#else
#define KVB_TARGET_AVX2
#define KVB_TARGET_AVX512
#define KVB_SIMD_X86 0
#endif
#define KVB_ALWAYS_INLINE inline __attribute__((always_inline))

// name##_body (an always-inline function with parameters `params`, called with `args`) compiled three
// times: name##_portable, name##_avx2, name##_avx512 (file-local), plus
//   ret name##_at(SimdLevel level, params...)   which calls the variant for `level`.
// For plain loops the compiler vectorizes; with FMA contraction off they give the same bits at every
// level unless the body reorders a sum by vector width (#pragma omp simd reduction does).
#define KVB_SIMD_STRIP(...) __VA_ARGS__
#define KVB_SIMD_VARIANTS(ret, name, params, args)                                   \
  static ret name##_portable params { return name##_body args; }                     \
  static KVB_TARGET_AVX2 ret name##_avx2 params { return name##_body args; }          \
  static KVB_TARGET_AVX512 ret name##_avx512 params { return name##_body args; }      \
  ret name##_at(::kvb::cpu::SimdLevel level, KVB_SIMD_STRIP params) {                \
    switch (level) {                                                                 \
      case ::kvb::cpu::SimdLevel::Avx512: return name##_avx512 args;                 \
      case ::kvb::cpu::SimdLevel::Avx2: return name##_avx2 args;                     \
      default: return name##_portable args;                                          \
    }                                                                                \
  }
