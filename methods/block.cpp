// block: compress block by block as a chunked prefill would, keeping n_kept entries per head throughout
// (kvpress BlockPress, the iterative form of KeyDiff: Park et al. 2025, arXiv:2504.15364). Starting from the
// first n_kept entries, each block of block_size entries is appended to the kept ones and the wrapped scorer
// picks the best n_kept of them again. As in kvpress, the scorer sees the kept entries in their top-k order
// followed by the block, and the prefill itself is not chunked (every entry saw the whole prefix).
// Key/value scorers only (see methods/chunk.cpp). `kvbench eval --method block --param scorer=keydiff
// --param block_size=128 --ratio 0.5`.
#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "methods/scoring.h"

namespace kvb {
namespace {

class BlockWise final : public Method {
 public:
  BlockWise(Scorer scorer, MethodContext ctx, int64_t block) : scorer_(std::move(scorer)), ctx_(std::move(ctx)), block_(block) {}
  KeepSets compress_prefill(const LayerView& v) override {
    if (v.n_kept >= v.n_context) return {};
    const int Hkv = v.cache->n_kv_heads();
    const int64_t T = v.cache->head(v.layer, 0).size(), n_kept = v.n_kept, block = std::min(block_, T);
    std::vector<int32_t> first(static_cast<size_t>(n_kept));
    std::iota(first.begin(), first.end(), 0);
    KeepSets kept(size_t(Hkv), first);  // [Hkv][n_kept], in the scorer's top-k order after the first block
    auto kept_of = [this](int64_t n) { return ctx_.kept_for(n); };
    for (int64_t a = n_kept; a < T; a += block) {
      std::vector<std::vector<int32_t>> current = kept;
      for (auto& c : current)
        for (int64_t t = a; t < std::min(a + block, T); ++t) c.push_back(int32_t(t));
      const Scores s = score_entry_subset(scorer_, v, current, kept_of);
      for (int h = 0; h < Hkv; ++h) {
        std::vector<int32_t>& k = kept[size_t(h)];
        k.clear();
        for (int32_t j : torch_topk_order(s[size_t(h)], n_kept)) k.push_back(current[size_t(h)][size_t(j)]);
      }
    }
    for (auto& k : kept) std::sort(k.begin(), k.end());
    return kept;
  }

 private:
  Scorer scorer_;
  MethodContext ctx_;
  int64_t block_;
};

KVB_REGISTER_METHOD(block, 1, "BlockPress (kvpress): KeyDiff's block-wise compression, Park et al. 2025, arXiv:2504.15364",
                    "scorer=any key/value scorer (param scorer), re-applied block by block; budget=uniform, "
                    "schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::Uniform},
                    {{"scorer", "keydiff", "the scorer method applied to kept entries + each new block (keys and values only)"},
                     {"block_size", "128", "entries appended per step"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      Scorer s = make_wrapped_scorer(ctx);
                      KVB_CHECK(scores_entries_only(s),
                                "block: scorer '{}' needs prefill queries or attention, which a block's entries alone "
                                "do not give; use a key/value scorer (knorm, keydiff, lagkv, streaming_llm, random)",
                                ctx.params.get_string("scorer"));
                      const int64_t block = ctx.params.get_int("block_size");
                      KVB_CHECK(block >= 1, "block: block_size {} must be >= 1", block);
                      return std::make_unique<BlockWise>(std::move(s), ctx, block);
                    },
                    nullptr, true);

}  // namespace
}  // namespace kvb
