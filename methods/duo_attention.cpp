// duo_attention: retrieval heads keep every entry, streaming heads keep sink + recent (Xiao et al.
// 2024, arXiv:2410.10819; kvpress DuoAttentionPress, docs/kvpress-notes.md §12). --ratio is the
// fraction of (layer, KV head) pairs made streaming: those with the lowest head scores. Scores come
// from `pattern` (DuoAttention's full_attention_heads.tsv, or its directory with config.json giving
// sink_size / recent_size), from `head_scores` ("l0h0,l0h1;l1h0,..."), or from
// `kvbench calibrate duo`. `kvbench eval --method duo_attention --ratio 0.5 --param pattern=DIR`.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "core/error.h"
#include "core/file.h"
#include "methods/scoring.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

// Rows = layers, columns = KV heads; separators: tabs/commas within a row, newlines/';' between rows.
std::vector<std::vector<double>> parse_head_scores(const std::string& text, const std::string& where) {
  std::vector<std::vector<double>> rows;
  std::string row_text;
  std::stringstream all(text);
  const char row_sep = text.find(';') != std::string::npos ? ';' : '\n';
  while (std::getline(all, row_text, row_sep)) {
    for (char& ch : row_text)
      if (ch == ',' || ch == '\t' || ch == '\r' || ch == ';') ch = ' ';
    std::stringstream row(row_text);
    std::vector<double> r;
    std::string cell;
    while (row >> cell) {
      try {
        size_t used = 0;
        r.push_back(std::stod(cell, &used));
        KVB_CHECK(used == cell.size(), "");
      } catch (...) {
        KVB_FAIL("duo_attention: {}: row {}: '{}' is not a number", where, rows.size() + 1, cell);
      }
    }
    if (!r.empty()) rows.push_back(std::move(r));
  }
  return rows;
}

struct DuoPattern {
  std::vector<std::vector<double>> scores;  // [L][Hkv], clipped to [0, 1]
  int64_t sink = 0, recent = 0;
};

DuoPattern load_pattern(const MethodContext& ctx) {
  DuoPattern p;
  p.sink = ctx.params.get_int("sink_size");
  p.recent = ctx.params.get_int("recent_size");
  const std::string path = ctx.params.get_string("pattern"), inline_scores = ctx.params.get_string("head_scores");
  KVB_CHECK(path.empty() != inline_scores.empty(),
            "duo_attention needs head scores: give --param pattern=FILE|DIR (DuoAttention's full_attention_heads.tsv) "
            "or --param head_scores=..., e.g. from `kvbench calibrate duo`");
  if (!path.empty()) {
    fs::path tsv = path;
    if (fs::is_directory(tsv)) {
      if (fs::exists(tsv / "config.json")) {
        auto cfg = nlohmann::json::parse(read_text_file(tsv / "config.json"), nullptr, false);
        KVB_CHECK(!cfg.is_discarded(), "duo_attention: {}: malformed JSON", (tsv / "config.json").string());
        if (cfg.contains("sink_size")) p.sink = cfg["sink_size"].get<int64_t>();
        if (cfg.contains("recent_size")) p.recent = cfg["recent_size"].get<int64_t>();
      }
      tsv /= "full_attention_heads.tsv";
    }
    KVB_CHECK(fs::exists(tsv), "duo_attention: pattern file {} does not exist", tsv.string());
    p.scores = parse_head_scores(read_text_file(tsv), tsv.string());
  } else {
    p.scores = parse_head_scores(inline_scores, "head_scores");
  }
  const ModelConfig& c = *ctx.config;
  KVB_CHECK(int(p.scores.size()) == c.n_layers, "duo_attention: head scores have {} rows, the model has {} layers",
            p.scores.size(), c.n_layers);
  for (size_t l = 0; l < p.scores.size(); ++l) {
    KVB_CHECK(int(p.scores[l].size()) == c.n_kv_heads,
              "duo_attention: head scores row {} has {} values, the model has {} KV heads", l, p.scores[l].size(),
              c.n_kv_heads);
    for (double& x : p.scores[l]) x = std::clamp(x, 0.0, 1.0);
  }
  KVB_CHECK(p.sink >= 0 && p.recent >= 0, "duo_attention: sink_size and recent_size must be >= 0");
  return p;
}

class DuoAttention final : public Method {
 public:
  DuoAttention(DuoPattern p, double head_ratio) : p_(std::move(p)) {
    const int64_t L = int64_t(p_.scores.size()), H = int64_t(p_.scores[0].size());
    const int64_t n_stream = int64_t(std::nearbyint(double(L * H) * head_ratio));  // Python round
    std::vector<int64_t> order(size_t(L * H));
    std::iota(order.begin(), order.end(), 0);
    // Lowest scores become streaming heads; equal scores: lower (layer, head) first (kvpress's
    // unstable argsort leaves that order unspecified).
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return p_.scores[size_t(a / H)][size_t(a % H)] < p_.scores[size_t(b / H)][size_t(b % H)];
    });
    streaming_.assign(size_t(L * H), 0);
    for (int64_t i = 0; i < n_stream; ++i) streaming_[size_t(order[size_t(i)])] = 1;
    any_streaming_ = n_stream > 0;
  }
  KeepSets compress_prefill(const LayerView& v) override {
    const int64_t H = v.cache->n_kv_heads(), T = v.n_context;
    if (!any_streaming_ || T <= p_.sink + p_.recent || p_.recent == 0) return {};
    KeepSets keep(static_cast<size_t>(H));
    for (int64_t h = 0; h < H; ++h) {
      const bool stream = streaming_[size_t(v.layer * H + h)];
      for (int64_t j = 0; j < T; ++j)
        if (!stream || j < p_.sink || j >= T - p_.recent) keep[size_t(h)].push_back(int32_t(j));
    }
    return keep;
  }

 private:
  DuoPattern p_;
  std::vector<char> streaming_;  // [L * Hkv]
  bool any_streaming_ = false;
};

KVB_REGISTER_METHOD(duo_attention, 1, "DuoAttention: Xiao et al. 2024, arXiv:2410.10819 (kvpress DuoAttentionPress)",
                    "budget=per head (retrieval: all, streaming: sink + recent; --ratio = streaming head fraction), "
                    "schedule=prefill",
                    MethodRoles{.evicts = true, .budget = Budget::StreamingHeadFraction},
                    {{"pattern", "", "DuoAttention head pattern: full_attention_heads.tsv or its directory"},
                     {"head_scores", "", "inline head scores 'l0h0,l0h1;l1h0,...' (instead of pattern)"},
                     {"sink_size", "64", "sink tokens streaming heads keep (a pattern's config.json overrides)"},
                     {"recent_size", "256", "recent tokens streaming heads keep (a pattern's config.json overrides)"}},
                    [](const MethodContext& ctx) -> std::unique_ptr<Method> {
                      KVB_CHECK(ctx.token_budget == 0,
                                "duo_attention: give --ratio (fraction of streaming heads), not a token budget");
                      return std::make_unique<DuoAttention>(load_pattern(ctx), ctx.compression_ratio);
                    });

}  // namespace
}  // namespace kvb
