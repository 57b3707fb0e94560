// A linear weight [rows, cols] kept in its checkpoint storage type (F32, BF16, or a ggml block
// format such as Q4_1), dequantized row by row on use so that the arithmetic is float32 while
// memory traffic stays that of the stored format. dequantize_all() turns every weight into F32
// (the `--weights f32` reference mode; results are the same up to summation order).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "model/raw_tensor.h"

namespace kvb {

class WeightMatrix {
 public:
  WeightMatrix() = default;
  // Copies `t` (shape [rows, cols]); F16 is widened to F32 (exact), other types are kept.
  static WeightMatrix from_raw(const RawTensor& t, int64_t rows, int64_t cols);
  static WeightMatrix from_f32(std::vector<float> data, int64_t rows, int64_t cols);

  DType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  bool empty() const { return rows_ == 0; }
  size_t bytes() const { return f32_.size() * sizeof(float) + packed_.size(); }
  // Float32 rows (only when dtype() == F32).
  const float* f32_data() const { return f32_.data(); }
  // Stored rows (only when dtype() != F32): rows() rows of row_bytes() bytes each.
  const uint8_t* packed_data() const { return packed_.data(); }
  size_t row_bytes() const { return row_bytes_; }
  // Writes rows [r0, r0 + n) as float32 into out[n, cols].
  void dequantize_rows(int64_t r0, int64_t n, float* out) const;
  // Converts to F32 storage in place.
  void to_f32();
  // A backend's derived layout of these weights (the CPU int8 path's repacked blocks): made by `build`
  // on first use (thread-safe), then shared by this matrix and its copies; to_f32() drops it.
  std::shared_ptr<const void> derived(const std::function<std::shared_ptr<const void>()>& build) const;

 private:
  DType dtype_ = DType::F32;
  int64_t rows_ = 0, cols_ = 0;
  size_t row_bytes_ = 0;
  std::vector<float> f32_;
  std::vector<uint8_t> packed_;
  mutable std::shared_ptr<const void> derived_;
};

}  // namespace kvb
