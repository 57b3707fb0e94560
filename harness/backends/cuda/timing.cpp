// CUDA-event timing; see timing.h.
#include "backends/cuda/timing.h"

#include "backends/cuda/check.h"

namespace kvb::cuda {

EventTimer::EventTimer() {
  KVB_CUDA_CHECK(cudaEventCreate(&start_));
  const cudaError_t err = cudaEventCreate(&stop_);
  if (err != cudaSuccess) {
    cudaEventDestroy(start_);
    KVB_CUDA_CHECK(err);
  }
}

EventTimer::~EventTimer() {
  cudaEventDestroy(start_);
  cudaEventDestroy(stop_);
}

void EventTimer::start(cudaStream_t stream) { KVB_CUDA_CHECK(cudaEventRecord(start_, stream)); }

float EventTimer::stop(cudaStream_t stream) {
  KVB_CUDA_CHECK(cudaEventRecord(stop_, stream));
  KVB_CUDA_CHECK(cudaEventSynchronize(stop_));
  float ms = 0.0f;
  KVB_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
  return ms;
}

}  // namespace kvb::cuda
