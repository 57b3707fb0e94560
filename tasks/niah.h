// Shared needle-in-a-haystack case builder for niah_single / multikey / multivalue / multiquery /
// grid, following RULER's niah generator structure (keys -> values, noise | essay | needle haystack).
// Each task file registers its own defaults; exercised by tests/test_tasks.cpp.
#pragma once
#include <string>
#include <vector>

#include "eval/task.h"

namespace kvb::tasks {

struct NiahConfig {
  std::string task;                  // task id, for case ids and errors
  std::string haystack = "essay";    // noise | essay | needle (distractor needles only) | dir
  std::string haystack_dir;          // haystack=dir: the *.txt corpus directory (--haystack-dir)
  std::string key_type = "word";     // word (adjective-noun) | uuid
  std::string value_type = "number"; // number (7 digits) | word | uuid
  int num_keys = 1;                  // needles with distinct keys (raised to num_queries)
  int num_values = 1;                // values per key
  int num_queries = 1;               // keys asked about (per question)
  int questions = 1;                 // questions_per_context: questions asked of one context, each
                                     // about its own num_queries keys (num_keys raised to cover them)
  std::string depth = "random";      // "random" (RULER: 40 evenly spaced depths) or a percent 0..100
  int length = 4096;                 // target tokens: prompt + max_new_tokens
  int max_new_tokens = 128;
  int num_samples = 1;
  std::string word_source = "auto";  // for word values: auto | system | generated
  // form=symbolic: token ids for the recall oracle (tasks/niah_symbolic.cpp), ids laid out as in
  // harness/model/oracle.h for a vocabulary of vocab_size.
  std::string form = "text";         // text | symbolic
  int vocab_size = 8192;
};

// Reads every NIAH key the params declare (the rest keep NiahConfig's defaults) and validates them.
NiahConfig niah_config(const std::string& task, const TaskParams& p);

// Parameter specs shared by the NIAH tasks; `defaults` overrides the listed defaults by name, and
// only the names in `keys` are declared.
std::vector<ParamSpec> niah_params(const std::vector<std::string>& keys,
                                   const std::vector<std::pair<std::string, std::string>>& defaults);

// One length-fitted case. `depths`: one percent per needle, or empty to follow cfg.depth.
Case make_niah_case(const NiahConfig& cfg, uint64_t seed, uint64_t index, const std::string& id,
                    const std::vector<double>& depths, const TaskEnv& env);

// The symbolic form of make_niah_case (called by it when cfg.form == "symbolic"): input_ids
// "<s> filler.. KEY V1..Vm filler.. <sep> KEY V1..Vm" of exactly cfg.length tokens, labels on the
// teacher-forced answer positions, top-k label sets for multi-value keys (meta.extra).
Case make_symbolic_niah_case(const NiahConfig& cfg, uint64_t seed, uint64_t index, const std::string& id,
                             const std::vector<double>& depths);

// The cases of one context: make_niah_case's context asked cfg.questions questions (question j about
// keys [j * num_queries, (j + 1) * num_queries)), as cases_for_questions links them; one question:
// { make_niah_case(...) }.
std::vector<Case> make_niah_cases(const NiahConfig& cfg, uint64_t seed, uint64_t index, const std::string& id,
                                  const std::vector<double>& depths, const TaskEnv& env);

// cfg.num_samples contexts (cfg.questions cases each) with ids "<task>/<seed>/<i>".
std::vector<Case> generate_niah(const NiahConfig& cfg, uint64_t seed, const TaskEnv& env);

}  // namespace kvb::tasks
