// needle_threading: threads of key -> key chains through a haystack of distinct UUID key-value pairs,
// after Needle Threading (Roberts, Han, Albanie 2024, arXiv:2411.05000): a thread's value is again a key
// of the haystack, and the model follows it hop by hop. Single threads, several threads at once
// (multi) and branched threads (one key of the thread has several values). Scored per hop, exact match.
// form=text: a JSON object of UUIDs for LLMs; form=symbolic: token ids for builtin:oracle (docs/tasks.md).
// Try: kvbench show-case needle_threading --param thread_type=branched --model stories260K; tests/test_needle_threading.cpp.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

#include "core/error.h"
#include "core/random.h"
#include "datasets/text_sources.h"
#include "eval/prompt.h"
#include "eval/task.h"
#include "model/oracle.h"

namespace kvb::tasks {
namespace {

struct ThreadConfig {
  std::string type;       // single | multi | branched
  int thread_length = 0;  // hops from the start key to the final value
  int num_threads = 0;
  int branching = 0;      // branched: values of the fork key
  std::string direction;  // forward | backward | random: order of a thread's pairs in the context
  std::string form;       // text | symbolic
  int length = 0, num_samples = 0, max_new_tokens = 0, vocab_size = 0;
};

ThreadConfig thread_config(const TaskParams& p) {
  ThreadConfig c;
  c.type = p.get_string("thread_type");
  c.thread_length = int(p.get_int("thread_length"));
  c.num_threads = int(p.get_int("num_threads"));
  c.branching = int(p.get_int("branching"));
  c.direction = p.get_string("direction");
  c.form = p.get_string("form");
  c.length = int(p.get_int("length"));
  c.num_samples = int(p.get_int("num_samples"));
  c.max_new_tokens = int(p.get_int("max_new_tokens"));
  c.vocab_size = int(p.get_int("vocab_size"));
  auto one_of = [](const std::string& key, const std::string& v, std::initializer_list<const char*> ok) {
    for (const char* o : ok)
      if (v == o) return;
    KVB_FAIL("task needle_threading: parameter {}='{}' is not one of: {}", key, v, fmt::join(ok, ", "));
  };
  one_of("thread_type", c.type, {"single", "multi", "branched"});
  one_of("direction", c.direction, {"forward", "backward", "random"});
  one_of("form", c.form, {"text", "symbolic"});
  KVB_CHECK(c.thread_length >= 1 && c.thread_length <= 64, "task needle_threading: thread_length must be in 1..64, got {}",
            c.thread_length);
  if (c.num_threads == 0) c.num_threads = c.type == "multi" ? 4 : 1;
  KVB_CHECK(c.num_threads >= 1 && c.num_threads <= 64, "task needle_threading: num_threads must be in 1..64, got {}",
            c.num_threads);
  KVB_CHECK(c.type != "single" || c.num_threads == 1,
            "task needle_threading: thread_type=single has one thread (num_threads={}); use thread_type=multi",
            c.num_threads);
  KVB_CHECK(c.type != "multi" || c.num_threads >= 2, "task needle_threading: thread_type=multi needs num_threads >= 2");
  KVB_CHECK(c.branching >= 2 && c.branching <= 8, "task needle_threading: branching must be in 2..8, got {}",
            c.branching);
  KVB_CHECK(c.num_samples >= 0, "task needle_threading: num_samples must be >= 0");
  KVB_CHECK(c.max_new_tokens >= 0, "task needle_threading: max_new_tokens must be >= 0 (0: from the answer)");
  return c;
}

// The threads as a graph of nodes (a node is one key, or the final value): the pairs placed in the
// haystack and the paths asked for. A branched thread forks at node thread_length / 2 of its trunk.
struct Pair {
  int key = 0;
  std::vector<int> values;  // one, or the branches of a fork key
};
struct Threads {
  int nodes = 0;
  std::vector<std::vector<Pair>> pairs;          // per thread, parents before children
  std::vector<std::vector<std::vector<int>>> paths;  // per thread, per branch: start key .. final value
};

Threads make_threads(const ThreadConfig& c) {
  Threads t;
  const int L = c.thread_length;
  for (int th = 0; th < c.num_threads; ++th) {
    std::vector<Pair> pairs;
    std::vector<std::vector<int>> paths;
    const int branches = c.type == "branched" ? c.branching : 1;
    const int fork = c.type == "branched" ? L / 2 : L;  // trunk nodes 0..fork
    std::vector<int> trunk;
    for (int i = 0; i <= fork; ++i) trunk.push_back(t.nodes++);
    for (int i = 0; i < fork; ++i) pairs.push_back({trunk[size_t(i)], {trunk[size_t(i) + 1]}});
    if (fork == L) {
      paths.push_back(trunk);
    } else {
      std::vector<std::vector<int>> tails(static_cast<size_t>(branches));
      Pair fork_pair{trunk.back(), {}};
      for (auto& tail : tails) {
        for (int i = fork + 1; i <= L; ++i) tail.push_back(t.nodes++);
        fork_pair.values.push_back(tail.front());
      }
      pairs.push_back(fork_pair);
      for (int i = 0; i + 1 < L - fork; ++i)  // level by level: parents before children
        for (auto& tail : tails) pairs.push_back({tail[size_t(i)], {tail[size_t(i) + 1]}});
      for (auto& tail : tails) {
        std::vector<int> path = trunk;
        path.insert(path.end(), tail.begin(), tail.end());
        paths.push_back(path);
      }
    }
    t.pairs.push_back(pairs);
    t.paths.push_back(paths);
  }
  return t;
}

// Depth (0..1) of every placed entry, per thread in pair order: ascending along each thread
// (forward), descending (backward), or in random order. `per_thread[th]` entries for thread th.
std::vector<std::vector<double>> entry_depths(Rng& rng, const ThreadConfig& c, const std::vector<size_t>& per_thread) {
  std::vector<std::vector<double>> out;
  for (size_t n : per_thread) {
    std::vector<double> d(n);
    for (auto& x : d) x = rng.unit();
    std::sort(d.begin(), d.end());
    if (c.direction == "backward") std::reverse(d.begin(), d.end());
    if (c.direction == "random") rng.shuffle(d);
    out.push_back(d);
  }
  return out;
}

// One entry placed in the haystack: its depth (0..1) and, in the order of the flat list, its text or ids.
struct Placed {
  double depth = 0;
  size_t index = 0;  // into the form's entry list
};
std::vector<Placed> by_depth(const std::vector<std::vector<double>>& depths) {
  std::vector<Placed> out;
  for (const auto& d : depths)
    for (double x : d) out.push_back({x, out.size()});
  std::stable_sort(out.begin(), out.end(), [](const Placed& a, const Placed& b) { return a.depth < b.depth; });
  return out;
}

std::string json_string(const std::string& s) { return "\"" + s + "\""; }

std::string join_quoted(const std::vector<std::string>& keys) {
  std::string out;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) out += keys.size() == 2 ? " and " : (i + 1 == keys.size() ? ", and " : ", ");
    out += json_string(keys[i]);
  }
  return out;
}

Case text_case(const ThreadConfig& cfg, uint64_t seed, uint64_t index, const std::string& id, const TaskEnv& env) {
  namespace ds = kvb::datasets;
  Rng rng = Rng::derive(seed, index);
  const Threads th = make_threads(cfg);
  std::vector<std::string> uuid;  // per node
  std::set<std::string> used;
  while (int(uuid.size()) < th.nodes) {
    std::string u = ds::uuid4(rng);
    if (used.insert(u).second) uuid.push_back(u);
  }
  // Entries: one JSON line per pair (a fork key's branches as a list).
  std::vector<std::string> entries;
  std::vector<size_t> per_thread;
  for (const auto& pairs : th.pairs) {
    per_thread.push_back(pairs.size());
    for (const Pair& p : pairs) {
      std::string v;
      if (p.values.size() == 1) {
        v = json_string(uuid[size_t(p.values[0])]);
      } else {
        std::vector<std::string> vs;
        for (int x : p.values) vs.push_back(json_string(uuid[size_t(x)]));
        v = "[" + fmt::format("{}", fmt::join(vs, ", ")) + "]";
      }
      entries.push_back(json_string(uuid[size_t(p.key)]) + ": " + v);
    }
  }
  const std::vector<Placed> placed = by_depth(entry_depths(rng, cfg, per_thread));
  const uint64_t hay_seed = rng.next();
  auto distractor = [&](size_t u) {  // unit u of the haystack: a pair of fresh UUIDs
    Rng r = Rng::derive(hay_seed, u);
    std::string k = ds::uuid4(r);
    return json_string(k) + ": " + json_string(ds::uuid4(r));
  };

  std::vector<std::string> starts, answers;
  for (size_t t = 0; t < th.paths.size(); ++t) {
    starts.push_back(uuid[size_t(th.paths[t][0][0])]);
    for (const auto& path : th.paths[t]) {
      std::vector<std::string> vs;
      for (size_t i = 1; i < path.size(); ++i) vs.push_back(uuid[size_t(path[i])]);
      answers.push_back(fmt::format("{}", fmt::join(vs, " ")));
    }
  }
  const std::string instruction =
      "Below is a JSON object whose keys and values are UUIDs. Some values are also keys of the object, so they "
      "form threads: to follow a thread, look up its value as a key, then that key's value, and so on until a value "
      "is not a key. A key whose value is a list is a branch: follow every value in the list.";
  std::string question, prefix;
  if (cfg.type == "single") {
    question = fmt::format("Follow the thread that starts at key {}. Write the values along it, in order, separated by "
                           "spaces.", json_string(starts[0]));
    prefix = "The values along the thread are:";
  } else if (cfg.type == "multi") {
    question = fmt::format("Follow the threads that start at the keys {}, in that order. For each thread write one line "
                           "with the values along it, in order, separated by spaces.", join_quoted(starts));
    prefix = "The values along the threads, one line per thread:";
  } else {
    question = fmt::format("Follow the thread{} that start{} at the key{} {} through every branch, branches in the order "
                           "their values are listed. For each branch write one line with the values along it from the "
                           "start, in order, separated by spaces.",
                           starts.size() > 1 ? "s" : "", starts.size() > 1 ? "" : "s", starts.size() > 1 ? "s" : "",
                           join_quoted(starts));
    prefix = "The values along the branches, one line per branch:";
  }
  int max_new = cfg.max_new_tokens;
  if (max_new == 0) {
    KVB_CHECK(env.tokenizer != nullptr, "task needle_threading: form=text needs a tokenizer");
    max_new = int(env.tokenizer->encode(fmt::format("{}", fmt::join(answers, "\n")), false).size()) +
              8 * int(answers.size()) + 16;
  }
  nlohmann::json jpaths = nlohmann::json::array();
  for (const auto& a : answers) jpaths.push_back(a);

  auto build = [&](int units) {
    Case c;
    c.id = id;
    c.question = question;
    c.answer_prefix = prefix;
    c.answers = answers;
    c.max_new_tokens = max_new;
    c.scorer = "thread_hops";
    std::string text = instruction + "\n\n{\n";
    std::vector<int> at;
    for (const Placed& p : placed) at.push_back(int(std::llround(p.depth * units)));
    size_t next = 0;
    bool first = true;
    auto line = [&](const std::string& s) {
      text += (first ? "  " : ",\n  ");
      first = false;
      text += s;
    };
    for (int u = 0; u <= units; ++u) {
      while (next < placed.size() && at[next] <= u) {
        c.meta.depths.push_back(100.0 * placed[next].depth);
        line("");
        c.meta.needle_chars.push_back(int(text.size()));
        text += entries[placed[next++].index];
      }
      if (u < units) line(distractor(size_t(u)));
    }
    text += "\n}";
    c.context = std::move(text);
    c.meta.extra = {{"form", "text"},         {"thread_type", cfg.type}, {"thread_length", cfg.thread_length},
                    {"num_threads", cfg.num_threads}, {"direction", cfg.direction}, {"start_keys", starts},
                    {"paths", jpaths}};
    if (cfg.type == "branched") c.meta.extra["branching"] = cfg.branching;
    return c;
  };
  return fit_to_length(build, cfg.length, env, fmt::format("task needle_threading case {}", id));
}

// Symbolic form for the recall oracle. The oracle copies the token that followed an earlier
// occurrence of the current token, so a token that occurs twice with different successors is a tie.
// A key is therefore two tokens "a b" and a pair is written "a b a'": key (a, b), value = the first
// token a' of the next key. The question walks each path "<sep> a0 b0 a1 b1 .. aL" and scores the
// token after every b (hop i: b_i -> a_{i+1}); a fork key's b scores the set of its branches' a (top-k).
Case symbolic_case(const ThreadConfig& cfg, uint64_t seed, uint64_t index, const std::string& id) {
  using namespace oracle_vocab;
  const int V = cfg.vocab_size;
  KVB_CHECK(V >= 64, "task needle_threading: form=symbolic needs vocab_size >= 64, got {}", V);
  const int32_t words = V - kFirstWord;
  const int32_t a0 = kFirstWord, b0 = a0 + words / 2;  // first tokens [a0, b0), second tokens [b0, V)
  Rng rng = Rng::derive(seed, index ^ 0x73796d626f6c6963ull);  // "symbolic"
  const Threads th = make_threads(cfg);
  KVB_CHECK(th.nodes * 2 <= b0 - a0, "task needle_threading: {} thread keys do not fit in vocab_size {}", th.nodes, V);
  std::vector<int32_t> first, second;
  for (size_t i : rng.sample_indices(size_t(b0 - a0), size_t(th.nodes))) first.push_back(int32_t(a0 + int32_t(i)));
  for (size_t i : rng.sample_indices(size_t(V - b0), size_t(th.nodes))) second.push_back(int32_t(b0 + int32_t(i)));
  const std::set<int32_t> taken_a(first.begin(), first.end()), taken_b(second.begin(), second.end());

  std::vector<std::array<int32_t, 3>> entries;  // "a b a'" per (pair, value)
  std::vector<size_t> per_thread;
  for (const auto& pairs : th.pairs) {
    size_t n = 0;
    for (const Pair& p : pairs)
      for (int v : p.values) {
        entries.push_back({first[size_t(p.key)], second[size_t(p.key)], first[size_t(v)]});
        ++n;
      }
    per_thread.push_back(n);
  }
  const std::vector<Placed> placed = by_depth(entry_depths(rng, cfg, per_thread));

  // Question and its targets, path by path.
  std::vector<int32_t> question;
  std::vector<std::pair<size_t, int32_t>> labels;             // (offset in question, next id)
  std::vector<std::pair<size_t, std::vector<int32_t>>> sets;  // (offset, the fork's branches)
  std::vector<std::string> answers;
  std::vector<int> hops_per_path;
  for (size_t t = 0; t < th.paths.size(); ++t) {
    for (const auto& path : th.paths[t]) {
      question.push_back(kSep);
      std::string words_along;
      for (size_t i = 0; i < path.size(); ++i) {
        const int node = path[i];
        question.push_back(first[size_t(node)]);
        if (i > 0) words_along += (words_along.empty() ? "" : " ") + oracle_word(first[size_t(node)]);
        if (i + 1 == path.size()) break;
        question.push_back(second[size_t(node)]);
        const Pair* pair = nullptr;
        for (const Pair& p : th.pairs[t])
          if (p.key == node) pair = &p;
        if (pair->values.size() == 1) {
          labels.push_back({question.size() - 1, first[size_t(path[i + 1])]});
        } else {
          std::vector<int32_t> set;
          for (int v : pair->values) set.push_back(first[size_t(v)]);
          sets.push_back({question.size() - 1, set});
        }
      }
      answers.push_back(words_along);
      hops_per_path.push_back(int(path.size()) - 1);
    }
  }
  const int64_t filler = int64_t(cfg.length) - 1 - 3 * int64_t(entries.size()) - int64_t(question.size());
  KVB_CHECK(filler >= 0, "task needle_threading case {}: length {} is too short for {} thread pairs and {} question "
            "tokens", id, cfg.length, entries.size(), question.size());
  const int64_t units = filler / 3;
  auto fresh = [&](int32_t lo, int32_t hi, const std::set<int32_t>& taken) {
    int32_t x;
    do x = int32_t(lo + int32_t(rng.below(uint64_t(hi - lo)))); while (taken.count(x));
    return x;
  };

  Case c;
  c.id = id;
  c.scorer = "thread_hops";
  c.max_new_tokens = cfg.thread_length;
  c.answers = answers;
  c.input_ids.push_back(kBos);
  size_t next = 0;
  for (int64_t u = 0; u <= units; ++u) {
    while (next < placed.size() && int64_t(std::llround(placed[next].depth * double(units))) <= u) {
      c.meta.depths.push_back(100.0 * placed[next].depth);
      c.meta.needle_tokens.push_back(int(c.input_ids.size()));
      const auto& e = entries[placed[next++].index];
      c.input_ids.insert(c.input_ids.end(), e.begin(), e.end());
    }
    if (u < units) {  // a distractor pair "a b a'" of tokens no thread uses
      c.input_ids.push_back(fresh(a0, b0, taken_a));
      c.input_ids.push_back(fresh(b0, V, taken_b));
      c.input_ids.push_back(fresh(a0, b0, taken_a));
    }
  }
  for (int64_t r = 0; r < filler - 3 * units; ++r) c.input_ids.push_back(fresh(a0, b0, taken_a));
  const size_t context_tokens = c.input_ids.size();
  c.input_ids.insert(c.input_ids.end(), question.begin(), question.end());
  c.labels.assign(c.input_ids.size(), -100);
  for (auto& [off, y] : labels) c.labels[context_tokens + off] = y;
  nlohmann::json jsets = nlohmann::json::array();
  for (auto& [off, set] : sets) jsets.push_back({{"position", context_tokens + off}, {"ids", set}});
  c.meta.token_length = int(c.input_ids.size());
  c.meta.haystack_units = int(units);
  c.meta.extra = {{"form", "symbolic"},          {"vocab_size", V},
                  {"thread_type", cfg.type},     {"thread_length", cfg.thread_length},
                  {"num_threads", cfg.num_threads}, {"direction", cfg.direction},
                  {"label_sets", jsets},         {"context_tokens", context_tokens},
                  {"hops_per_path", hops_per_path},
                  {"id_ranges", {{"first", {a0, b0}}, {"second", {b0, V}}}}};
  if (cfg.type == "branched") c.meta.extra["branching"] = cfg.branching;
  return c;
}

std::vector<Case> generate_needle_threading(const TaskParams& p, uint64_t seed, const TaskEnv& env) {
  const ThreadConfig cfg = thread_config(p);
  std::vector<Case> out;
  for (int i = 0; i < cfg.num_samples; ++i) {
    const std::string id = fmt::format("needle_threading/{}/{}", seed, i);
    out.push_back(cfg.form == "symbolic" ? symbolic_case(cfg, seed, uint64_t(i), id)
                                         : text_case(cfg, seed, uint64_t(i), id, env));
  }
  return out;
}

KVB_REGISTER_TASK(needle_threading, 1,
                  "Needle Threading (Roberts et al. 2024): follow key -> key threads through UUID pairs, scored per hop",
                  "thread_hops",
                  std::vector<ParamSpec>{
                      {"length", "4096", "target tokens: prompt (chat template applied) + max_new_tokens"},
                      {"num_samples", "100", "cases to generate"},
                      {"thread_type", "single", "single | multi (num_threads threads at once) | branched (the key "
                                                "halfway along a thread has `branching` values)"},
                      {"thread_length", "3", "hops from a thread's start key to its final value"},
                      {"num_threads", "0", "threads asked about (0: 1 for single and branched, 4 for multi)"},
                      {"branching", "2", "branched: values of the fork key"},
                      {"direction", "forward", "forward | backward | random: order of a thread's pairs in the context"},
                      {"max_new_tokens", "0", "tokens the model may generate (0: the answer's tokens + 8 per line + 16)"},
                      {"form", "text", "text (JSON of UUIDs for an LLM) | symbolic (token ids + labels for builtin:oracle)"},
                      {"vocab_size", "8192", "symbolic form: vocabulary the ids are drawn from (the oracle's --vocab)"},
                  },
                  generate_needle_threading);

}  // namespace
}  // namespace kvb::tasks
