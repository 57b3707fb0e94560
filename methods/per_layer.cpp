// per_layer: any scorer with its own compression ratio in every layer (kvpress PerLayerCompressionPress):
// layer l keeps max(1, int(T * (1 - layer_ratios[l]))) entries per head by the scorer's top-k. Without
// layer_ratios every layer takes --ratio / --budget, i.e. the scorer's uniform budget.
// `kvbench eval --method per_layer --param scorer=snapkv --param layer_ratios=0.2,0.5,0.8 ...`.
#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <string>

#include "core/error.h"
#include "methods/scoring.h"

namespace kvb {
namespace {

std::vector<double> parse_ratios(const std::string& text, int n_layers) {
  std::vector<double> r;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    double x = 0;
    try {
      x = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    KVB_CHECK(used > 0 && used == item.size(), "per_layer: layer_ratios item '{}' is not a number", item);
    KVB_CHECK(x >= 0.0 && x < 1.0, "per_layer: layer_ratios item {} is outside [0, 1)", x);
    r.push_back(x);
  }
  KVB_CHECK(int(r.size()) == n_layers, "per_layer: layer_ratios gives {} ratios, the model has {} layers", r.size(),
            n_layers);
  return r;
}

class PerLayerRatios final : public Method {
 public:
  PerLayerRatios(Scorer scorer, std::vector<double> ratios) : scorer_(std::move(scorer)), ratios_(std::move(ratios)) {}
  PrefillNeeds prefill_needs() const override { return scorer_.needs; }
  KeepSets compress_prefill(const LayerView& v) override {
    const int64_t T = v.n_context;
    const double r = ratios_[size_t(v.layer)];
    const int64_t k = std::min<int64_t>(T, std::max<int64_t>(1, int64_t(double(T) * (1.0 - r))));
    if (r == 0.0 || k >= T) return {};  // kvpress leaves a layer at ratio 0 untouched
    return top_k_per_head(scorer_.score(v), k);
  }

 private:
  Scorer scorer_;
  std::vector<double> ratios_;
};

KVB_REGISTER_METHOD(per_layer, 1, "PerLayerCompressionPress (kvpress): a compression ratio per layer",
                    "scorer=any (param scorer); budget=one ratio per layer (layer_ratios), schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::PerLayer},
                    {{"scorer", "snapkv", "the scorer method"},
                     {"layer_ratios", "", "comma-separated compression ratio of every layer; empty: --ratio / --budget "
                                          "in every layer. Given, --ratio and --budget must be left out"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      Scorer s = make_wrapped_scorer(ctx);
                      const std::string text = ctx.params.get_string("layer_ratios");
                      if (text.empty()) return make_scored_method(std::move(s), uniform_budget());
                      KVB_CHECK(ctx.compression_ratio == 0.0 && ctx.token_budget == 0,
                                "per_layer: layer_ratios sets every layer's ratio; leave out --ratio and --budget");
                      return std::make_unique<PerLayerRatios>(std::move(s), parse_ratios(text, ctx.config->n_layers));
                    },
                    nullptr, true);

}  // namespace
}  // namespace kvb
