// Error checking for CUDA runtime and cuBLAS calls: KVB_CUDA_CHECK(call) / KVB_CUBLAS_CHECK(call)
// throw kvb::Error naming the call, the error and the file:line. Host-only and free of fmt, so it
// can be included from .cu files (nvcc) and .cpp files alike. Tested in tests/test_cuda_ops.cpp.
#pragma once
#include <cublas_api.h>
#include <cuda_runtime_api.h>

namespace kvb::cuda {

// Throw kvb::Error("CUDA call `call` failed at file:line: <name>: <description>").
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line);

inline void check_cuda(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess) throw_cuda_error(err, call, file, line);
}
inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_cublas_error(status, call, file, line);
}

}  // namespace kvb::cuda

#define KVB_CUDA_CHECK(call) ::kvb::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define KVB_CUBLAS_CHECK(call) ::kvb::cuda::check_cublas((call), #call, __FILE__, __LINE__)
// After a kernel launch: launch-configuration errors surface here (execution errors surface at the
// next synchronizing call, which is checked too).
#define KVB_CUDA_CHECK_LAUNCH(name) ::kvb::cuda::check_cuda(cudaGetLastError(), name " (kernel launch)", __FILE__, __LINE__)
