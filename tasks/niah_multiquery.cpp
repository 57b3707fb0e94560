// niah_multiquery: num_queries keys asked at once, the answer is every queried value (RULER's
// niah_multiquery, essay haystack, 4 queries). Try: kvbench show-case niah_multiquery --model PATH;
// tests/test_tasks.cpp.
#include "tasks/niah.h"

namespace kvb::tasks {
namespace {

KVB_REGISTER_TASK(niah_multiquery, 1, "RULER-style multi-query needles: several keys asked together",
                  "string_match_all",
                  niah_params({"length", "num_samples", "max_new_tokens", "haystack", "key_type", "value_type",
                               "num_queries", "depth", "word_source", "questions_per_context"},
                              {{"num_queries", "4"}}),
                  [](const TaskParams& p, uint64_t seed, const TaskEnv& env) {
                    return generate_niah(niah_config("niah_multiquery", p), seed, env);
                  });

}  // namespace
}  // namespace kvb::tasks
