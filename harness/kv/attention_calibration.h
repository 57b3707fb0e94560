// The attention-modifier seam (docs/methods-wave2 "act_calibration"; ACT, Yu et al. 2024,
// arXiv:2406.15765): per (layer, query head), whether the attention rows of a forward call are
// recalibrated after softmax, and how. A method returns it (Method::attention_calibration), the
// forward observers pass it on (ForwardObserver::attention_calibration), the CPU backend applies it
// (backends/cpu/attention_calibration.h); the CUDA backend refuses it. Separate from any sparse
// prefill pattern: it changes the weights of the entries a row attends to, never which ones.
// Axes: Hq query heads.
#pragma once
#include <vector>

namespace kvb {

struct AttentionCalibration {
  std::vector<char> heads;  // [Hq] 1: this query head's rows are recalibrated
  float tau = 0.1f;         // a column is a hidden sink when its mean attention exceeds tau
  float beta = 0.4f;        // hidden sinks keep beta of their weight; the rest goes to the other entries
  bool any() const {
    for (char h : heads)
      if (h) return true;
    return false;
  }
};

}  // namespace kvb
