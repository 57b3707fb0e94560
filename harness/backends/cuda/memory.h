// Device memory with byte accounting: every allocation of the CUDA backend goes through
// DeviceBuffer (RAII, move-only), so memory_stats() reports the bytes held now and the peak since
// the last reset_peak_bytes(). Workspace is a growable scratch buffer owned by the caller of an op.
// Tests: tests/test_cuda_ops.cpp (CudaMemory.*).
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace kvb::cuda {

struct MemoryStats {
  size_t current_bytes = 0;  // held by live DeviceBuffers
  size_t peak_bytes = 0;     // maximum of current_bytes since start or reset_peak_bytes()
  int64_t allocations = 0;   // cudaMalloc calls so far
};
MemoryStats memory_stats();
void reset_peak_bytes();  // peak := current

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // Allocates `bytes` (0 allocates nothing); `what` names the buffer in the out-of-memory error.
  explicit DeviceBuffer(size_t bytes, const char* what = "buffer");
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() { return ptr_; }
  const void* data() const { return ptr_; }
  template <class T>
  T* as() {
    return static_cast<T*>(ptr_);
  }
  template <class T>
  const T* as() const {
    return static_cast<const T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }
  bool empty() const { return bytes_ == 0; }

  // Synchronous copies (bytes <= this->bytes(), starting at byte `offset`).
  void upload(const void* host, size_t bytes, size_t offset = 0);
  void download(void* host, size_t bytes, size_t offset = 0) const;
  void zero(cudaStream_t stream = nullptr);
  void reset();  // frees now

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Allocates and uploads a host array (convenience for small metadata and tests).
template <class T>
DeviceBuffer to_device(const T* host, size_t count, const char* what = "buffer") {
  DeviceBuffer b(count * sizeof(T), what);
  if (count) b.upload(host, count * sizeof(T));
  return b;
}

// Scratch memory an op may need (attention partials, converted activations). Grows on demand and
// keeps its size; growing frees the old block (cudaFree waits for work still using it).
class Workspace {
 public:
  void* get(size_t bytes);
  size_t bytes() const { return buf_.bytes(); }

 private:
  DeviceBuffer buf_;
};

}  // namespace kvb::cuda
