// Device allocations with byte accounting; see memory.h.
#include "backends/cuda/memory.h"

#include <atomic>

#include "backends/cuda/check.h"
#include "core/error.h"

namespace kvb::cuda {
namespace {

std::atomic<size_t> g_current{0}, g_peak{0};
std::atomic<int64_t> g_allocations{0};

void account_alloc(size_t bytes) {
  const size_t now = g_current.fetch_add(bytes) + bytes;
  size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  g_allocations.fetch_add(1);
}

}  // namespace

MemoryStats memory_stats() { return {g_current.load(), g_peak.load(), g_allocations.load()}; }

void reset_peak_bytes() { g_peak.store(g_current.load()); }

DeviceBuffer::DeviceBuffer(size_t bytes, const char* what) {
  if (bytes == 0) return;
  const cudaError_t err = cudaMalloc(&ptr_, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    ptr_ = nullptr;
    KVB_FAIL("cudaMalloc of {} bytes for {} failed: {} ({} bytes held by kvbench on the device)", bytes, what,
             cudaGetErrorString(err), g_current.load());
  }
  bytes_ = bytes;
  account_alloc(bytes);
}

DeviceBuffer::~DeviceBuffer() { reset(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) {
  o.ptr_ = nullptr;
  o.bytes_ = 0;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void DeviceBuffer::reset() {
  if (!ptr_) return;
  cudaFree(ptr_);  // never throws from a destructor; a failure here means the context is gone
  g_current.fetch_sub(bytes_);
  ptr_ = nullptr;
  bytes_ = 0;
}

void DeviceBuffer::upload(const void* host, size_t bytes, size_t offset) {
  KVB_CHECK(offset + bytes <= bytes_, "device upload of {} bytes at offset {} overruns a {}-byte buffer", bytes, offset,
            bytes_);
  if (bytes) KVB_CUDA_CHECK(cudaMemcpy(static_cast<char*>(ptr_) + offset, host, bytes, cudaMemcpyHostToDevice));
}

void DeviceBuffer::download(void* host, size_t bytes, size_t offset) const {
  KVB_CHECK(offset + bytes <= bytes_, "device download of {} bytes at offset {} overruns a {}-byte buffer", bytes,
            offset, bytes_);
  if (bytes) KVB_CUDA_CHECK(cudaMemcpy(host, static_cast<const char*>(ptr_) + offset, bytes, cudaMemcpyDeviceToHost));
}

void DeviceBuffer::zero(cudaStream_t stream) {
  if (bytes_) KVB_CUDA_CHECK(cudaMemsetAsync(ptr_, 0, bytes_, stream));
}

void* Workspace::get(size_t bytes) {
  if (bytes > buf_.bytes()) {
    buf_.reset();
    buf_ = DeviceBuffer(bytes, "op workspace");
  }
  return buf_.data();
}

}  // namespace kvb::cuda
