// Thread control for OpenMP and OpenBLAS.
#include "core/threads.h"

#include <cblas.h>
#include <omp.h>
#include <sched.h>

#include <thread>

namespace kvb {

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const int n = int(std::thread::hardware_concurrency());
  return n > 0 ? n : 1;
}

void set_num_threads(int n) {
  if (n <= 0) n = available_cpus();
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace kvb
