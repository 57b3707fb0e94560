// Thread count for OpenMP loops and OpenBLAS GEMMs (0 = all cores).
#pragma once

namespace kvb {
void set_num_threads(int n);
int num_threads();
}  // namespace kvb
