// Tensors: a dense row-major float32 buffer with a shape, and a non-owning view.
// Axis glossary used in comments across kvbench: L layers, Hq/Hkv heads, T tokens,
// W window, D head dim, E embedding dim, F feed-forward dim, V vocabulary.
#pragma once
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"

namespace kvb {

struct Tensor {
  std::vector<int64_t> shape;  // outermost first; the last axis is contiguous
  std::vector<float> data;

  Tensor() = default;
  explicit Tensor(std::vector<int64_t> s) : shape(std::move(s)), data(numel_of(shape), 0.0f) {}

  static size_t numel_of(const std::vector<int64_t>& s) {
    return std::accumulate(s.begin(), s.end(), size_t{1}, [](size_t a, int64_t b) { return a * size_t(b); });
  }
  size_t numel() const { return data.size(); }
  int64_t dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  int rank() const { return int(shape.size()); }
  float* ptr() { return data.data(); }
  const float* ptr() const { return data.data(); }
  std::string shape_str() const {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

// A non-owning view of a row-major block: rows x cols with a row stride (in floats).
struct MatView {
  const float* data = nullptr;
  int64_t rows = 0, cols = 0, stride = 0;
  const float* row(int64_t r) const { return data + r * stride; }
  bool empty() const { return data == nullptr || rows == 0; }
};

}  // namespace kvb
