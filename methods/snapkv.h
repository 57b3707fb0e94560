// SnapKV's scorer, shared with pyramidkv (methods/pyramidkv.cpp), which uses it with per-layer budgets.
#pragma once
#include "methods/scoring.h"

namespace kvb {
Scorer snapkv_scorer(const MethodContext& ctx);  // params: window, kernel_size
}  // namespace kvb
