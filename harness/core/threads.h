// Thread count for OpenMP loops and OpenBLAS GEMMs (0 = every CPU this process may run on).
#pragma once

namespace kvb {
// CPUs in this process's affinity mask: the cores a Slurm allocation (or taskset) binds it to,
// else every core of the machine.
int available_cpus();
void set_num_threads(int n);
int num_threads();
}  // namespace kvb
