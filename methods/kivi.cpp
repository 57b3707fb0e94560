// kivi: 2/4-bit asymmetric quantization of the KV cache, keys per channel over token groups, values
// per token over channel groups, a full-precision recent window (Liu et al. 2024, arXiv:2402.02750).
// Codes are stored packed (harness/kv/kivi_codec.h), so resident bytes shrink by ~16x / 8x for the
// quantized part. No token is evicted. `kvbench eval --method kivi --param bits=2 --param residual=128`.
#include "core/error.h"
#include "kv/method.h"

namespace kvb {
namespace {

class Kivi final : public Method {
 public:
  explicit Kivi(KiviConfig cfg) : cfg_(cfg) {}
  bool has_codec() const override { return true; }
  void encode(KVCache& cache) override { cache.set_codec(cfg_); }

 private:
  KiviConfig cfg_;
};

KVB_REGISTER_METHOD(kivi, 1, "KIVI: Liu et al. 2024, arXiv:2402.02750",
                    "codec=packed 2/4-bit min/max quantization (keys per channel, values per token) + fp32 "
                    "residual window",
                    MethodRoles{.codec = true},
                    {{"bits", "2", "bits per quantized element: 2, 4 or 8"},
                     {"group", "32", "tokens per key group and channels per value group"},
                     {"residual", "128", "recent tokens kept in full precision (at least)"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      KVB_CHECK(ctx.composite_part || (ctx.compression_ratio == 0.0 && ctx.token_budget == 0),
                                "kivi quantizes instead of evicting: its size is set by bits/group/residual, not by "
                                "--ratio or --budget");
                      KiviConfig cfg;
                      cfg.bits = int(ctx.params.get_int("bits"));
                      cfg.group = int(ctx.params.get_int("group"));
                      cfg.residual = int(ctx.params.get_int("residual"));
                      KVB_CHECK(cfg.bits == 2 || cfg.bits == 4 || cfg.bits == 8, "kivi: bits {} must be 2, 4 or 8",
                                cfg.bits);
                      KVB_CHECK(cfg.group >= 1, "kivi: group {} must be >= 1", cfg.group);
                      KVB_CHECK(cfg.residual >= 0, "kivi: residual {} is negative", cfg.residual);
                      return std::make_unique<Kivi>(cfg);
                    });

}  // namespace
}  // namespace kvb
