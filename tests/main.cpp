// kvb_tests' entry point: the OpenBLAS kernels kvbench itself runs (backends/cpu/blas_kernels.h), then
// GoogleTest.
#include <gtest/gtest.h>

#include "backends/cpu/blas_kernels.h"

int main(int argc, char** argv) {
  kvb::cpu::use_best_blas_kernels(argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
