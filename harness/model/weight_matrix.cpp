// WeightMatrix storage; see weight_matrix.h.
#include "model/weight_matrix.h"

#include <cstring>
#include <mutex>

#include "core/error.h"

namespace kvb {

WeightMatrix WeightMatrix::from_raw(const RawTensor& t, int64_t rows, int64_t cols) {
  KVB_CHECK(t.numel() == rows * cols, "tensor '{}': {} elements, expected {} x {}", t.name, t.numel(), rows, cols);
  KVB_CHECK(cols % dtype_block_elems(t.dtype) == 0, "tensor '{}': row length {} is not a whole number of {} blocks",
            t.name, cols, dtype_name(t.dtype));
  if (t.dtype == DType::F32 || t.dtype == DType::F16) return from_f32(kvb::to_f32(t).data, rows, cols);
  WeightMatrix w;
  w.dtype_ = t.dtype;
  w.rows_ = rows;
  w.cols_ = cols;
  w.row_bytes_ = dtype_nbytes(t.dtype, cols, t.name);
  KVB_CHECK(t.nbytes == w.row_bytes_ * size_t(rows) && t.data, "tensor '{}': {} bytes, expected {}", t.name, t.nbytes,
            w.row_bytes_ * size_t(rows));
  w.packed_.assign(t.data, t.data + t.nbytes);
  return w;
}

WeightMatrix WeightMatrix::from_f32(std::vector<float> data, int64_t rows, int64_t cols) {
  KVB_CHECK(int64_t(data.size()) == rows * cols, "weight: {} floats, expected {} x {}", data.size(), rows, cols);
  WeightMatrix w;
  w.rows_ = rows;
  w.cols_ = cols;
  w.row_bytes_ = size_t(cols) * sizeof(float);
  w.f32_ = std::move(data);
  return w;
}

void WeightMatrix::dequantize_rows(int64_t r0, int64_t n, float* out) const {
  if (dtype_ == DType::F32) {
    std::memcpy(out, f32_.data() + r0 * cols_, size_t(n * cols_) * sizeof(float));
    return;
  }
  convert_to_f32(dtype_, packed_.data() + r0 * row_bytes_, out, n * cols_);  // rows are contiguous
}

void WeightMatrix::to_f32() {
  if (dtype_ == DType::F32) return;
  std::vector<float> f(size_t(rows_ * cols_));
  convert_to_f32(dtype_, packed_.data(), f.data(), rows_ * cols_);
  *this = from_f32(std::move(f), rows_, cols_);
}

std::shared_ptr<const void> WeightMatrix::derived(const std::function<std::shared_ptr<const void>()>& build) const {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  if (!derived_) derived_ = build();
  return derived_;
}

}  // namespace kvb
