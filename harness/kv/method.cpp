// Method registry and spec checking (see method.h). Methods register from methods/*.cpp with
// KVB_REGISTER_METHOD; tests/test_methods_contract.cpp runs over every registered id.
#include "kv/method.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "eval/task.h"  // nearest_name

namespace kvb {
namespace {

std::map<std::string, MethodInfo, std::less<>>& registry() {
  static std::map<std::string, MethodInfo, std::less<>> r;
  return r;
}

std::vector<std::string> known_ids() {
  std::vector<std::string> ids;
  for (const auto& [id, info] : registry()) ids.push_back(id);
  return ids;
}

std::vector<std::string> scorer_ids() {
  std::vector<std::string> ids;
  for (const auto& [id, info] : registry())
    if (info.make_scorer) ids.push_back(id);
  return ids;
}

}  // namespace

Scorer make_wrapped_scorer(const MethodContext& ctx) {
  const MethodInfo& inner = find_method(ctx.params.get_string("scorer"));
  KVB_CHECK(inner.make_scorer != nullptr, "'{}' is not a scorer method (scorers: {})", inner.id,
            fmt::join(scorer_ids(), ", "));
  return inner.make_scorer(ctx);
}

int64_t MethodContext::kept_for(int64_t n) const {
  if (token_budget > 0) return std::min(token_budget, n);
  // kvpress compute_n_kept: max(1, int(T * (1 - r))).
  return std::clamp<int64_t>(std::max<int64_t>(1, int64_t(double(n) * (1.0 - compression_ratio))), 0, n);
}

void register_method(MethodInfo info) {
  KVB_CHECK(!registry().count(info.id), "method '{}' is registered twice", info.id);
  std::string id = info.id;
  registry().emplace(std::move(id), std::move(info));
}

std::vector<const MethodInfo*> list_methods() {
  std::vector<const MethodInfo*> out;
  for (const auto& [id, info] : registry()) out.push_back(&info);
  return out;
}

const MethodInfo& find_method(std::string_view id) {
  auto it = registry().find(id);
  if (it != registry().end()) return it->second;
  std::vector<std::string> ids = known_ids();
  std::string near = nearest_name(id, ids);
  KVB_FAIL("unknown method '{}'{}; known methods: {}", id, near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near),
           fmt::join(ids, ", "));
}

Params resolve_method_params(const MethodInfo& info, const Params& user) {
  Params out;
  std::vector<std::string> names;
  std::vector<MethodParamSpec> declared = info.params;
  if (info.wraps_scorer) {
    std::string inner = user.get_string("scorer", "");
    for (const auto& p : info.params)
      if (p.name == "scorer" && inner.empty()) inner = p.default_value;
    const MethodInfo& scorer = find_method(inner);
    KVB_CHECK(scorer.make_scorer != nullptr, "method {}: '{}' is not a scorer method (scorers: {})", info.id, inner,
              fmt::join(scorer_ids(), ", "));
    for (const auto& p : scorer.params) declared.push_back(p);
  }
  for (const auto& p : declared) {
    out.set(p.name, p.default_value);
    names.push_back(p.name);
  }
  for (const auto& [k, v] : user.values()) {
    if (std::find(names.begin(), names.end(), k) == names.end()) {
      std::string near = nearest_name(k, names);
      KVB_FAIL("method {}: unknown parameter '{}'{}; its parameters: {}", info.id, k,
               near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near),
               names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", ")));
    }
    out.set(k, v);
  }
  return out;
}

std::unique_ptr<Method> make_method(const MethodSpec& spec, const ModelConfig& config) {
  const MethodInfo& info = find_method(spec.id);
  KVB_CHECK(std::isfinite(spec.compression_ratio) && spec.compression_ratio >= 0.0 && spec.compression_ratio < 1.0,
            "method {}: compression ratio {} is outside [0, 1)", spec.id, spec.compression_ratio);
  KVB_CHECK(spec.token_budget >= 0, "method {}: token budget {} is negative", spec.id, spec.token_budget);
  KVB_CHECK(!(spec.token_budget > 0 && spec.compression_ratio > 0.0),
            "method {}: give either a compression ratio or a token budget, not both", spec.id);
  MethodContext ctx;
  ctx.params = resolve_method_params(info, spec.params);
  ctx.compression_ratio = spec.compression_ratio;
  ctx.token_budget = spec.token_budget;
  ctx.seed = spec.seed;
  ctx.config = &config;
  return info.make(ctx);
}

}  // namespace kvb
