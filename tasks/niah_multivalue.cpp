// niah_multivalue: one key with num_values values, each in its own needle; the answer is all of
// them (RULER's niah_multivalue, essay haystack, 4 values). Try: kvbench show-case niah_multivalue
// --model PATH; tests/test_tasks.cpp.
#include "tasks/niah.h"

namespace kvb::tasks {
namespace {

KVB_REGISTER_TASK(niah_multivalue, 1, "RULER-style multi-value needles: one key, several values",
                  "string_match_all",
                  niah_params({"length", "num_samples", "max_new_tokens", "haystack", "key_type", "value_type",
                               "num_values", "depth", "word_source", "questions_per_context"},
                              {{"num_values", "4"}}),
                  [](const TaskParams& p, uint64_t seed, const TaskEnv& env) {
                    return generate_niah(niah_config("niah_multivalue", p), seed, env);
                  });

}  // namespace
}  // namespace kvb::tasks
