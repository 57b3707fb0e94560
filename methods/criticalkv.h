// CriticalKV's value weighting, shared by criticalkv (uniform budget) and criticaladakv (head-adaptive).
#pragma once
#include "methods/scoring.h"
#include "model/weight_matrix.h"

namespace kvb {

// [Hkv][T]: for every entry, ||v_t W_o,h||_1 (the value through query head h's slice of the output
// projection W_o [E, Hq*D]), averaged over each GQA group (kvpress CriticalKVPress.vwl1norm).
Scores projected_value_l1(const LayerView& v, const WeightMatrix& wo);

// The output projection of every layer, read from the model the method is built for (kvb::Error when
// it was built without one).
std::vector<const WeightMatrix*> output_projections(const MethodContext& ctx, const char* method);

}  // namespace kvb
