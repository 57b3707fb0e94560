// CUDA-event timing: the time between two points of a stream's work, measured on the device.
//   EventTimer t; t.start(stream); ...launches...; float ms = t.stop(stream);  // waits for the stop event
// Used by scripts/bench/gpu_attention_bench.cpp.
#pragma once
#include <cuda_runtime_api.h>

namespace kvb::cuda {

class EventTimer {
 public:
  EventTimer();
  ~EventTimer();
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  void start(cudaStream_t stream = nullptr);
  // Records the stop event, waits for it and returns milliseconds since start().
  float stop(cudaStream_t stream = nullptr);

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

}  // namespace kvb::cuda
