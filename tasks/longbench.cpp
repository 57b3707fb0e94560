// longbench: replays LongBench-format jsonl (input, context, answers, length) for gov_report, qmsum and
// multi_news with kvbench's own prompt wording, max_new_tokens 512, ROUGE-L; contexts longer than the
// target are cut in the middle by tokens (LongBench's rule). Try: kvbench eval --task longbench --param file=F.
#include <fmt/format.h>

#include <filesystem>

#include "core/error.h"
#include "datasets/file_rows.h"
#include "eval/prompt.h"
#include "eval/task.h"

namespace kvb::tasks {
namespace {

struct Wording {
  std::string intro, question, prefix;  // question may use {input}
};

Wording wording(const std::string& dataset) {
  if (dataset == "gov_report")
    return {"The text below is a report written by a government agency. Read it; you will be asked to summarize "
            "it.\n\nReport:\n",
            "Write a one-page summary of the report above.", "Summary:"};
  if (dataset == "qmsum")
    return {"The text below is the transcript of a meeting. Read it; you will be asked a question about it.\n\n"
            "Transcript:\n",
            "Answer the following query about the meeting above in one or more sentences.\n\nQuery: {input}",
            "Answer:"};
  return {"The text below collects several news articles about one story. Read them; you will be asked to "
          "summarize them.\n\nArticles:\n",
          "Write a one-page summary that covers all of the articles above.", "Summary:"};
}

// The row's dataset: the parameter, else the row's "dataset" field (LongBench-E "_e" suffix removed),
// else the file name.
std::string row_dataset(const std::string& param, const datasets::Row& row, const std::string& path) {
  static const char* const kKnown[] = {"gov_report", "qmsum", "multi_news"};
  std::string d = param;
  if (d == "auto" && row_has(row, "dataset") && row.value["dataset"].is_string()) {
    d = row.value["dataset"].get<std::string>();
    if (d.size() > 2 && d.compare(d.size() - 2, 2, "_e") == 0) d.resize(d.size() - 2);
  }
  if (d == "auto") {
    const std::string stem = std::filesystem::path(path).stem().string();
    for (const char* k : kKnown)
      if (stem.find(k) != std::string::npos) d = k;
  }
  KVB_CHECK(d != "auto", "{}:{}: cannot tell the dataset (no \"dataset\" field, file name names none); set "
            "dataset=gov_report|qmsum|multi_news", path, row.line);
  for (const char* k : kKnown)
    if (d == k) return d;
  KVB_FAIL("{}:{}: dataset '{}' is not one of: gov_report, qmsum, multi_news", path, row.line, d);
}

// Sets c.context = intro + document, keeping only the first and last halves of the document's tokens
// when the prompt + max_new_tokens would exceed `length` (LongBench cuts the middle; we cut the
// document only, so the instructions stay whole).
void fit_document(Case& c, const std::string& intro, const std::string& doc, int length, const TaskEnv& env) {
  c.context = intro + doc;
  auto over = [&] { return int(encode_prompt(c, env).size()) + c.max_new_tokens - length; };
  int excess = over();
  if (excess <= 0) return;
  const Tokenizer& tok = *env.tokenizer;
  const std::vector<int32_t> ids = tok.encode(doc, /*add_special=*/false);
  int budget = int(ids.size());
  for (int attempt = 0; attempt < 16 && excess > 0; ++attempt) {
    budget -= excess;
    KVB_CHECK(budget > 0, "case {}: target length {} leaves no room for the document (the instructions, the "
              "question and max_new_tokens {} alone nearly fill it)", c.id, length, c.max_new_tokens);
    const size_t head = size_t(budget / 2), tail = size_t(budget) - head;
    c.context = intro + tok.decode(std::span<const int32_t>(ids.data(), head), /*skip_special=*/false) +
                tok.decode(std::span<const int32_t>(ids.data() + ids.size() - tail, tail), false);
    excess = over();
  }
  KVB_CHECK(excess <= 0, "case {}: could not cut the document to fit target length {}", c.id, length);
  c.meta.extra["truncated"] = true;
  c.meta.extra["document_tokens"] = ids.size();
  c.meta.extra["document_tokens_kept"] = budget;
}

std::vector<Case> generate_longbench(const TaskParams& p, uint64_t seed, const TaskEnv& env) {
  (void)seed;  // rows are replayed in file order
  const std::string path = p.get_string("file"), dataset = p.get_string("dataset");
  const int length = int(p.get_int("length")), samples = int(p.get_int("num_samples"));
  const int max_new = int(p.get_int("max_new_tokens"));
  KVB_CHECK(max_new >= 1 && samples >= 0 && length >= 0, "task longbench: need max_new_tokens >= 1, num_samples "
            ">= 0 and length >= 0");
  KVB_CHECK(length == 0 || env.tokenizer, "task longbench: length={} needs a tokenizer (--model)", length);
  const std::vector<datasets::Row> rows = datasets::read_jsonl(path);
  std::vector<Case> out;
  for (size_t i = 0; i < rows.size() && (samples == 0 || int(i) < samples); ++i) {
    const datasets::Row& row = rows[i];
    const std::string ds = row_dataset(dataset, row, path);
    const Wording w = wording(ds);
    Case c;
    c.id = fmt::format("longbench/{}/{}", ds, i);
    const std::string context = datasets::row_string(row, path, "context");
    const std::string input = row_has(row, "input") ? datasets::row_string(row, path, "input") : "";
    KVB_CHECK(ds != "qmsum" || !input.empty(), "{}:{}: qmsum rows need a non-empty \"input\" (the query)", path,
              row.line);
    c.context = w.intro + context;
    c.question = fmt::format(fmt::runtime(w.question), fmt::arg("input", input));
    c.answer_prefix = w.prefix;
    c.answers = datasets::row_strings(row, path, "answers");
    c.max_new_tokens = max_new;
    c.scorer = "rougeL";
    c.extra_scorers = {{"rouge1", c.answers}, {"rouge2", c.answers}};
    c.meta.extra = {{"dataset", ds}, {"line", row.line}};
    if (row_has(row, "length") && row.value["length"].is_number_integer()) c.meta.extra["length"] = row.value["length"];
    if (row_has(row, "_id") && row.value["_id"].is_string()) c.meta.extra["row_id"] = row.value["_id"];
    if (length > 0) {
      fit_document(c, w.intro, context, length, env);
      c.meta.target_length = length;
    }
    annotate_tokens(c, env);
    out.push_back(std::move(c));
  }
  return out;
}

KVB_REGISTER_TASK(longbench, 1, "LongBench summarization rows (gov_report, qmsum, multi_news) from a jsonl file",
                  "rougeL",
                  std::vector<ParamSpec>{
                      {"file", "", "LongBench-format jsonl: input, context, answers, length (one row per line)"},
                      {"dataset", "auto", "gov_report | qmsum | multi_news | auto (the row's \"dataset\", else the file name)"},
                      {"length", "0", "target tokens (prompt + max_new_tokens); longer contexts are cut in the middle; 0: no cut"},
                      {"num_samples", "0", "rows to use from the start of the file (0: all)"},
                      {"max_new_tokens", "512", "tokens the model may generate (LongBench: 512)"},
                  },
                  generate_longbench);

}  // namespace
}  // namespace kvb::tasks
