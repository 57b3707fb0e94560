// CUDA device report (built only with KVB_CUDA enabled); see device_info.cu.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace kvb::cuda {

struct Device {
  std::string name;
  int compute_capability = 0;  // e.g. 90 for sm_90
  size_t memory_bytes = 0;
};

struct DeviceReport {
  int runtime_version = 0, driver_version = 0;
  std::vector<Device> devices;
  std::string error;  // why no device could be listed, empty otherwise
};

DeviceReport describe_devices();

}  // namespace kvb::cuda
