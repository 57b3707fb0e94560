// OpenBLAS runs the kernels this CPU's features call for (backends/cpu/blas_kernels.h): kvbench and
// kvb_tests re-execute themselves with OPENBLAS_CORETYPE when OpenBLAS fell back to Prescott (SSE3),
// and a user's own OPENBLAS_CORETYPE is kept. Run: build/tests/kvb_tests --gtest_filter='BlasKernels*'
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "backends/cpu/blas_kernels.h"
#include "test_util.h"

namespace kvb {
namespace {

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(BlasKernels, ThisProcessRunsTheKernelsTheCpuSupports) {
  const std::string running = cpu::blas_kernels_running();
  EXPECT_FALSE(running.empty());
  if (cpu::blas_kernels_for_this_cpu().empty()) GTEST_SKIP() << "no AVX2 on this CPU: OpenBLAS's own choice stands";
  EXPECT_NE(running, "Prescott") << "OpenBLAS runs its SSE3 fallback on a CPU with AVX2";
}

TEST(BlasKernels, KvbenchSaysWhichKernelsRunAndKeepsTheUsersChoice) {
  const std::string kvbench = kvb::test::kvbench_binary();
  const std::string plain = run("env -u OPENBLAS_CORETYPE -u KVB_RUNTIME_REEXEC " + kvbench + " list backends");
  EXPECT_NE(plain.find("OpenBLAS kernels: "), std::string::npos) << plain;
  if (!cpu::blas_kernels_for_this_cpu().empty()) {
    EXPECT_EQ(plain.find("OpenBLAS kernels: Prescott"), std::string::npos) << plain;
  }
  const std::string forced =
      run("env -u KVB_RUNTIME_REEXEC OPENBLAS_CORETYPE=Prescott " + kvbench + " list backends");
  EXPECT_NE(forced.find("OpenBLAS kernels: Prescott"), std::string::npos) << forced;
}

}  // namespace
}  // namespace kvb
