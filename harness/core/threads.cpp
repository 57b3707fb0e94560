// Thread control for OpenMP and OpenBLAS.
#include "core/threads.h"

#include <cblas.h>
#include <omp.h>

#include <thread>

namespace kvb {

void set_num_threads(int n) {
  if (n <= 0) n = int(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace kvb
