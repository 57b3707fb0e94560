// The CUDA backend of the transformer forward pass (`--backend cuda`): the CPU engine's
// Transformer::forward computed with the device ops of ops.h, weights uploaded once (GEMM inputs
// in bf16 / f16 / f32, float32 accumulation), the KV cache on the device (DeviceKVCache) following
// the host KVCache through KVCacheMirror. Methods keep deciding on the host: every chunk's new K/V
// is appended to the host cache too, and queries / attention mass are copied back for observers,
// so a method sees the same inputs as on the CPU (up to the device's rounding) and its keep sets
// are applied on the device by the gather kernel.
//
// Nothing here has run on a GPU yet (docs/cuda.md): it compiles, and its tests
// (tests/test_cuda_forward.cpp) skip without a device.
#pragma once
#include <memory>
#include <string>

#include "backends/forward_backend.h"

namespace kvb::cuda {

// Registers the "cuda" forward backend (EngineOptions::backend). Creating it fails with a clear
// error when no CUDA device is usable. Idempotent.
void register_backend();

// The device description recorded with every run, e.g. "NVIDIA H100 80GB HBM3 (sm_90, driver
// 13.0, runtime 13.0)"; the reason when there is no usable device.
std::string describe_first_device();

}  // namespace kvb::cuda
