// decoding: apply any scorer during generation, every compression_interval steps, cutting each
// layer back to target_size entries (kvpress DecodingPress, docs/kvpress-notes.md §13). The scorer
// sees the queries of the last buffered decode steps as its observation window. Differences from
// kvpress: the window queries carry their own RoPE positions (kvpress rotates every buffered state
// with the current step's cos/sin), and the question prefill is not counted as a step.
// `kvbench eval --method decoding --param scorer=snapkv --param window=16 --param target_size=1024`.
#include <deque>

#include "core/error.h"
#include "methods/scoring.h"

namespace kvb {
namespace {

class DecodingSchedule final : public Method {
 public:
  DecodingSchedule(Scorer scorer, int64_t interval, int64_t target, int64_t buffer, int n_layers, int64_t qd)
      : scorer_(std::move(scorer)), interval_(interval), target_(target), buffer_(buffer), qd_(qd),
        rows_(size_t(n_layers)), positions_(size_t(n_layers)), steps_(size_t(n_layers), 0) {}
  bool decode_hooks() const override { return true; }
  KeepSets on_decode_step(const LayerView& v, int64_t) override {
    const size_t l = size_t(v.layer);
    for (int i = 0; i < v.window; ++i) {
      rows_[l].emplace_back(v.window_queries + int64_t(i) * qd_, v.window_queries + int64_t(i + 1) * qd_);
      positions_[l].push_back(v.window_positions[i]);
    }
    while (int64_t(rows_[l].size()) > buffer_) {
      rows_[l].pop_front();
      positions_[l].pop_front();
    }
    if (++steps_[l] < interval_) return {};
    steps_[l] = 0;
    const int64_t T = v.cache->head(v.layer, 0).size();
    if (T <= target_) return {};
    std::vector<float> window;
    for (const auto& r : rows_[l]) window.insert(window.end(), r.begin(), r.end());
    std::vector<int32_t> pos(positions_[l].begin(), positions_[l].end());
    LayerView w = v;
    w.window_queries = window.data();
    w.window_positions = pos.data();
    w.window = int(rows_[l].size());
    w.n_context = T;
    w.n_kept = target_;
    KeepSets keep = top_k_per_head(scorer_.score(w), target_);
    rows_[l].clear();
    positions_[l].clear();
    return keep;
  }

 private:
  Scorer scorer_;
  int64_t interval_, target_, buffer_, qd_;
  std::vector<std::deque<std::vector<float>>> rows_;  // [L][buffered steps][Hq*D]
  std::vector<std::deque<int32_t>> positions_;
  std::vector<int64_t> steps_;
};

KVB_REGISTER_METHOD(decoding, 1, "DecodingPress schedule (kvpress): any scorer applied during generation",
                    "scorer=any (param scorer), budget=target_size, schedule=every compression_interval decode steps",
                    MethodRoles{.evicts = true, .schedule = Schedule::Decode},
                    {{"scorer", "knorm", "the scorer method applied during decoding"},
                     {"compression_interval", "512", "decode steps between compressions"},
                     {"target_size", "2048", "entries per head after each compression"},
                     {"buffer_size", "256", "decode-step queries kept as the scorer's observation window"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      Scorer s = make_wrapped_scorer(ctx);
                      KVB_CHECK(!s.needs.attention_mass && s.needs.query_stats_from < 0,
                                "decoding: scorer '{}' needs prefill statistics (attention mass or query statistics) "
                                "that decode steps do not provide",
                                ctx.params.get_string("scorer"));
                      const int64_t interval = ctx.params.get_int("compression_interval");
                      const int64_t target = ctx.params.get_int("target_size");
                      const int64_t buffer = ctx.params.get_int("buffer_size");
                      KVB_CHECK(interval >= 1 && target >= 1 && buffer >= 1,
                                "decoding: compression_interval, target_size and buffer_size must be >= 1");
                      KVB_CHECK(s.needs.window <= buffer, "decoding: the scorer's window {} exceeds buffer_size {}",
                                s.needs.window, buffer);
                      const ModelConfig& c = *ctx.config;
                      return std::make_unique<DecodingSchedule>(std::move(s), interval, target, buffer, c.n_layers,
                                                                int64_t(c.n_heads) * c.head_dim);
                    },
                    nullptr, true);

}  // namespace
}  // namespace kvb
