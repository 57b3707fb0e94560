// Method registry and spec checking (see method.h). Methods register from methods/*.cpp with
// KVB_REGISTER_METHOD; tests/test_methods_contract.cpp runs over every registered id.
#include "kv/method.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

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

bool takes_token_budget(Budget b) {
  return b != Budget::StreamingHeadFraction && b != Budget::KeyChannelsPruned && b != Budget::LazyLayers;
}

std::string_view budget_name(Budget b) {
  switch (b) {
    case Budget::None: return "none";
    case Budget::Uniform: return "uniform";
    case Budget::PerLayer: return "per-layer";
    case Budget::HeadAdaptive: return "head-adaptive";
    case Budget::WholeOrRecent: return "whole-or-recent per head";
    case Budget::StreamingHeadFraction: return "streaming-head fraction";
    case Budget::KeyChannelsPruned: return "key channels pruned";
    case Budget::ReadsPerStep: return "entries read per decode step";
    case Budget::Chunked: return "chunk-wise (equal in every head)";
    case Budget::LazyLayers: return "whole or sink + recent per layer";
    case Budget::PrefillAttended: return "entries each prefill query attends";
  }
  return "?";
}

bool MethodRoles::evicts_during_decode(const Params& resolved) const {
  if (!evicts) return false;
  if (schedule == Schedule::ByScheduleParam) return resolved.get_string("schedule", "prefill") == "decode";
  return schedule == Schedule::Decode;
}

std::string describe_roles(const MethodRoles& r) {
  std::vector<std::string> roles;
  if (r.evicts)
    roles.push_back(r.schedule == Schedule::Prefill  ? "evicts at prefill"
                    : r.schedule == Schedule::Decode ? "evicts during decoding"
                                                     : "evicts at prefill (and during decoding with schedule=decode)");
  if (r.selects) roles.push_back("selects reads per decode step");
  if (r.codec) roles.push_back("encodes the cache");
  if (r.prunes_key_channels) roles.push_back("prunes key channels");
  if (r.compensates) roles.push_back("appends a compensation entry");
  if (r.changes_prefill) roles.push_back("changes the prefill (never shares one)");
  if (roles.empty()) roles.push_back("keeps the cache as is");
  return fmt::format("{}; budget: {}", fmt::join(roles, ", "), budget_name(r.budget));
}

PrefillNeeds union_of_needs(std::span<const PrefillNeeds> needs) {
  PrefillNeeds n;
  for (const PrefillNeeds& q : needs) {
    n.window = std::max(n.window, q.window);
    n.attention_mass |= q.attention_mass;
    if (q.query_stats_from >= 0)
      n.query_stats_from = n.query_stats_from < 0 ? q.query_stats_from : std::min(n.query_stats_from, q.query_stats_from);
    n.query_covariance |= q.query_covariance;
    n.token_surprisal |= q.token_surprisal;
  }
  return n;
}

Scorer make_wrapped_scorer(const MethodContext& ctx) {
  KVB_CHECK(ctx.wrapped != nullptr && ctx.wrapped->make_scorer != nullptr, "a wrapper was built without its scorer");
  return ctx.wrapped->make_scorer(ctx);
}

namespace {

// The scorer method a wrapper's `scorer` parameter names (user value or default).
const MethodInfo* wrapped_scorer(const MethodInfo& info, const Params& user) {
  if (!info.wraps_scorer) return nullptr;
  std::string inner = user.get_string("scorer", "");
  for (const auto& p : info.params)
    if (p.name == "scorer" && inner.empty()) inner = p.default_value;
  const MethodInfo& scorer = find_method(inner);
  KVB_CHECK(scorer.make_scorer != nullptr, "method {}: '{}' is not a scorer method (scorers: {})", info.id, inner,
            fmt::join(scorer_ids(), ", "));
  return &scorer;
}

}  // namespace

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

// A composite "a+b" (e.g. snapkv+kivi) whose parts' roles composite_info has checked. Every call is
// forwarded to the parts; each role is played by the one part that declares it.
class CompositeMethod final : public Method {
 public:
  explicit CompositeMethod(std::vector<std::unique_ptr<Method>> parts) : parts_(std::move(parts)) {}
  PrefillNeeds prefill_needs() const override {
    std::vector<PrefillNeeds> needs;
    for (const auto& p : parts_) needs.push_back(p->prefill_needs());
    return union_of_needs(needs);
  }
  // Every part sees the prefill (a selector takes its read budget from it); one part at most
  // returns keep sets (composite_info).
  KeepSets compress_prefill(const LayerView& v) override {
    KeepSets keep;
    for (const auto& p : parts_) {
      KeepSets k = p->compress_prefill(v);
      if (!k.empty()) keep = std::move(k);
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
  ReadSelection select(int layer, const float* q, const KVCache& cache) override {
    return selector()->select(layer, q, cache);
  }
  PrefillPattern prefill_pattern(int layer, const float* q, int64_t n, const KVCache& cache) override {
    for (const auto& p : parts_) {
      PrefillPattern pp = p->prefill_pattern(layer, q, n, cache);
      if (!pp.dense()) return pp;
    }
    return {};
  }
  bool has_codec() const override {
    return std::any_of(parts_.begin(), parts_.end(), [](const auto& p) { return p->has_codec(); });
  }
  void encode(KVCache& cache) override {
    for (const auto& p : parts_) p->encode(cache);
  }
  const AttentionCalibration* attention_calibration(int layer) const override {
    for (const auto& p : parts_)
      if (const AttentionCalibration* c = p->attention_calibration(layer)) return c;
    return nullptr;
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

// The roles of "a+b": each role played by at most one part (a part twice is refused too); the
// budget is the evicting part's, else the selector's, else that of the part that takes one.
MethodRoles composite_roles(const std::string& id, const std::vector<const MethodInfo*>& parts) {
  MethodRoles r;
  std::map<std::string, std::string> by_role;  // role -> part
  auto claim = [&](bool plays, const char* role, const MethodInfo* p) {
    if (!plays) return;
    auto [it, fresh] = by_role.emplace(role, p->id);
    KVB_CHECK(fresh, "method '{}': two parts {} ('{}' and '{}'); combine one of them with parts playing other roles "
              "(a selector, a codec, channel pruning)", id, role, it->second, p->id);
  };
  std::set<std::string> seen;
  for (const MethodInfo* p : parts) {
    KVB_CHECK(seen.insert(p->id).second, "method '{}': '{}' appears twice", id, p->id);
    const MethodRoles& q = p->roles;
    claim(q.evicts && q.schedule != Schedule::Decode, "evict at prefill", p);  // h2o/tova evict at prefill either way
    claim(q.evicts && q.schedule == Schedule::Decode, "evict during decoding", p);
    claim(q.selects, "select reads", p);
    claim(q.codec, "encode the cache", p);
    claim(q.prunes_key_channels, "prune key channels", p);
    r.evicts |= q.evicts;
    r.selects |= q.selects;
    r.codec |= q.codec;
    r.prunes_key_channels |= q.prunes_key_channels;
    r.compensates |= q.compensates;
    r.changes_prefill |= q.changes_prefill;
    if (q.evicts && q.schedule != Schedule::Prefill && r.schedule != Schedule::Decode) r.schedule = q.schedule;
  }
  for (int pass = 0; pass < 3 && r.budget == Budget::None; ++pass)
    for (const MethodInfo* p : parts) {
      const MethodRoles& q = p->roles;
      if (r.budget == Budget::None && (pass == 0 ? q.evicts : pass == 1 ? q.selects : true)) r.budget = q.budget;
    }
  return r;
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
  info.roles = composite_roles(info.id, parts);
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
    std::string evicting, codec;
    for (const MethodInfo* p : parts) {
      // The part's own parameters (a wrapper's scorer takes its defaults).
      Params user;
      for (const auto& ps : p->params) {
        const std::string prefixed = p->id + "." + ps.name;
        user.set(ps.name, ctx.params.has(prefixed) ? ctx.params.get_string(prefixed)
                                                   : ctx.params.get_string(ps.name, ps.default_value));
      }
      MethodContext sub = ctx;
      sub.params = resolve_method_params(*p, user);
      sub.composite_part = true;
      sub.wrapped = wrapped_scorer(*p, user);
      if (p->roles.evicts_during_decode(sub.params)) {
        KVB_CHECK(evicting.empty(), "method '{}': two parts evict during decoding ('{}' and '{}')", ctx_id(parts),
                  evicting, p->id);
        evicting = p->id;
      }
      if (p->roles.codec && codec.empty()) codec = p->id;
      made.push_back(p->make(sub));
    }
    // A codec packs entries for good (kivi_codec.h); decode-time eviction would have to drop them.
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
  if (const MethodInfo* scorer = wrapped_scorer(info, user))
    for (const auto& p : scorer->params) declared.push_back(p);
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
  ctx.wrapped = wrapped_scorer(info, spec.params);
  KVB_CHECK(spec.token_budget == 0 || takes_token_budget(info.roles.budget),
            "method {}: its budget is {}: give --ratio, not a token budget", spec.id, budget_name(info.roles.budget));
  return info.make(ctx);
}

}  // namespace kvb
