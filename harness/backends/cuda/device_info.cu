// CUDA device discovery for `kvbench list backends`: the first piece of the CUDA backend
// (issue 7 brings the ops). Compiles with nvcc on machines without a GPU; at run time it reports
// why no device is usable instead of failing.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "backends/cuda/device_info.h"

namespace kvb::cuda {

DeviceReport describe_devices() {
  DeviceReport r;
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  r.runtime_version = runtime;
  r.driver_version = driver;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    r.error = cudaGetErrorString(err);
    return r;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    r.devices.push_back({p.name, p.major * 10 + p.minor, p.totalGlobalMem});
  }
  return r;
}

}  // namespace kvb::cuda
