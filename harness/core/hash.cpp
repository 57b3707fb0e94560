// FNV-1a 64 as hex; see hash.h.
#include "core/hash.h"

#include <fmt/format.h>

namespace kvb {

std::string fnv1a64_hex(std::string_view bytes) { return fmt::format("{:016x}", fnv1a64(bytes)); }

}  // namespace kvb
