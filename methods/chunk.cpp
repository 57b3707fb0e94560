// chunk: compress each chunk of chunk_length entries on its own, so that every part of the context
// keeps the same share (kvpress ChunkPress, after FINCH: Corallo & Papotti 2024, TACL). Each chunk keeps
// max(1, int(n_chunk * (1 - ratio))) entries per head by the wrapped scorer's scores over that chunk alone.
// Only scorers that read keys and values alone (knorm, keydiff, lagkv, streaming_llm, random) can score a
// chunk: kvpress recomputes window queries from a chunk's hidden states, which our recorded window does not
// hold (methods/README.md). `kvbench eval --method chunk --param scorer=keydiff --param chunk_length=1024`.
#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "methods/scoring.h"

namespace kvb {
namespace {

class ChunkWise final : public Method {
 public:
  ChunkWise(Scorer scorer, MethodContext ctx, int64_t chunk) : scorer_(std::move(scorer)), ctx_(std::move(ctx)), chunk_(chunk) {}
  KeepSets compress_prefill(const LayerView& v) override {
    if (v.n_kept >= v.n_context) return {};
    const int Hkv = v.cache->n_kv_heads();
    const int64_t T = v.cache->head(v.layer, 0).size();
    const double ratio = effective_ratio(ctx_, T);
    auto kept_of = [ratio](int64_t n) { return std::max<int64_t>(1, int64_t(double(n) * (1.0 - ratio))); };
    KeepSets keep(static_cast<size_t>(Hkv));
    for (int64_t a = 0; a < T; a += chunk_) {
      const int64_t n = std::min(chunk_, T - a);
      std::vector<int32_t> rows(static_cast<size_t>(n));
      std::iota(rows.begin(), rows.end(), int32_t(a));
      const Scores s = score_entry_subset(scorer_, v, std::vector<std::vector<int32_t>>(size_t(Hkv), rows), kept_of);
      for (int h = 0; h < Hkv; ++h)
        for (int32_t j : torch_topk_order(s[size_t(h)], kept_of(n))) keep[size_t(h)].push_back(int32_t(a) + j);
    }
    for (auto& k : keep) std::sort(k.begin(), k.end());
    return keep;
  }

 private:
  Scorer scorer_;
  MethodContext ctx_;
  int64_t chunk_;
};

KVB_REGISTER_METHOD(chunk, 1, "ChunkPress (kvpress), after FINCH: Corallo & Papotti 2024, TACL",
                    "scorer=any key/value scorer (param scorer), per chunk; budget=the ratio in every chunk, "
                    "schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::Chunked},
                    {{"scorer", "knorm", "the scorer method applied to each chunk (keys and values only)"},
                     {"chunk_length", "1024", "entries per chunk"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      Scorer s = make_wrapped_scorer(ctx);
                      KVB_CHECK(scores_entries_only(s),
                                "chunk: scorer '{}' needs prefill queries or attention, which a chunk's entries alone "
                                "do not give; use a key/value scorer (knorm, keydiff, lagkv, streaming_llm, random)",
                                ctx.params.get_string("scorer"));
                      const int64_t chunk = ctx.params.get_int("chunk_length");
                      KVB_CHECK(chunk >= 1, "chunk: chunk_length {} must be >= 1", chunk);
                      return std::make_unique<ChunkWise>(std::move(s), ctx, chunk);
                    },
                    nullptr, true);

}  // namespace
}  // namespace kvb
