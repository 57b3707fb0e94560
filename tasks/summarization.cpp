// summarization: a long synthetic report about a fictional organization with num_facts key facts in
// filler narrative (LongBench-style summarization, offline); reference summary scored by ROUGE-L F1,
// plus rouge1 / rouge2 / key_fact_recall as Case::extra_scorers. Try: kvbench show-case summarization.
#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "datasets/fact_documents.h"
#include "core/random.h"
#include "eval/prompt.h"
#include "eval/task.h"
#include "tasks/haystack.h"

namespace kvb::tasks {
namespace {

std::vector<Case> generate_summarization(const TaskParams& p, uint64_t seed, const TaskEnv& env) {
  const int length = int(p.get_int("length")), samples = int(p.get_int("num_samples"));
  const int max_new = int(p.get_int("max_new_tokens")), num_facts = int(p.get_int("num_facts"));
  const std::string kind = p.get_string("haystack"), dir = p.get_string("haystack_dir");
  KVB_CHECK(num_facts >= 1 && num_facts <= datasets::kReportFactKinds, "task summarization: num_facts must be in "
            "1..{}, got {}", datasets::kReportFactKinds, num_facts);
  KVB_CHECK(samples >= 0 && max_new >= 1, "task summarization: num_samples >= 0 and max_new_tokens >= 1 required");
  make_haystack("summarization", kind, 0, dir);  // validates the kind

  std::vector<Case> out;
  for (int i = 0; i < samples; ++i) {
    Rng rng = Rng::derive(seed, uint64_t(i));
    const datasets::Organization org = datasets::make_organization(rng);
    std::vector<size_t> chosen = rng.sample_indices(org.facts.size(), size_t(num_facts));
    std::sort(chosen.begin(), chosen.end());  // chronological order
    std::vector<std::string> sentences, keys;
    std::string summary = fmt::format("The report describes {}, a {}.", org.name, org.kind);
    nlohmann::json facts = nlohmann::json::array();
    for (size_t k : chosen) {
      const auto& f = org.facts[k];
      sentences.push_back(f.report_sentence);
      keys.push_back(f.key);
      summary += " " + f.summary_sentence;
      facts.push_back({{"kind", f.kind}, {"key", f.key}});
    }
    const std::vector<double> depths = even_depths(sentences.size());
    auto stream = make_haystack("summarization", kind, rng.next(), dir);
    const std::string title = org.name.substr(4);  // without "the "
    const std::string head = fmt::format(
        "Below is a long report about {}. Read it carefully: afterwards you will be asked to summarize it.\n\n"
        "Report on the history of {}\n\n",
        org.name, title);
    const std::string id = fmt::format("summarization/{}/{}", seed, i);
    auto build = [&](int units) {
      Case c;
      c.id = id;
      Interleaved body = interleave(*stream, units, depths, sentences);
      c.context = head + body.text;
      for (int ch : body.item_chars) c.meta.needle_chars.push_back(int(head.size()) + ch);
      c.meta.depths = depths;
      c.question = "Write a short summary of the report above in a few sentences. Include its key facts: the "
                   "names, places, years and numbers that matter.";
      c.answer_prefix = "Summary:";
      c.answers = {summary};
      c.max_new_tokens = max_new;
      c.scorer = "rougeL";
      c.extra_scorers = {{"rouge1", {summary}}, {"rouge2", {summary}}, {"key_fact_recall", keys}};
      c.meta.extra = {{"organization", org.name}, {"haystack", kind}, {"key_facts", facts}, {"needles", sentences}};
      return c;
    };
    out.push_back(fit_to_length(build, length, env, fmt::format("task summarization case {}", id)));
  }
  return out;
}

KVB_REGISTER_TASK(summarization, 1,
                  "Synthetic report summarization: key facts in filler narrative; ROUGE-L (+ROUGE-1/2, key-fact recall)",
                  "rougeL",
                  std::vector<ParamSpec>{
                      {"length", "4096", "target tokens: prompt (chat template applied) + max_new_tokens"},
                      {"num_samples", "100", "cases to generate"},
                      {"max_new_tokens", "256", "tokens the model may generate"},
                      {"num_facts", "8", "key facts in the report (1..12), spread evenly through it"},
                      {"haystack", "essay", "filler narrative: essay | noise | dir (the *.txt files under haystack_dir)"},
                      {"haystack_dir", "", "directory of *.txt files for haystack=dir"},
                  },
                  generate_summarization);

}  // namespace
}  // namespace kvb::tasks
