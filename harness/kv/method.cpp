// Method registry and spec checking (see method.h). Methods register from methods/*.cpp with
// KVB_REGISTER_METHOD; tests/test_methods_contract.cpp runs over every registered id.
#include "kv/method.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "core/names.h"

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

namespace {

// A composite "a+b" (e.g. snapkv+kivi): at most one part evicts tokens at prefill; the others add a
// codec, a selector, channel pruning or decode hooks. Every call is forwarded to the parts.
class CompositeMethod final : public Method {
 public:
  explicit CompositeMethod(std::vector<std::unique_ptr<Method>> parts) : parts_(std::move(parts)) {}
  PrefillNeeds prefill_needs() const override {
    PrefillNeeds n;
    for (const auto& p : parts_) {
      PrefillNeeds q = p->prefill_needs();
      n.window = std::max(n.window, q.window);
      n.attention_mass |= q.attention_mass;
      if (q.query_stats_from >= 0)
        n.query_stats_from = n.query_stats_from < 0 ? q.query_stats_from : std::min(n.query_stats_from, q.query_stats_from);
      n.query_covariance |= q.query_covariance;
    }
    return n;
  }
  KeepSets compress_prefill(const LayerView& v) override {
    KeepSets keep;
    for (const auto& p : parts_) {
      KeepSets k = p->compress_prefill(v);
      if (k.empty()) continue;
      KVB_CHECK(keep.empty(), "composite method: two parts evict tokens at prefill; combine one evicting method "
                "with codecs / selectors only");
      keep = std::move(k);
    }
    return keep;
  }
  std::vector<Compensation> compensation(const LayerView& v, const KeepSets& keep) override {
    for (const auto& p : parts_) {
      auto c = p->compensation(v, keep);
      if (!c.empty()) return c;
    }
    return {};
  }
  std::vector<std::vector<int32_t>> prune_key_channels(const LayerView& v) override {
    for (const auto& p : parts_) {
      auto c = p->prune_key_channels(v);
      if (!c.empty()) return c;
    }
    return {};
  }
  bool decode_hooks() const override { return hooks() != nullptr; }
  bool decode_wants_mass() const override { return hooks() && hooks()->decode_wants_mass(); }
  KeepSets on_decode_step(const LayerView& v, int64_t step) override { return hooks()->on_decode_step(v, step); }
  bool has_selector() const override { return selector() != nullptr; }
  ReadSets select(int layer, const float* q, const KVCache& cache) override { return selector()->select(layer, q, cache); }
  bool has_codec() const override {
    return std::any_of(parts_.begin(), parts_.end(), [](const auto& p) { return p->has_codec(); });
  }
  void encode(KVCache& cache) override {
    for (const auto& p : parts_) p->encode(cache);
  }

 private:
  Method* hooks() const {
    for (const auto& p : parts_)
      if (p->decode_hooks()) return p.get();
    return nullptr;
  }
  Method* selector() const {
    for (const auto& p : parts_)
      if (p->has_selector()) return p.get();
    return nullptr;
  }
  std::vector<std::unique_ptr<Method>> parts_;
};

// "a+b" from its parts.
std::string ctx_id(const std::vector<const MethodInfo*>& parts) {
  std::string id;
  for (const MethodInfo* p : parts) id += (id.empty() ? "" : "+") + p->id;
  return id;
}

std::vector<std::string> split_plus(std::string_view id) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t plus = id.find('+', start);
    parts.emplace_back(id.substr(start, plus == std::string_view::npos ? std::string_view::npos : plus - start));
    if (plus == std::string_view::npos) break;
    start = plus + 1;
  }
  return parts;
}

// The MethodInfo of "a+b": parameters of every part; a name two parts declare is given as "part.name".
const MethodInfo& composite_info(std::string_view id) {
  static std::map<std::string, MethodInfo, std::less<>> composites;
  auto it = composites.find(id);
  if (it != composites.end()) return it->second;
  std::vector<const MethodInfo*> parts;
  for (const std::string& name : split_plus(id)) {
    KVB_CHECK(!name.empty(), "method '{}': empty part in a composite id", id);
    parts.push_back(&find_method(name));
  }
  MethodInfo info;
  info.id = std::string(id);
  info.version = 0;
  std::map<std::string, int> count;
  for (const MethodInfo* p : parts)
    for (const auto& ps : p->params) ++count[ps.name];
  for (size_t i = 0; i < parts.size(); ++i) {
    info.version = info.version * 100 + parts[i]->version;
    info.paper += (i ? " + " : "") + parts[i]->paper;
    info.parts += (i ? " | " : "") + parts[i]->id + ": " + parts[i]->parts;
    for (auto ps : parts[i]->params) {
      if (count[ps.name] > 1) ps.name = parts[i]->id + "." + ps.name;
      info.params.push_back(ps);
    }
  }
  info.make = [parts](const MethodContext& ctx) -> std::unique_ptr<Method> {
    std::vector<std::unique_ptr<Method>> made;
    for (const MethodInfo* p : parts) {
      MethodContext sub = ctx;
      sub.params = Params{};
      sub.composite_part = true;
      for (const auto& ps : p->params) {
        const std::string prefixed = p->id + "." + ps.name;
        sub.params.set(ps.name, ctx.params.has(prefixed) ? ctx.params.get_string(prefixed)
                                                         : ctx.params.get_string(ps.name, ps.default_value));
      }
      made.push_back(p->make(sub));
    }
    // A codec packs entries for good (kivi_codec.h); decode-time eviction would have to drop them.
    std::string evicting, codec;
    for (size_t i = 0; i < made.size(); ++i) {
      if (made[i]->decode_hooks() && evicting.empty()) evicting = parts[i]->id;
      if (made[i]->has_codec() && codec.empty()) codec = parts[i]->id;
    }
    KVB_CHECK(evicting.empty() || codec.empty(),
              "method '{}': '{}' evicts entries during decoding, but '{}' packs older entries with a codec and "
              "packed entries cannot be evicted; combine the codec with a prefill-time method", ctx_id(parts),
              evicting, codec);
    return std::make_unique<CompositeMethod>(std::move(made));
  };
  return composites.emplace(std::string(id), std::move(info)).first->second;
}

}  // namespace

const MethodInfo& find_method(std::string_view id) {
  auto it = registry().find(id);
  if (it != registry().end()) return it->second;
  if (id.find('+') != std::string_view::npos) return composite_info(id);
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

std::unique_ptr<Method> make_method(const MethodSpec& spec, const ModelConfig& config, Transformer* model) {
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
  ctx.model = model;
  return info.make(ctx);
}

}  // namespace kvb
