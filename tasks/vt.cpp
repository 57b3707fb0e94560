// vt: variable tracking as RULER's variable_tracking: chains of "VAR NAME = value" lines (the first
// assigns a 5-digit number, each next one copies the previous variable) hidden in a haystack; answer =
// every variable of the first chain. Try: kvbench show-case vt --param num_hops=4 --model PATH.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/random.h"
#include "eval/prompt.h"
#include "eval/task.h"
#include "tasks/haystack.h"

namespace kvb::tasks {
namespace {

std::string var_name(Rng& rng) {
  std::string s;
  for (int i = 0; i < 5; ++i) s.push_back(char('A' + rng.below(26)));
  return s;
}

struct Chains {
  std::vector<std::vector<std::string>> names;  // per chain: hops + 1 variables
  std::vector<std::string> values;              // per chain: its 5-digit number
};

Chains make_chains(Rng& rng, int num_chains, int hops, std::set<std::string>& used) {
  Chains c;
  for (int k = 0; k < num_chains; ++k) {
    std::vector<std::string> names;
    while (int(names.size()) < hops + 1) {
      std::string n = var_name(rng);
      if (used.insert(n).second) names.push_back(n);
    }
    std::string v;
    do v = std::to_string(rng.range(10000, 99999)); while (!used.insert(v).second);
    c.names.push_back(std::move(names));
    c.values.push_back(std::move(v));
  }
  return c;
}

// The assignment lines in a random order that keeps each chain's own order.
std::vector<std::string> chain_lines(Rng& rng, const Chains& c) {
  std::vector<size_t> seq;
  for (size_t k = 0; k < c.names.size(); ++k) seq.insert(seq.end(), c.names[k].size(), k);
  rng.shuffle(seq);
  std::vector<size_t> next(c.names.size(), 0);
  std::vector<std::string> lines;
  for (size_t k : seq) {
    const size_t h = next[k]++;
    const auto& n = c.names[k];
    lines.push_back(h == 0 ? fmt::format("VAR {} = {}.", n[0], c.values[k])
                           : fmt::format("VAR {} = VAR {}.", n[h], n[h - 1]));
  }
  return lines;
}

std::string question_for(const std::string& value) {
  return fmt::format("Which variables in the text above end up holding the number {}? List every one of them.",
                     value);
}
std::string prefix_for(const std::string& value) {
  return fmt::format("The variables that hold the number {} are:", value);
}

std::vector<Case> generate_vt(const TaskParams& p, uint64_t seed, const TaskEnv& env) {
  const int length = int(p.get_int("length")), samples = int(p.get_int("num_samples"));
  const int max_new = int(p.get_int("max_new_tokens"));
  const int questions = questions_per_context("vt", p);
  // Multi-question mode: question j asks about chain j (num_chains raised to the questions).
  const int chains = std::max(int(p.get_int("num_chains")), questions), hops = int(p.get_int("num_hops"));
  const std::string kind = p.get_string("haystack"), dir = p.get_string("haystack_dir");
  KVB_CHECK(chains >= 1 && hops >= 1, "task vt: num_chains and num_hops must be >= 1");
  KVB_CHECK(chains * (hops + 1) <= 101, "task vt: num_chains * (num_hops + 1) must be <= 101, got {}",
            chains * (hops + 1));
  KVB_CHECK(samples >= 0 && max_new >= 1, "task vt: num_samples >= 0 and max_new_tokens >= 1 required");
  make_haystack("vt", kind, 0, dir);  // validates the kind before any case is built

  std::vector<Case> out;
  for (int i = 0; i < samples; ++i) {
    Rng rng = Rng::derive(seed, uint64_t(i));
    std::set<std::string> used;
    const Chains main = make_chains(rng, chains, hops, used);
    const Chains ex = make_chains(rng, 1, hops, used);
    const std::vector<std::string> lines = chain_lines(rng, main);
    std::vector<double> depths;
    for (size_t d : rng.sample_indices(101, lines.size())) depths.push_back(double(d));
    std::sort(depths.begin(), depths.end());
    auto stream = make_haystack("vt", kind, rng.next(), dir);

    // The worked example: the example chain inside a few noise sentences.
    auto ex_stream = datasets::noise_stream();
    const std::vector<std::string> ex_lines = chain_lines(rng, ex);
    std::vector<double> ex_depths;
    for (size_t j = 0; j < ex_lines.size(); ++j) ex_depths.push_back(100.0 * double(j) / double(ex_lines.size()));
    const std::string example = interleave(ex_stream, 2 * int(ex_lines.size()), ex_depths, ex_lines).text;
    const std::string head = fmt::format(
        "The text below contains lines that assign values to variables, written as VAR NAME = value, where the "
        "value is either a number or another variable. Keep track of every assignment: afterwards you will be "
        "asked which variables end up holding a given number.\n\nHere is a short example first.\n\n{}\n\n"
        "Question: {}\nAnswer: {} {}.\n\nNow the real text.\n\n",
        example, question_for(ex.values[0]), prefix_for(ex.values[0]), fmt::join(ex.names[0], ", "));

    const std::string id = fmt::format("vt/{}/{}", seed, i);
    std::vector<Question> qs;
    for (int j = 0; j < questions; ++j)
      qs.push_back(Question{question_for(main.values[size_t(j)]), prefix_for(main.values[size_t(j)]),
                            main.names[size_t(j)], {{"asked_chain", j}}});
    const Question& fit = qs[longest_question(qs, env)];
    auto build = [&](int units) {
      Case c;
      c.id = id;
      c.question = fit.question;
      c.answer_prefix = fit.answer_prefix;
      c.answers = fit.answers;
      c.max_new_tokens = max_new;
      c.scorer = "string_match_all";
      Interleaved hay = interleave(*stream, units, depths, lines);
      c.context = head + hay.text;
      for (int ch : hay.item_chars) c.meta.needle_chars.push_back(int(head.size()) + ch);
      c.meta.depths = depths;
      c.meta.extra = {{"haystack", kind}, {"chains", main.names}, {"values", main.values}, {"needles", lines}};
      return c;
    };
    Case base = fit_to_length(build, length, env, fmt::format("task vt case {}", id));
    if (questions == 1) {
      out.push_back(std::move(base));
      continue;
    }
    for (Case& c : cases_for_questions(base, qs, env)) out.push_back(std::move(c));
  }
  return out;
}

KVB_REGISTER_TASK(vt, 1, "RULER-style variable tracking: follow chains of variable assignments", "string_match_all",
                  std::vector<ParamSpec>{
                      {"length", "4096", "target tokens: prompt (chat template applied) + max_new_tokens"},
                      {"num_samples", "100", "cases to generate"},
                      {"max_new_tokens", "30", "tokens the model may generate"},
                      {"num_chains", "1", "chains of assignments (the first is asked about, the rest distract)"},
                      {"num_hops", "4", "assignments after the first in each chain (hops + 1 variables)"},
                      {"haystack", "noise", "noise | essay | dir (the *.txt files under haystack_dir)"},
                      {"haystack_dir", "", "directory of *.txt files for haystack=dir"},
                      {"questions_per_context", "1", "questions asked of one context, question j about chain j "
                                                     "(num_chains raised to it; rows linked by context_id)"},
                  },
                  generate_vt);

}  // namespace
}  // namespace kvb::tasks
