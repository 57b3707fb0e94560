// Linear layers on the device: weights uploaded once (dequantized on the host by the CPU code,
// rounded to bf16/fp16 or kept fp32 on the device) and y = x · W^T through cublasGemmEx with
// float32 accumulation. cpu::linear's counterpart; tests/test_cuda_ops.cpp (CudaOps.Linear*).
#include <cublas_v2.h>

#include <algorithm>
#include <vector>

#include "backends/cuda/check.h"
#include "backends/cuda/ops.h"
#include "core/error.h"
#include "model/weight_matrix.h"

namespace kvb::cuda {
namespace {

// One cuBLAS handle per host thread, created on first use.
class CublasHandle {
 public:
  cublasHandle_t get() {
    if (!handle_) KVB_CUBLAS_CHECK(cublasCreate(&handle_));
    return handle_;
  }
  ~CublasHandle() {
    if (handle_) cublasDestroy(handle_);
  }

 private:
  cublasHandle_t handle_ = nullptr;
};

cublasHandle_t cublas_handle() {
  thread_local CublasHandle h;
  return h.get();
}

cudaDataType_t cuda_type(WeightType t) {
  switch (t) {
    case WeightType::F32: return CUDA_R_32F;
    case WeightType::BF16: return CUDA_R_16BF;
    case WeightType::F16: return CUDA_R_16F;
  }
  return CUDA_R_32F;
}

constexpr int64_t kUploadBlockElems = int64_t(1) << 22;  // rows dequantized per host->device copy

// Rows [r0, r0 + nr) of a matrix as float32 into `dst`.
template <class RowSource>
DeviceWeight upload_rows(int64_t rows, int64_t cols, WeightType type, cudaStream_t stream, RowSource&& rows_f32) {
  KVB_CHECK(rows >= 0 && cols > 0, "weight upload: shape [{}, {}]", rows, cols);
  DeviceWeight w;
  w.type = type;
  w.rows = rows;
  w.cols = cols;
  w.data = DeviceBuffer(size_t(rows * cols) * weight_type_bytes(type), "weight");
  const int64_t block_rows = std::max<int64_t>(1, kUploadBlockElems / cols);
  std::vector<float> host(size_t(std::min(rows, block_rows) * cols));
  DeviceBuffer staging(host.size() * sizeof(float), "weight upload staging");
  for (int64_t r0 = 0; r0 < rows; r0 += block_rows) {
    const int64_t nr = std::min(block_rows, rows - r0);
    rows_f32(r0, nr, host.data());
    KVB_CUDA_CHECK(cudaMemcpyAsync(staging.data(), host.data(), size_t(nr * cols) * sizeof(float),
                                   cudaMemcpyHostToDevice, stream));
    convert(staging.as<float>(), w.data.as<char>() + size_t(r0 * cols) * weight_type_bytes(type), type, nr * cols,
            stream);
    KVB_CUDA_CHECK(cudaStreamSynchronize(stream));  // `host` and `staging` are reused by the next block
  }
  return w;
}

}  // namespace

const char* weight_type_name(WeightType t) {
  switch (t) {
    case WeightType::F32: return "f32";
    case WeightType::BF16: return "bf16";
    case WeightType::F16: return "f16";
  }
  return "?";
}

size_t weight_type_bytes(WeightType t) { return t == WeightType::F32 ? 4 : 2; }

DeviceWeight upload_weight(const WeightMatrix& m, WeightType type, cudaStream_t stream) {
  return upload_rows(m.rows(), m.cols(), type, stream,
                     [&](int64_t r0, int64_t nr, float* out) { m.dequantize_rows(r0, nr, out); });
}

DeviceWeight upload_weight(const float* host, int64_t rows, int64_t cols, WeightType type, cudaStream_t stream) {
  return upload_rows(rows, cols, type, stream, [&](int64_t r0, int64_t nr, float* out) {
    std::copy(host + r0 * cols, host + (r0 + nr) * cols, out);
  });
}

void linear(const float* x, int64_t n, const DeviceWeight& w, float* y, const float* bias, Workspace& ws,
            cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t out = w.rows, in = w.cols;
  KVB_CHECK(out > 0 && in > 0 && out <= INT32_MAX && in <= INT32_MAX && n <= INT32_MAX,
            "cuda linear: shape n={} in={} out={} outside cuBLAS's int range", n, in, out);
  const void* b = x;
  if (w.type != WeightType::F32) {
    void* xc = ws.get(size_t(n * in) * weight_type_bytes(w.type));
    convert(x, xc, w.type, n * in, stream);
    b = xc;
  }
  cublasHandle_t h = cublas_handle();
  KVB_CUBLAS_CHECK(cublasSetStream(h, stream));
  // Column-major view: y^T [out, n] = W [out, in] · x^T [in, n]; W row-major [out, in] is
  // column-major [in, out] (so op T), x row-major [n, in] is column-major [in, n].
  const float alpha = 1.0f, beta = 0.0f;
  const cudaDataType_t t = cuda_type(w.type);
  KVB_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, int(out), int(n), int(in), &alpha, w.data.data(), t,
                                int(in), b, t, int(in), &beta, y, CUDA_R_32F, int(out), CUBLAS_COMPUTE_32F,
                                CUBLAS_GEMM_DEFAULT));
  if (bias) add_bias(y, bias, n, out, stream);
}

}  // namespace kvb::cuda
