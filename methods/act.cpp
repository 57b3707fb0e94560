// act: the Attention Calibration Technique (Yu et al. 2024, arXiv:2406.15765; reference
// GATECH-EIC/ACT models/llama_modelling_aug.py). An accuracy method, not a compression one: the cache
// keeps every entry; in the attention of the calibrated (layer, query head) pairs, the hidden sinks
// (columns whose mean attention exceeds tau, the first such column excepted) keep beta of their weight
// and the rest goes to the row's other entries (backends/cpu/attention_calibration.h). As the
// reference, the sinks are found in each forward call's own map: a prefill chunk's rows, the question
// prefilled after the context, and each decode step's single row (where a column is a sink when its
// weight exceeds tau). The head list comes from `kvbench calibrate act` (kv/act_heads.h).
// `kvbench eval --method act --param heads=act_heads.txt`; CPU backend only.
#include <cmath>

#include "core/error.h"
#include "core/log.h"
#include "kv/act_heads.h"
#include "kv/method.h"

namespace kvb {
namespace {

class Act final : public Method {
 public:
  Act(const ActHeads& heads, const ModelConfig& c, float tau, float beta) : calib_(size_t(c.n_layers)) {
    for (AttentionCalibration& a : calib_) {
      a.heads.assign(size_t(c.n_heads), 0);
      a.tau = tau;
      a.beta = beta;
    }
    for (const auto& [l, h] : heads) {
      KVB_CHECK(l < c.n_layers && h < c.n_heads, "act: head {}:{} is outside the model ({} layers x {} query heads)",
                l, h, c.n_layers, c.n_heads);
      calib_[size_t(l)].heads[size_t(h)] = 1;
    }
  }
  const AttentionCalibration* attention_calibration(int layer) const override {
    const AttentionCalibration& a = calib_[size_t(layer)];
    return a.any() ? &a : nullptr;
  }

 private:
  std::vector<AttentionCalibration> calib_;  // [L]
};

KVB_REGISTER_METHOD(act, 1, "ACT: Yu et al. 2024, arXiv:2406.15765",
                    "attention modifier: in the calibrated (layer, query head) pairs, hidden attention sinks (column "
                    "mean > tau, the first one excepted) scaled by beta after softmax, the removed mass spread over "
                    "the row's other entries; prefill, question and decode; cache untouched, no budget",
                    MethodRoles{.budget = Budget::None, .changes_prefill = true},
                    {{"heads", "", "calibrated heads: a file from `kvbench calibrate act`, or inline 'layer:head,...' "
                                   "(empty: none, attention unchanged)"},
                     {"tau", "0.1", "hidden-sink threshold on a column's mean attention (paper: 0.1)"},
                     {"beta", "0.4", "weight a hidden sink keeps (paper: 0.4)"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      const std::string heads = ctx.params.get_string("heads");
                      const double tau = ctx.params.get_double("tau"), beta = ctx.params.get_double("beta");
                      KVB_CHECK(std::isfinite(tau) && tau > 0 && tau < 1 && std::isfinite(beta) && beta >= 0 &&
                                    beta <= 1,
                                "act: tau {} must be in (0, 1) and beta {} in [0, 1]", tau, beta);
                      ActHeads list;
                      if (!heads.empty()) list = is_inline_act_heads(heads) ? parse_act_heads(heads) : read_act_heads(heads);
                      if (list.empty() && !ctx.composite_part)
                        log_warn("act: no calibrated heads (heads=): attention is unchanged");
                      return std::make_unique<Act>(list, *ctx.config, float(tau), float(beta));
                    });

}  // namespace
}  // namespace kvb
