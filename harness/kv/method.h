// KV-compression methods: the spec a user gives (id, parameters, budget, mode), the runtime
// interface a method implements, and the registry. Methods decide, the KV cache applies
// (docs/architecture.md): a method returns keep sets / read sets, harness/eval/runner.cpp applies
// them with KVCache::keep. methods/README.md lists every method; `kvbench list methods`.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/params.h"
#include "kv/attention_calibration.h"
#include "kv/kv_cache.h"
#include "kv/prefill_pattern.h"
#include "kv/read_selection.h"
#include "model/config.h"

namespace kvb {
class Transformer;
}

namespace kvb {

// Which KV-compression method a case runs with.
struct MethodSpec {
  std::string id = "full";
  Params params;                  // method parameters; undeclared keys are rejected by the registry
  double compression_ratio = 0.0; // fraction of the context's KV entries removed (kvpress convention)
  int64_t token_budget = 0;       // > 0: tokens kept per KV head instead of a ratio
  bool query_aware = false;       // true: the question is prefilled before compression
  uint64_t seed = 0;              // for seeded methods (random)
};

// Per KV head, strictly increasing indices into that head's current entries. Empty outer vector:
// keep everything.
using KeepSets = std::vector<std::vector<int32_t>>;  // [Hkv][kept]

// What the runner must record while the compressed part is prefilled.
struct PrefillNeeds {
  int window = 0;               // queries of the last `window` prefilled tokens, per layer
  bool attention_mass = false;  // attention every cached entry received from all prefilled queries
  int query_stats_from = -1;    // >= 0: statistics of the pre-RoPE queries at positions >= this
  bool query_covariance = false;  // ... including their second moments
  // -log p(x_t | x_<t) of every token of the compressed part from the model's own LM-head logits
  // (seam (g), sirllm), kept as T floats: the [T, V] logits are never held.
  bool token_surprisal = false;
};

// The union of several methods' prefill needs (largest window, mass / token surprisal if any asks for it, the
// earliest query-statistics start), as a composite of them asks for it.
PrefillNeeds union_of_needs(std::span<const PrefillNeeds> needs);

// Running statistics of one layer's pre-RoPE queries (expected_attention), per query head.
struct QueryStats {
  int64_t n = 0;                // queries accumulated
  std::vector<double> sum;      // [Hq, D]
  std::vector<double> outer;    // [Hq, D, D] sum of q q^T (empty unless covariance was asked for)
};

// What a method sees of one layer right after the compressed prefill (or a decode step).
// Axes: L layers, Hq / Hkv heads, T cached entries of a head, W window, D head dim.
using Scores = std::vector<std::vector<float>>;  // [Hkv][T]
// Scores computed from one prefill, per (Scorer::memo_key, layer); kept by its PrefillRecorder.
struct ScoreMemo {
  std::map<std::pair<std::string, int>, Scores> scores;
};

struct LayerView {
  int layer = 0;
  const ModelConfig* config = nullptr;
  const KVCache* cache = nullptr;          // this layer's heads hold every entry (nothing dropped yet)
  const float* window_queries = nullptr;   // [W, Hq*D] post-RoPE queries of the last W tokens
  const int32_t* window_positions = nullptr;  // [W]
  int window = 0;                          // W (<= requested: fewer tokens may exist)
  const std::vector<std::vector<float>>* attn_mass = nullptr;  // [Hq][T] or null
  const QueryStats* query_stats = nullptr;  // when PrefillNeeds::query_stats_from >= 0
  int64_t n_context = 0;                   // tokens in the compressed part (T before compression)
  int64_t n_kept = 0;                      // the per-head budget the spec asks for (uniform)
  ScoreMemo* score_memo = nullptr;         // scores earlier rows of this prefill computed, or null
  // [T] -log p(x_t | x_<t) (nats) of the compressed part's tokens by row, NaN for t = 0 (nothing
  // predicts the first token); when PrefillNeeds::token_surprisal, else null.
  const std::vector<float>* token_surprisal = nullptr;
};

// Decode-time selection (quest, tokenselect, loki, ...): which entries a decode step reads,
// per KV head or per query head (kv/read_selection.h); the cache is untouched.

class Method {
 public:
  virtual ~Method() = default;
  virtual PrefillNeeds prefill_needs() const { return {}; }
  // After the compressed prefill: the entries each KV head of `v.layer` keeps.
  virtual KeepSets compress_prefill(const LayerView& v) { return {}; }
  // After compress_prefill (given its keep sets): per KV head, an optional summary entry the cache
  // appends for what was dropped (razor_attention). Empty: none.
  struct Compensation {
    bool present = false;
    std::vector<float> key, value;  // [D] each
    int32_t position = 0;
    float logit_bias = 0.0f;
  };
  virtual std::vector<Compensation> compensation(const LayerView& v, const KeepSets& keep) { return {}; }
  // After compress_prefill: per KV head, the key channels to zero (think); empty: none.
  virtual std::vector<std::vector<int32_t>> prune_key_channels(const LayerView& v) { return {}; }

  // Decode: called for every layer after each generated token's forward (`v.window_queries` is
  // that token's query row, `v.attn_mass` that step's attention when decode_wants_mass()).
  virtual bool decode_hooks() const { return false; }
  virtual bool decode_wants_mass() const { return false; }
  virtual KeepSets on_decode_step(const LayerView& v, int64_t step) { return {}; }

  // Selector: entries a decode step of `layer` reads given the step's queries q [Hq*D] (post-RoPE).
  // Called for every layer of every decode step, layers in order.
  virtual bool has_selector() const { return false; }
  virtual ReadSelection select(int layer, const float* q, const KVCache& cache) { return {}; }

  // Sparse prefill (seam (f), minference): while the compressed part is prefilled, before each
  // chunk's attention in `layer`, the entries each query head's rows attend (kv/prefill_pattern.h);
  // q is the chunk's [n, Hq*D] post-RoPE queries, `cache` holds the chunk's K/V already. Empty:
  // dense. Methods that return patterns declare MethodRoles::changes_prefill.
  virtual PrefillPattern prefill_pattern(int layer, const float* q, int64_t n, const KVCache& cache) { return {}; }
  // Attention modifier (act): the query heads of `layer` whose attention rows are recalibrated after
  // softmax in every forward pass of the case (prefill, question, decode); null: none.
  virtual const AttentionCalibration* attention_calibration(int layer) const { return nullptr; }

  // Codec: called once after compression; may re-encode the cache (kivi).
  virtual bool has_codec() const { return false; }
  virtual void encode(KVCache& cache) {}
};

struct MethodInfo;

// Everything a factory gets: resolved parameters, the budget, the model's shape, the seed.
struct MethodContext {
  Params params;                   // declared defaults overlaid with the user's values
  double compression_ratio = 0.0;
  int64_t token_budget = 0;
  uint64_t seed = 0;
  const ModelConfig* config = nullptr;
  bool composite_part = false;     // built as one part of "a+b" (the budget belongs to the evicting part)
  const MethodInfo* wrapped = nullptr;  // for wrappers (adakv, decoding): the scorer method they wrap
  Transformer* model = nullptr;    // the model, for methods that probe it (razor_attention); may be null
  // Tokens kept per head for a compressed part of n tokens: token_budget if set, else
  // max(1, int(n * (1 - ratio))) (kvpress's compute_n_kept), at most n.
  int64_t kept_for(int64_t n) const;
};

// A scorer: importance of every cached entry per KV head ([Hkv][T], higher = keep), plus what it
// needs recorded during prefill. Scorer methods also expose it so wrappers (adakv, decoding) can
// compose with any of them.
struct Scorer {
  PrefillNeeds needs;
  std::function<Scores(const LayerView&)> score;
  // Set by a scorer whose scores depend only on its parameters and the prefill, never on the budget:
  // its id and parameters ("snapkv window=64 kernel_size=5"). The rows of one shared prefill that run
  // it (several budgets, or wrappers of it) then score each layer once (LayerView::score_memo).
  std::string memo_key = {};
};

// What a method's budget (--ratio / --budget) means and how it shapes the kept entries.
enum class Budget {
  None,                 // no budget: keeps every entry (full, kivi's codec, decoding's own target_size)
  Uniform,              // n_kept entries in every (layer, KV head)
  PerLayer,             // one size per layer, equal across its heads (pyramidkv)
  HeadAdaptive,         // n_kept * Hkv per layer, split across heads by score (adakv)
  WholeOrRecent,        // a head keeps every entry or n_kept of them (razor_attention)
  StreamingHeadFraction,  // --ratio = fraction of heads reduced to sink + recent (duo_attention)
  KeyChannelsPruned,    // --ratio = fraction of key channels zeroed, entries all kept (think)
  ReadsPerStep,         // entries read per decode step; the cache keeps everything (quest)
  Chunked,              // the ratio applies chunk by chunk: every head keeps the same count (chunk, chunkkv)
  LazyLayers,           // a layer keeps everything or sink + recent, by its attention; the ratio's value is
                        // unused, ratio 0 compresses nothing (simlayerkv)
  PrefillAttended,      // entries each prefill query attends (sparse prefill); the cache keeps everything
                        // (minference)
};
// Whether the budget can be given as --budget N (entries) rather than only as --ratio (a method
// without a budget ignores both).
bool takes_token_budget(Budget b);
// "uniform", "per-layer", ... (as `kvbench list methods` prints it).
std::string_view budget_name(Budget b);

// When a method evicts: after the compressed prefill, during generation, or as its `schedule`
// parameter says (h2o, tova: prefill | decode).
enum class Schedule { Prefill, Decode, ByScheduleParam };

// The roles a method plays, declared with its registration: composition rules ("a+b") and the
// contract tests read these instead of probing method objects or listing ids.
struct MethodRoles {
  bool evicts = false;             // drops entries (at the time `schedule` says)
  Schedule schedule = Schedule::Prefill;
  bool selects = false;            // selector: each decode step reads a subset of the cache (quest)
  bool codec = false;              // re-encodes the kept entries after compression (kivi)
  bool prunes_key_channels = false;  // zeroes key channels after compression (think)
  bool compensates = false;        // appends a summary entry for what a head dropped (razor_attention)
  Budget budget = Budget::None;
  // The method changes the prefill itself (a sparse prefill pattern, compression inside chunked
  // prefill): its rows never start from a prefill shared with other methods (eval/sweep.cpp).
  bool changes_prefill = false;
  // True when, with these resolved parameters, entries are evicted during decoding.
  bool evicts_during_decode(const Params& resolved) const;
};

// "evicts at prefill; budget: uniform" (for `kvbench list methods`).
std::string describe_roles(const MethodRoles& r);

struct MethodParamSpec {
  std::string name;
  std::string default_value;
  std::string description;
};

struct MethodInfo {
  std::string id;
  int version = 1;                 // bump whenever the method's decisions change
  std::string paper;               // "Authors year, arXiv id"
  std::string parts;               // e.g. "scorer=window attention, budget=uniform, schedule=prefill"
  MethodRoles roles;
  std::vector<MethodParamSpec> params;
  std::function<std::unique_ptr<Method>(const MethodContext&)> make;
  // Set by scorer methods (snapkv, knorm, ...): the scorer alone, for wrappers.
  std::function<Scorer(const MethodContext&)> make_scorer = nullptr;
  // Wrappers (adakv, decoding) take a `scorer` parameter naming a scorer method and accept that
  // method's parameters too.
  bool wraps_scorer = false;
};

std::vector<const MethodInfo*> list_methods();                 // sorted by id
// kvb::Error with the nearest id. "a+b" (e.g. snapkv+kivi) composes registered methods by their
// roles: at most one part evicts at prefill, at most one during decoding, at most one selects, one
// codes and one prunes channels; decode-time eviction and a codec exclude each other (packed entries
// cannot be evicted). A parameter two parts declare is given as "part.name".
const MethodInfo& find_method(std::string_view id);
// Checks the spec (id, parameter names, ratio in [0,1), budget >= 0) and builds the method.
std::unique_ptr<Method> make_method(const MethodSpec& spec, const ModelConfig& config, Transformer* model = nullptr);
// The spec's parameters overlaid on the declared defaults (unknown key: kvb::Error). For wrappers,
// the wrapped scorer's parameters are declared too.
Params resolve_method_params(const MethodInfo& info, const Params& user);
// For wrappers: the wrapped scorer (ctx.wrapped, resolved from the `scorer` parameter when the
// method is built) made from the same context.
Scorer make_wrapped_scorer(const MethodContext& ctx);

void register_method(MethodInfo info);
struct MethodRegistration {
  explicit MethodRegistration(MethodInfo info) { register_method(std::move(info)); }
};

}  // namespace kvb

// KVB_REGISTER_METHOD(snapkv, version, "paper", "parts", MethodRoles{...}, {{"param", "default", "doc"}, ...}, factory)
#define KVB_REGISTER_METHOD(id, ...) \
  static ::kvb::MethodRegistration kvb_method_registration_##id(::kvb::MethodInfo{#id, __VA_ARGS__})
