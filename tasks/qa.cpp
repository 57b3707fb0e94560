// qa: RULER-style question answering over many documents: the golden paragraph(s) of a question among
// distractors up to the target length. Sources: a user's SQuAD-v2 json or HotpotQA (distractor) json
// (file=PATH), or with no file our synthetic profiles of fictional people. Try: kvbench show-case qa.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "core/error.h"
#include "datasets/fact_documents.h"
#include "datasets/file_rows.h"
#include "core/random.h"
#include "datasets/text_sources.h"
#include "eval/prompt.h"
#include "eval/task.h"

namespace kvb::tasks {
namespace {

struct QaItem {
  std::string question;
  std::vector<std::string> answers;
  std::vector<size_t> gold;  // indices into QaSet::docs
  std::vector<size_t> more;  // the question's own distractors (HotpotQA), tried before the rest
  std::string ref;           // id in the file (or where it came from)
};

struct QaSet {
  std::string format;
  std::vector<std::string> docs;
  std::vector<QaItem> items;
};

// Index of `doc` in set.docs, appending it when new.
size_t intern_doc(QaSet& set, std::map<std::string, size_t>& index, const std::string& doc) {
  auto [it, inserted] = index.emplace(doc, set.docs.size());
  if (inserted) set.docs.push_back(doc);
  return it->second;
}

// SQuAD v2: {"data": [{"paragraphs": [{"context", "qas": [{"question", "answers": [{"text"}],
// "is_impossible"}]}]}]}; unanswerable questions are skipped (RULER uses answerable ones).
QaSet load_squad(const nlohmann::json& j, const std::string& path) {
  QaSet set;
  set.format = "squad";
  std::map<std::string, size_t> index;
  KVB_CHECK(j.is_object() && j.contains("data") && j["data"].is_array(), "{}: SQuAD: expected an object with a "
            "\"data\" list", path);
  for (size_t a = 0; a < j["data"].size(); ++a) {
    const auto& art = j["data"][a];
    KVB_CHECK(art.is_object() && art.contains("paragraphs") && art["paragraphs"].is_array(),
              "{}: SQuAD: data[{}] has no \"paragraphs\" list", path, a);
    for (size_t pi = 0; pi < art["paragraphs"].size(); ++pi) {
      const auto& para = art["paragraphs"][pi];
      const std::string where = fmt::format("{}: SQuAD: data[{}].paragraphs[{}]", path, a, pi);
      KVB_CHECK(para.is_object() && para.contains("context") && para["context"].is_string(),
                "{}: \"context\" is missing or not a string", where);
      const size_t doc = intern_doc(set, index, para["context"].get<std::string>());
      if (!para.contains("qas")) continue;
      KVB_CHECK(para["qas"].is_array(), "{}: \"qas\" is not a list", where);
      for (size_t qi = 0; qi < para["qas"].size(); ++qi) {
        const auto& qa = para["qas"][qi];
        KVB_CHECK(qa.is_object() && qa.contains("question") && qa["question"].is_string(),
                  "{}.qas[{}]: \"question\" is missing or not a string", where, qi);
        if (qa.value("is_impossible", false)) continue;
        QaItem item;
        item.question = qa["question"].get<std::string>();
        item.ref = qa.contains("id") && qa["id"].is_string() ? qa["id"].get<std::string>()
                                                              : fmt::format("data[{}].paragraphs[{}].qas[{}]", a, pi, qi);
        if (qa.contains("answers") && qa["answers"].is_array())
          for (const auto& ans : qa["answers"])
            if (ans.is_object() && ans.contains("text") && ans["text"].is_string()) {
              std::string t = ans["text"].get<std::string>();
              if (!t.empty() && std::find(item.answers.begin(), item.answers.end(), t) == item.answers.end())
                item.answers.push_back(t);
            }
        if (item.answers.empty()) continue;
        item.gold = {doc};
        set.items.push_back(std::move(item));
      }
    }
  }
  return set;
}

// HotpotQA (distractor setting): [{"_id", "question", "answer", "supporting_facts": [[title, i]],
// "context": [[title, [sentences]]]}]; gold = the paragraphs whose titles are supporting facts.
QaSet load_hotpot(const nlohmann::json& j, const std::string& path) {
  QaSet set;
  set.format = "hotpot";
  std::map<std::string, size_t> index;
  KVB_CHECK(j.is_array(), "{}: HotpotQA: expected a list of questions", path);
  for (size_t q = 0; q < j.size(); ++q) {
    const auto& row = j[q];
    const std::string where = fmt::format("{}: HotpotQA: item [{}]", path, q);
    KVB_CHECK(row.is_object(), "{}: not an object", where);
    for (const char* f : {"question", "answer"})
      KVB_CHECK(row.contains(f) && row[f].is_string(), "{}: \"{}\" is missing or not a string", where, f);
    KVB_CHECK(row.contains("context") && row["context"].is_array(), "{}: \"context\" is missing or not a list", where);
    KVB_CHECK(row.contains("supporting_facts") && row["supporting_facts"].is_array(),
              "{}: \"supporting_facts\" is missing or not a list", where);
    std::set<std::string> titles;
    for (const auto& sf : row["supporting_facts"])
      if (sf.is_array() && !sf.empty() && sf[0].is_string()) titles.insert(sf[0].get<std::string>());
    QaItem item;
    item.question = row["question"].get<std::string>();
    item.answers = {row["answer"].get<std::string>()};
    item.ref = row.contains("_id") && row["_id"].is_string() ? row["_id"].get<std::string>() : fmt::format("[{}]", q);
    for (size_t c = 0; c < row["context"].size(); ++c) {
      const auto& para = row["context"][c];
      KVB_CHECK(para.is_array() && para.size() == 2 && para[0].is_string() && para[1].is_array(),
                "{}: context[{}] must be [title, [sentences]]", where, c);
      std::string text = para[0].get<std::string>() + "\n";
      for (const auto& s : para[1]) {
        KVB_CHECK(s.is_string(), "{}: context[{}] holds a sentence that is not a string", where, c);
        text += s.get<std::string>();
      }
      const size_t doc = intern_doc(set, index, text);
      (titles.count(para[0].get<std::string>()) ? item.gold : item.more).push_back(doc);
    }
    KVB_CHECK(!item.gold.empty(), "{}: no context paragraph matches a supporting fact title", where);
    if (item.answers[0].empty()) continue;
    set.items.push_back(std::move(item));
  }
  return set;
}

QaSet load_qa_file(const std::string& path, const std::string& format) {
  const nlohmann::json j = datasets::read_json(path);
  std::string f = format;
  if (f == "auto") {
    if (j.is_object() && j.contains("data")) f = "squad";
    else if (j.is_array() && !j.empty() && j[0].is_object() && j[0].contains("supporting_facts")) f = "hotpot";
    else KVB_FAIL("{}: cannot tell the format (neither SQuAD's {{\"data\": ...}} nor a HotpotQA list); set format=", path);
  }
  QaSet set = f == "squad" ? load_squad(j, path) : load_hotpot(j, path);
  KVB_CHECK(!set.items.empty(), "{}: no answerable questions in the file", path);
  return set;
}

std::string render_docs(const std::vector<std::string>& docs, std::vector<int>* starts, size_t base,
                        const std::vector<bool>& is_gold) {
  std::string s;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i) s += "\n\n";
    if (is_gold[i] && starts) starts->push_back(int(base + s.size()));
    s += fmt::format("Document {}:\n{}", i + 1, docs[i]);
  }
  return s;
}

const char* kIntro =
    "Answer the question at the end using the documents below. Only one or two of them matter; the others are "
    "there to distract.\n\n";

std::string qa_question(const std::string& question) {
  return "Using only the documents above, answer the question with a short phrase and nothing else.\n\n"
         "Question: " + question;
}

// Builds the case for a question with `gold` documents placed at `depths` (percent) among the first
// `units` documents of `distractors`.
Case build_qa_case(const std::string& id, const std::string& question, const std::vector<std::string>& answers,
                   const std::vector<std::string>& gold, const std::vector<double>& depths,
                   const std::function<const std::string&(size_t)>& distractor, int units, int max_new,
                   const nlohmann::json& extra) {
  std::vector<std::string> docs;
  for (int u = 0; u < units; ++u) docs.push_back(distractor(size_t(u)));
  std::vector<bool> is_gold(docs.size(), false);
  // Insert from the deepest so earlier positions stay valid; positions are over the final list.
  std::vector<std::pair<size_t, size_t>> at;  // (position, gold index)
  for (size_t g = 0; g < gold.size(); ++g)
    at.push_back({size_t(std::llround(depths[g] / 100.0 * double(units))), g});
  std::sort(at.begin(), at.end());
  for (size_t k = 0; k < at.size(); ++k) {
    const size_t pos = std::min(at[k].first + k, docs.size());
    docs.insert(docs.begin() + std::ptrdiff_t(pos), gold[at[k].second]);
    is_gold.insert(is_gold.begin() + std::ptrdiff_t(pos), true);
  }
  Case c;
  c.id = id;
  c.context = kIntro;
  c.context += render_docs(docs, &c.meta.needle_chars, c.context.size(), is_gold);
  c.question = qa_question(question);
  c.answer_prefix = "Answer:";
  c.answers = answers;
  c.max_new_tokens = max_new;
  c.scorer = "string_match_part";
  for (size_t i = 0; i < docs.size(); ++i)
    if (is_gold[i]) c.meta.depths.push_back(docs.size() > 1 ? 100.0 * double(i) / double(docs.size() - 1) : 0.0);
  c.meta.extra = extra;
  c.meta.extra["num_docs"] = docs.size();
  return c;
}

// fit_to_length when the available documents overflow the target; otherwise every document.
Case fit_or_all(const CaseBuilder& build, int max_units, int length, const TaskEnv& env, const std::string& what) {
  if (max_units >= 0) {
    Case all = build(max_units);
    KVB_CHECK(env.tokenizer != nullptr, "{}: fitting to a token length needs a tokenizer", what);
    if (int(encode_prompt(all, env).size()) + all.max_new_tokens <= length) {
      all.meta.target_length = length;
      all.meta.haystack_units = max_units;
      annotate_tokens(all, env);
      return all;
    }
  }
  return fit_to_length(build, length, env, what);
}

std::vector<double> gold_depths(Rng& rng, size_t n) {
  std::vector<double> d;
  for (size_t i = 0; i < n; ++i) d.push_back(double(rng.below(101)));
  return d;
}

std::vector<Case> generate_qa(const TaskParams& p, uint64_t seed, const TaskEnv& env) {
  const int length = int(p.get_int("length")), samples = int(p.get_int("num_samples"));
  const int max_new = int(p.get_int("max_new_tokens"));
  const std::string file = p.get_string("file"), format = p.get_string("format");
  KVB_CHECK(format == "auto" || format == "squad" || format == "hotpot",
            "task qa: parameter format='{}' is not one of: auto, squad, hotpot", format);
  KVB_CHECK(samples >= 0 && max_new >= 1, "task qa: num_samples >= 0 and max_new_tokens >= 1 required");
  const int questions = questions_per_context("qa", p);
  KVB_CHECK(questions == 1 || file.empty(), "task qa: questions_per_context > 1 needs the synthetic documents (no "
            "file=): the golden profile is asked about several of its facts");
  std::vector<Case> out;

  if (file.empty()) {  // synthetic profiles of fictional people
    for (int i = 0; i < samples; ++i) {
      Rng rng = Rng::derive(seed, uint64_t(i));
      const std::string name = datasets::entity_name(rng);
      const datasets::Profile gold = datasets::make_profile(rng, name);
      // Multi-question mode: that many distinct facts of the golden profile, each a question.
      KVB_CHECK(size_t(questions) <= gold.facts.size(), "task qa: questions_per_context must be <= {} (the facts of "
                "a profile), got {}", gold.facts.size(), questions);
      std::vector<size_t> asked = questions == 1 ? std::vector<size_t>{size_t(rng.below(gold.facts.size()))}
                                                 : rng.sample_indices(gold.facts.size(), size_t(questions));
      std::vector<Question> qs;
      for (size_t k : asked)
        qs.push_back(Question{qa_question(gold.facts[k].question), "Answer:", {gold.facts[k].answer},
                              {{"attribute", gold.facts[k].attribute}}});
      const datasets::ProfileFact& fact = gold.facts[asked[longest_question(qs, env)]];
      const std::vector<double> depths = gold_depths(rng, 1);
      auto drng = std::make_shared<Rng>(rng.next());
      auto names = std::make_shared<std::set<std::string>>(std::set<std::string>{name});
      auto stream = std::make_shared<datasets::UnitStream>([drng, names](size_t) {
        std::string n;
        do n = datasets::entity_name(*drng); while (!names->insert(n).second);
        return datasets::make_profile(*drng, n).document;
      });
      const std::string id = fmt::format("qa/{}/{}", seed, i);
      const nlohmann::json extra = {{"source", "synthetic"}, {"entity", name}, {"attribute", fact.attribute}};
      auto build = [&](int units) {
        return build_qa_case(id, fact.question, {fact.answer}, {gold.document}, depths,
                             [&](size_t u) -> const std::string& { return stream->unit(u); }, units, max_new, extra);
      };
      Case base = fit_to_length(build, length, env, fmt::format("task qa case {}", id));
      if (questions == 1) {
        out.push_back(std::move(base));
        continue;
      }
      for (Case& c : cases_for_questions(base, qs, env)) out.push_back(std::move(c));
    }
    return out;
  }

  const QaSet set = load_qa_file(file, format);
  Rng order(seed);
  const std::vector<size_t> pick = order.sample_indices(set.items.size(), std::min(set.items.size(), size_t(samples)));
  for (size_t i = 0; i < pick.size(); ++i) {
    const QaItem& item = set.items[pick[i]];
    Rng rng = Rng::derive(seed, uint64_t(i));
    // Distractor order: the question's own distractors, then every other document shuffled.
    std::set<size_t> skip(item.gold.begin(), item.gold.end());
    std::vector<size_t> distract;
    for (size_t d : item.more)
      if (skip.insert(d).second) distract.push_back(d);
    std::vector<size_t> rest;
    for (size_t d = 0; d < set.docs.size(); ++d)
      if (!skip.count(d)) rest.push_back(d);
    rng.shuffle(rest);
    distract.insert(distract.end(), rest.begin(), rest.end());
    std::vector<std::string> gold;
    for (size_t g : item.gold) gold.push_back(set.docs[g]);
    const std::vector<double> depths = gold_depths(rng, gold.size());
    const std::string id = fmt::format("qa/{}/{}", seed, i);
    const nlohmann::json extra = {{"source", set.format}, {"question_id", item.ref}};
    auto build = [&](int units) {
      units = std::min(units, int(distract.size()));
      return build_qa_case(id, item.question, item.answers, gold, depths,
                           [&](size_t u) -> const std::string& { return set.docs[distract[u]]; }, units, max_new,
                           extra);
    };
    out.push_back(fit_or_all(build, int(distract.size()), length, env, fmt::format("task qa case {}", id)));
  }
  return out;
}

KVB_REGISTER_TASK(qa, 1, "RULER-style QA: golden document(s) among distractors (SQuAD v2 / HotpotQA file, or synthetic)",
                  "string_match_part",
                  std::vector<ParamSpec>{
                      {"length", "4096", "target tokens: prompt (chat template applied) + max_new_tokens"},
                      {"num_samples", "100", "cases to generate (a file gives at most one per answerable question)"},
                      {"max_new_tokens", "32", "tokens the model may generate"},
                      {"file", "", "SQuAD-v2 or HotpotQA json file; empty: synthetic documents about fictional people"},
                      {"format", "auto", "file format: auto | squad | hotpot"},
                      {"questions_per_context", "1", "questions asked of one context (synthetic documents: distinct "
                                                     "facts of the golden profile; rows linked by context_id)"},
                  },
                  generate_qa);

}  // namespace
}  // namespace kvb::tasks
