// full: no compression; the baseline every method is compared against.
// `kvbench eval --method full ...` (the default).
#include "kv/method.h"

namespace kvb {
namespace {

class FullAttention final : public Method {};

KVB_REGISTER_METHOD(full, 1, "no compression (baseline)", "none", MethodRoles{}, {},
                    [](const MethodContext&) -> std::unique_ptr<Method> { return std::make_unique<FullAttention>(); });

}  // namespace
}  // namespace kvb
