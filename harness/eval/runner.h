// Runs task cases through the engine with a KV-compression method: the compressed part is prefilled,
// the method decides per layer what each KV head keeps and the cache applies it, then the question
// (query-agnostic mode) and greedy decoding follow, as kvpress's pipeline does. Exercised by
// `kvbench eval`, tests/test_eval.cpp, tests/test_method_contract.cpp, tests/test_kvpress_parity.cpp.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "eval/task.h"
#include "kv/compression_protocol.h"
#include "kv/method.h"
#include "engine/generate.h"
#include "engine/transformer.h"

namespace kvb {

struct CaseResult {
  std::string case_id;
  std::string prediction;
  double score = 0.0;             // 0..100
  std::vector<std::pair<std::string, double>> extra_scores;  // the case's secondary metrics (scorer id, 0..100)
  nlohmann::json score_detail;    // the scorer's per-case detail (needle_threading: per-hop 0/1); null: none
  std::vector<double> token_nll;  // perplexity cases: -log p of each scored continuation token (nats)
  int prompt_tokens = 0;
  int generated_tokens = 0;
  double prefill_seconds = 0.0;   // context + question prefill, method hooks included
  double method_seconds = 0.0;    // time inside the method's hooks (scoring, selection, compaction)
  double decode_seconds = 0.0;
  std::vector<double> decode_step_seconds;  // per generated token
  int64_t kept_tokens = 0;        // cached (layer, head, token) entries right after compression
  int64_t context_tokens = 0;     // tokens of the compressed part (context, or context + question)
  size_t kv_resident_bytes = 0;   // K/V bytes held right after compression
  size_t kv_nominal_bytes = 0;    // bytes an uncompressed fp32 cache would hold at that point
  size_t kv_peak_bytes = 0;       // largest resident K/V bytes seen during the case
  size_t shared_prefill_bytes = 0;  // the shared prefill this case started from (cache + recordings); 0: its own
  DecodeReadStats decode_reads;   // entries / K-V bytes attention read per decode step (kv/read_selection.h)
  // Sparse prefill (methods with MethodRoles::changes_prefill, e.g. minference): (layer, query head,
  // query, key) pairs of the compressed part's prefill attended, and the causal pairs (dense = equal).
  int64_t prefill_pairs_attended = 0, prefill_pairs_causal = 0;
};

// The compressed part of a prompt prefilled with full attention while a PrefillRecorder records
// what one or more methods need (kvpress's protocol: compression follows the prefill, so the
// prefill does not depend on the method). One of these can start every method of a sweep cell
// group on the same case: each copies the cache and reads the recordings for its own needs.
struct RecordedPrefill {
  KVCache cache;                              // every entry of the compressed part, [L][Hkv][T]
  Tensor logits;                              // [1, V] the last row (query-aware), else empty
  std::unique_ptr<PrefillRecorder> recorder;
  std::vector<int32_t> tokens;                // the compressed part
  double seconds = 0.0;                       // the forward pass
  size_t bytes() const;                       // cache + recordings
};
// pattern_source (optional): the method whose sparse prefill patterns the prefill follows
// (Method::prefill_pattern); null: dense. `calibrating`: the prefill runs with that method's attention
// calibration (act); null: none.
RecordedPrefill record_prefill(Transformer& model, std::vector<int32_t> compressed, std::span<const PrefillNeeds> needs,
                               bool want_logits, Method* pattern_source = nullptr, const Method* calibrating = nullptr);
// The tokens run_case compresses for `c` (its context, plus the question or, for a symbolic case,
// the question up to its first scored row, when query-aware).
std::vector<int32_t> compressed_part(const Case& c, const TaskEnv& env, const ModelConfig& config, bool query_aware);

// The compressed prefill of a prompt: the cache after the method has compressed it and the
// question (query-agnostic mode) has been prefilled on it, the logits of the last prompt token, and
// the method object (its decode hooks and selector still apply during generation). Fills the
// prefill / memory fields of `stats`.
struct CompressedPrefill {
  KVCache cache;
  Tensor logits;                  // [1, V]
  std::unique_ptr<Method> method;
};
// `shared` (optional): a RecordedPrefill of this compressed part whose recordings cover the method's
// needs; the cache is copied from it instead of prefilled again (same decisions, bit for bit).
CompressedPrefill prefill_with_method(Transformer& model, const MethodSpec& spec, std::span<const int32_t> context,
                                      std::span<const int32_t> question, int max_new_tokens, CaseResult& stats,
                                      const RecordedPrefill* shared = nullptr);
// Greedy decoding on a compressed prefill with the method's decode-time hooks; fills the decode
// fields of `stats` (record_generation).
GenerationResult generate_with_method(Transformer& model, CompressedPrefill& p, const Tokenizer& tok,
                                      GenerationOptions opt, CaseResult& stats);

// The decode fields of `r` from a generation on `cache`: tokens, times, text, the KV peak.
void record_generation(const GenerationResult& g, const KVCache& cache, CaseResult& r);
// r.score and r.extra_scores of r.prediction against the case's answers.
void score_case(const Case& c, CaseResult& r);

// `env.tokenizer` is required. Symbolic cases (input_ids set) are rejected with a clear error:
// they are meant for the built-in oracle model.
// `shared`: as for prefill_with_method (compressed_part(c, ..., method.query_aware) prefilled once).
CaseResult run_case(Transformer& model, const Case& c, const TaskEnv& env, const MethodSpec& method = {},
                    const RecordedPrefill* shared = nullptr);

// One case under several methods from one shared prefill, decoded together: each method compresses
// its copy of `shared` and prefills the question in turn, then every row's greedy decoding runs as one
// batch (generate_greedy_batch: one forward pass per step for all rows still generating). Row i is
// what run_case(model, c, env, methods[i], &shared) gives (same tokens, text, scores, kept entries and
// bytes), except that its decode timings are its share of the batched steps. A row that fails keeps
// its error and the others go on. Symbolic cases run one by one (they teacher-force, not decode).
struct BatchedRow {
  CaseResult result;
  std::string error;  // why this row failed; "" when it ran
};
std::vector<BatchedRow> run_case_batch(Transformer& model, const Case& c, const TaskEnv& env,
                                       std::span<const MethodSpec> methods, const RecordedPrefill& shared);


}  // namespace kvb
