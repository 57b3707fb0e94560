// niah_single: one needle (key -> value) in a noise or essay haystack, as RULER's niah_single_1/2/3
// (noise+number, essay+number, essay+uuid). Try: kvbench show-case niah_single --param haystack=essay
// --model /work/shared/models/smollm2-135m-hf; tests/test_tasks.cpp.
#include "tasks/niah.h"

namespace kvb::tasks {
namespace {

KVB_REGISTER_TASK(niah_single, 1, "RULER-style single needle: one key, one value, one query", "string_match_all",
                  niah_params({"length", "num_samples", "max_new_tokens", "haystack", "key_type", "value_type",
                               "depth", "word_source"},
                              {{"haystack", "noise"}}),
                  [](const TaskParams& p, uint64_t seed, const TaskEnv& env) {
                    return generate_niah(niah_config("niah_single", p), seed, env);
                  });

}  // namespace
}  // namespace kvb::tasks
