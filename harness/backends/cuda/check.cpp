// CUDA / cuBLAS error reporting; see check.h.
#include "backends/cuda/check.h"

#include "core/error.h"

namespace kvb::cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  cudaGetLastError();  // clear a sticky launch error so the next check reports its own call
  throw Error(fmt::format("CUDA call `{}` failed at {}:{}: {}: {}", call, file, line, cudaGetErrorName(err),
                          cudaGetErrorString(err)),
              file, line);
}

void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  throw Error(fmt::format("cuBLAS call `{}` failed at {}:{}: {} ({})", call, file, line,
                          cublasGetStatusName(status), cublasGetStatusString(status)),
              file, line);
}

}  // namespace kvb::cuda
