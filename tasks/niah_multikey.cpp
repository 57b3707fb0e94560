// niah_multikey: one queried needle among num_keys needles with other keys, as RULER's
// niah_multikey_1 (essay, 4 keys); haystack=needle gives multikey_2/3 (a haystack of distractor needles).
// Try: kvbench show-case niah_multikey --param haystack=needle --model PATH; tests/test_tasks.cpp.
#include "tasks/niah.h"

namespace kvb::tasks {
namespace {

KVB_REGISTER_TASK(niah_multikey, 1, "RULER-style multi-key needles: distractor keys, one query", "string_match_all",
                  niah_params({"length", "num_samples", "max_new_tokens", "haystack", "key_type", "value_type",
                               "num_keys", "depth", "word_source", "questions_per_context"},
                              {{"num_keys", "4"}}),
                  [](const TaskParams& p, uint64_t seed, const TaskEnv& env) {
                    return generate_niah(niah_config("niah_multikey", p), seed, env);
                  });

}  // namespace
}  // namespace kvb::tasks
