// Symbolic form of the NIAH tasks (param form=symbolic) for the recall oracle (harness/model/oracle.h,
// docs/oracle.md): "<s> filler.. KEY V1..Vm filler.. <sep> KEY V1..Vm" as token ids with labels,
// keys / values / filler from disjoint id ranges. Try: kvbench show-case niah_single --param form=symbolic.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "core/random.h"
#include "model/oracle.h"
#include "tasks/niah.h"

namespace kvb::tasks {

namespace {

// Tokens per value: word -> 1, number -> 2, uuid -> 4 (multi-token values are retrieved as a chain).
int value_tokens(const std::string& value_type) {
  if (value_type == "word") return 1;
  if (value_type == "number") return 2;
  return 4;
}

}  // namespace

Case make_symbolic_niah_case(const NiahConfig& cfg, uint64_t seed, uint64_t index, const std::string& id,
                             const std::vector<double>& fixed_depths) {
  using namespace oracle_vocab;
  const int V = cfg.vocab_size;
  KVB_CHECK(V >= 64, "task {}: form=symbolic needs vocab_size >= 64, got {}", cfg.task, V);
  // Id ranges: keys [k0, v0), values [v0, f0), filler [f0, V).
  const int32_t words = V - kFirstWord;
  const int32_t k0 = kFirstWord, v0 = k0 + words / 4, f0 = k0 + words / 2;
  const int m = value_tokens(cfg.value_type);
  const int n_keys = cfg.num_keys, n_vals = cfg.num_values;
  KVB_CHECK(n_keys <= v0 - k0, "task {}: {} keys do not fit in the {} key ids of vocab_size {}", cfg.task, n_keys,
            v0 - k0, V);
  KVB_CHECK(int64_t(n_keys) * n_vals * m <= f0 - v0, "task {}: {} value tokens do not fit in the {} value ids of vocab_size {}",
            cfg.task, int64_t(n_keys) * n_vals * m, f0 - v0, V);

  Rng rng = Rng::derive(seed, index ^ 0x73796d626f6c6963ull);  // "symbolic"
  std::vector<int32_t> keys;
  for (size_t i : rng.sample_indices(size_t(v0 - k0), size_t(n_keys))) keys.push_back(int32_t(k0 + int32_t(i)));
  std::vector<size_t> vpick = rng.sample_indices(size_t(f0 - v0), size_t(n_keys * n_vals * m));
  // values[k][r] = the m tokens of key k's r-th value.
  std::vector<std::vector<std::vector<int32_t>>> values(static_cast<size_t>(n_keys),
                                                          std::vector<std::vector<int32_t>>(static_cast<size_t>(n_vals)));
  size_t next = 0;
  for (auto& vs : values)
    for (auto& v : vs)
      for (int t = 0; t < m; ++t) v.push_back(int32_t(v0 + int32_t(vpick[next++])));
  std::vector<std::vector<int32_t>> needles;
  for (int k = 0; k < n_keys; ++k)
    for (int r = 0; r < n_vals; ++r) {
      std::vector<int32_t> nd = {keys[size_t(k)]};
      nd.insert(nd.end(), values[size_t(k)][size_t(r)].begin(), values[size_t(k)][size_t(r)].end());
      needles.push_back(nd);
    }
  rng.shuffle(needles);

  std::vector<double> depths = fixed_depths;
  if (depths.empty()) {
    if (cfg.depth == "random") {
      const size_t n = needles.size();
      std::vector<size_t> picks = rng.sample_indices(40, std::min<size_t>(n, 40));
      while (picks.size() < n) picks.push_back(rng.below(40));
      for (size_t i : picks) depths.push_back(100.0 * double(i) / 39.0);
    } else {
      depths.assign(needles.size(), TaskParams{{"depth", cfg.depth}}.get_double("depth"));
    }
  }
  KVB_CHECK(depths.size() == needles.size(), "task {}: {} depths for {} needles", cfg.task, depths.size(),
            needles.size());
  std::sort(depths.begin(), depths.end());

  // Question: per queried key (and per value of a multi-value key) "<sep> KEY V1..Vm", teacher-forced.
  std::vector<int32_t> question;
  std::vector<std::pair<size_t, int32_t>> qlabels;                 // (offset in question, next id)
  std::vector<std::pair<size_t, std::vector<int32_t>>> qsets;      // (offset, top-k label set)
  std::vector<std::string> answers;
  for (int k = 0; k < cfg.num_queries; ++k) {
    for (int r = 0; r < n_vals; ++r) {
      const auto& val = values[size_t(k)][size_t(r)];
      question.push_back(kSep);
      question.push_back(keys[size_t(k)]);
      if (n_vals == 1) {
        qlabels.push_back({question.size() - 1, val[0]});
      } else if (r == 0) {
        std::vector<int32_t> set;
        for (const auto& v : values[size_t(k)]) set.push_back(v[0]);
        qsets.push_back({question.size() - 1, set});
      }
      for (int t = 0; t < m; ++t) {
        question.push_back(val[size_t(t)]);
        if (t + 1 < m) qlabels.push_back({question.size() - 1, val[size_t(t + 1)]});
      }
      std::string words;
      for (int32_t x : val) words += (words.empty() ? "" : " ") + oracle_word(x);
      answers.push_back(words);
    }
  }

  int64_t needle_tokens = 0;
  for (const auto& nd : needles) needle_tokens += int64_t(nd.size());
  const int64_t filler = int64_t(cfg.length) - 1 - needle_tokens - int64_t(question.size());
  KVB_CHECK(filler >= 0, "task {} case {}: length {} is too short for {} needle and {} question tokens", cfg.task, id,
            cfg.length, needle_tokens, question.size());

  // Haystack: random filler words, or (haystack=needle) distractor needles with fresh keys and values.
  std::set<int32_t> used_keys(keys.begin(), keys.end());
  std::set<int32_t> used_values;
  for (const auto& vs : values)
    for (const auto& v : vs) used_values.insert(v.begin(), v.end());
  std::vector<int32_t> hay;
  hay.reserve(size_t(filler));
  while (int64_t(hay.size()) < filler) {
    if (cfg.haystack == "needle") {
      int32_t k;
      do k = int32_t(k0 + int32_t(rng.below(uint64_t(v0 - k0)))); while (used_keys.count(k));
      hay.push_back(k);
      for (int t = 0; t < m && int64_t(hay.size()) < filler; ++t) {
        int32_t v;
        do v = int32_t(v0 + int32_t(rng.below(uint64_t(f0 - v0)))); while (used_values.count(v));
        hay.push_back(v);
      }
    } else {
      hay.push_back(int32_t(f0 + int32_t(rng.below(uint64_t(V - f0)))));
    }
  }

  Case c;
  c.id = id;
  c.scorer = "string_match_all";
  c.max_new_tokens = m;
  c.answers = answers;
  c.meta.depths = depths;
  c.input_ids.push_back(kBos);
  size_t next_needle = 0;
  for (int64_t u = 0; u <= filler; ++u) {
    while (next_needle < needles.size() &&
           int64_t(std::llround(depths[next_needle] / 100.0 * double(filler))) <= u) {
      c.meta.needle_tokens.push_back(int(c.input_ids.size()));
      const auto& nd = needles[next_needle++];
      c.input_ids.insert(c.input_ids.end(), nd.begin(), nd.end());
    }
    if (u < filler) c.input_ids.push_back(hay[size_t(u)]);
  }
  const size_t context_tokens = c.input_ids.size();
  c.input_ids.insert(c.input_ids.end(), question.begin(), question.end());
  c.labels.assign(c.input_ids.size(), -100);
  for (auto& [off, y] : qlabels) c.labels[context_tokens + off] = y;
  nlohmann::json sets = nlohmann::json::array();
  for (auto& [off, set] : qsets) sets.push_back({{"position", context_tokens + off}, {"ids", set}});
  c.meta.token_length = int(c.input_ids.size());
  c.meta.haystack_units = int(filler);
  nlohmann::json jvalues = nlohmann::json::array();
  for (const auto& vs : values) jvalues.push_back(vs);
  c.meta.extra = {{"form", "symbolic"},   {"vocab_size", V},          {"haystack", cfg.haystack},
                  {"keys", keys},         {"values", jvalues},         {"queried_keys", cfg.num_queries},
                  {"label_sets", sets},   {"context_tokens", context_tokens}, {"value_tokens", m},
                  {"id_ranges", {{"keys", {k0, v0}}, {"values", {v0, f0}}, {"filler", {f0, V}}}}};
  return c;
}

}  // namespace kvb::tasks
