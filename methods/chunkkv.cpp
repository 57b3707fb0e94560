// chunkkv: keep whole chunks of consecutive tokens, the same chunks in every head (Liu et al. 2025,
// arXiv:2502.00299; kvpress ChunkKVPress): any scorer's scores are summed over the KV heads, averaged
// per chunk of chunk_length (the shorter last chunk counts as one), and the best
// max(1, int(n_chunks * (1 - ratio))) chunks are kept. `kvbench eval --method chunkkv --param scorer=snapkv
// --param chunk_length=20 --ratio 0.5`.
#include <algorithm>

#include "core/error.h"
#include "methods/scoring.h"

namespace kvb {
namespace {

class ChunkKv final : public Method {
 public:
  ChunkKv(Scorer scorer, MethodContext ctx, int64_t chunk) : scorer_(std::move(scorer)), ctx_(std::move(ctx)), chunk_(chunk) {}
  PrefillNeeds prefill_needs() const override { return scorer_.needs; }
  KeepSets compress_prefill(const LayerView& v) override {
    if (v.n_kept >= v.n_context) return {};
    const Scores s = scorer_.score(v);  // [Hkv][T]
    const int64_t T = int64_t(s[0].size()), n_full = T / chunk_, rest = T % chunk_;
    if (n_full == 0) return top_k_per_head(s, v.n_kept);  // kvpress falls back to the scorer's own top-k
    // Chunk score: per token the sum over heads, then the mean over the chunk's tokens.
    const int64_t n_chunks = n_full + (rest > 0);
    std::vector<float> chunk_score(static_cast<size_t>(n_chunks));
    for (int64_t c = 0; c < n_chunks; ++c) {
      const int64_t a = c * chunk_, b = std::min(T, a + chunk_);
      double sum = 0;
      for (int64_t t = a; t < b; ++t) {
        float over_heads = 0;
        for (const auto& row : s) over_heads += row[size_t(t)];
        sum += over_heads;
      }
      chunk_score[size_t(c)] = float(sum / double(b - a));
    }
    const double ratio = effective_ratio(ctx_, T);
    const int64_t n_keep = std::max<int64_t>(1, int64_t(double(n_chunks) * (1.0 - ratio)));
    std::vector<int32_t> kept;
    for (int32_t c : torch_topk_order(chunk_score, n_keep))
      for (int64_t t = c * chunk_; t < std::min(T, (c + 1) * chunk_); ++t) kept.push_back(int32_t(t));
    std::sort(kept.begin(), kept.end());
    return KeepSets(s.size(), kept);
  }

 private:
  Scorer scorer_;
  MethodContext ctx_;
  int64_t chunk_;
};

KVB_REGISTER_METHOD(chunkkv, 1, "ChunkKV: Liu et al. 2025, arXiv:2502.00299 (kvpress ChunkKVPress)",
                    "scorer=any (param scorer), summed over heads and averaged per chunk; budget=whole chunks, "
                    "schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::Chunked},
                    {{"scorer", "snapkv", "the scorer method whose token scores rank the chunks"},
                     {"chunk_length", "20", "tokens per chunk"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      Scorer s = make_wrapped_scorer(ctx);
                      KVB_CHECK(!s.needs.attention_mass,
                                "chunkkv: scorer '{}' needs the prefill's attention weights, which kvpress's ChunkKVPress "
                                "refuses too", ctx.params.get_string("scorer"));
                      const int64_t chunk = ctx.params.get_int("chunk_length");
                      KVB_CHECK(chunk >= 1, "chunkkv: chunk_length {} must be >= 1", chunk);
                      return std::make_unique<ChunkKv>(std::move(s), ctx, chunk);
                    },
                    nullptr, true);

}  // namespace
}  // namespace kvb
