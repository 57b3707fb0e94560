// kvb_tests' entry point: the OpenBLAS kernels and OpenMP waiting kvbench itself runs with
// (backends/cpu/runtime_env.h), then GoogleTest.
#include <gtest/gtest.h>

#include "backends/cpu/runtime_env.h"

int main(int argc, char** argv) {
  kvb::cpu::settle_runtime_env(argv, /*keep_spinning=*/false);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
