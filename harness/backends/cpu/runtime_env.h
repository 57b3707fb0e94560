// Settings of the CPU backend's libraries that they read once, when they load, so kvbench (and
// kvb_tests) can only give them by re-executing itself with the variable set (same argv, once; a
// failed re-execution goes on without them):
//  - OPENBLAS_CORETYPE: OpenBLAS's kernels on a CPU newer than the library (blas_kernels.h).
//  - OMP_WAIT_POLICY=passive: libgomp's threads otherwise spin up to ~300k iterations at every barrier
//    and at the end of every parallel loop. On a busy machine (a shared cluster node, ctest -j, other
//    builds) a spinning thread burns the time slice its sibling needs: a 2-case SmolLM2 eval took 540 s
//    with the default and 89 s with passive waiting beside other jobs (docs/performance.md, "OpenMP
//    waiting"). `kvbench bench` keeps libgomp's default (spinning): benchmarks want the lowest latency
//    on a quiet machine. An OMP_WAIT_POLICY or GOMP_SPINCOUNT the user sets is left alone.
// Exercise: `kvbench list backends` prints both; tests: kvb_tests --gtest_filter='RuntimeEnv*:BlasKernels*'.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace kvb::cpu {

// The variables to set (name, value), empty when none is needed or this is the re-executed start.
// keep_spinning: leave libgomp's default waiting (kvbench bench).
std::vector<std::pair<std::string, std::string>> runtime_env_to_set(bool keep_spinning);

// Called first in main(): sets runtime_env_to_set's variables and re-executes /proc/self/exe once
// (KVB_RUNTIME_REEXEC, the names it set, marks the second start). Returns normally when nothing is
// needed or the re-execution fails.
void settle_runtime_env(char** argv, bool keep_spinning);

// "passive (set by kvbench)", "active (libgomp default: ...)", or the user's OMP_WAIT_POLICY /
// GOMP_SPINCOUNT, as `kvbench list backends` prints it.
std::string openmp_wait_description();

}  // namespace kvb::cpu
