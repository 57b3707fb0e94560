// The regression gate; see gate.h.
#include "reports/gate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "core/error.h"
#include "reports/stats.h"

namespace kvb::reports {
namespace {

using json = nlohmann::json;

std::string config_label(const SampleRow& s) {
  const std::string budget = s.method == "full"   ? std::string()
                             : s.budget > 0       ? fmt::format(" budget={}", s.budget)
                                                  : fmt::format(" ratio={:g}", s.ratio);
  std::string method = s.method_label;  // the mode is spelled out below
  const std::string suffix = " (query-aware)";
  if (method.size() > suffix.size() && method.ends_with(suffix)) method.resize(method.size() - suffix.size());
  return fmt::format("{} {}{} {} {} L={} seed={}", s.model, method, budget,
                     s.mode == "query_aware" ? "query-aware" : "query-agnostic", s.task, s.length, s.seed);
}

// One-sided exact binomial lower tail P(X <= k), X ~ Binomial(n, p).
double binomial_lower_tail(int64_t k, int64_t n, double p) {
  if (p <= 0) return 1.0;
  if (p >= 1) return k >= n ? 1.0 : 0.0;
  double sum = 0;
  for (int64_t i = 0; i <= k; ++i)
    sum += std::exp(std::lgamma(double(n) + 1) - std::lgamma(double(i) + 1) - std::lgamma(double(n - i) + 1) +
                    double(i) * std::log(p) + double(n - i) * std::log1p(-p));
  return std::min(1.0, sum);
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 forbids most control characters.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r')
          out += ' ';
        else
          out += c;
    }
  }
  return out;
}

std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|' || c == '*' || c == '_' || c == '`' || c == '<' || c == '>') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

std::string score_text(double v) { return std::isnan(v) ? "–" : fmt::format("{:.1f}", v); }

// Why a verdict failed, one line.
std::string failure_text(const ConfigVerdict& v, const GateOptions& o) {
  std::vector<std::string> why;
  if (v.score_regression)
    why.push_back(fmt::format("score {} -> {} (drop {:.1f} > {:g}, {} p={:.2g} < {:g})", score_text(v.base_mean),
                              score_text(v.cand_mean), v.drop, o.max_drop, v.test, v.p_value, o.alpha));
  if (v.latency_regression)
    why.push_back(fmt::format("latency x{:.2f} > x{:.2f} (Wilcoxon p={:.2g} < {:g})", v.slowdown, o.max_slowdown,
                              v.latency_p, o.alpha));
  if (v.cand_errors > 0) why.push_back(fmt::format("{} case(s) errored: {}", v.cand_errors, v.first_error));
  return fmt::format("{}", fmt::join(why, "; "));
}

}  // namespace

Outcomes outcomes_from_results(const ResultsData& data, const std::vector<Filter>& filters) {
  Outcomes out;
  for (const SampleRow& s : data.samples) {
    if (s.status == "skipped" || s.case_id == "*" || !passes(s, filters)) continue;
    ConfigOutcomes& c = out[s.config_hash];
    if (c.config_hash.empty()) {
      c.config_hash = s.config_hash;
      c.label = config_label(s);
    }
    if (s.ok()) {
      c.scores[s.case_id] = s.score;
      c.seconds[s.case_id] = s.prefill_seconds + s.decode_seconds;
    } else {
      c.scores[s.case_id] = 0.0;  // a case that errors retrieves nothing
      c.errors[s.case_id] = s.reason;
    }
  }
  // A configuration that could not start (case id "*") has no cases: it shows up as missing.
  return out;
}

json baseline_json(const Outcomes& o, bool with_timings, const std::string& source) {
  json configs = json::array();
  for (const auto& [hash, c] : o) {
    std::vector<double> v;
    for (const auto& [id, s] : c.scores) v.push_back(s);
    json e = {{"config_hash", hash}, {"label", c.label}, {"n", v.size()}, {"mean_score", mean(v)},
              {"scores", c.scores}};
    if (with_timings) e["seconds"] = c.seconds;
    configs.push_back(std::move(e));
  }
  return {{"kvbench_baseline", 1}, {"source", source}, {"configs", std::move(configs)}};
}

Outcomes load_baseline(const std::filesystem::path& path) {
  std::error_code ec;
  KVB_CHECK(std::filesystem::exists(path, ec), "{}: baseline not found", path.string());
  if (path.extension() != ".json") return outcomes_from_results(load_results(path));
  std::ifstream f(path);
  KVB_CHECK(f.good(), "{}: cannot read", path.string());
  const json j = json::parse(f, nullptr, false);
  KVB_CHECK(!j.is_discarded(), "{}: not valid JSON", path.string());
  KVB_CHECK(j.is_object() && j.value("kvbench_baseline", 0) == 1 && j.contains("configs") && j["configs"].is_array(),
            "{}: not a kvbench baseline (expected {{\"kvbench_baseline\": 1, \"configs\": [...]}}; "
            "`kvbench baseline DB -o FILE` writes one)",
            path.string());
  Outcomes out;
  for (size_t i = 0; i < j["configs"].size(); ++i) {
    const json& e = j["configs"][i];
    KVB_CHECK(e.is_object() && e.contains("config_hash") && e["config_hash"].is_string(),
              "{}: configs[{}] has no config_hash", path.string(), i);
    ConfigOutcomes c;
    c.config_hash = e["config_hash"].get<std::string>();
    c.label = e.value("label", c.config_hash);
    try {
      if (e.contains("scores")) c.scores = e["scores"].get<std::map<std::string, double>>();
      if (e.contains("seconds")) c.seconds = e["seconds"].get<std::map<std::string, double>>();
      if (c.scores.empty()) {
        KVB_CHECK(e.contains("mean_score") && e["mean_score"].is_number() && e.contains("n") &&
                      e["n"].is_number_integer(),
                  "configs[{}] needs per-case scores or mean_score and n", i);
        c.expected_mean = e["mean_score"].get<double>();
        c.expected_n = e["n"].get<int64_t>();
      }
    } catch (const nlohmann::json::exception& ex) {
      KVB_FAIL("{}: configs[{}]: {}", path.string(), i, ex.what());
    }
    KVB_CHECK(!out.count(c.config_hash), "{}: configuration {} is listed twice", path.string(), c.config_hash);
    out[c.config_hash] = std::move(c);
  }
  return out;
}

bool GateResult::passed() const { return regressions() == 0; }

size_t GateResult::regressions() const {
  size_t n = 0;
  for (const ConfigVerdict& v : verdicts) n += v.score_regression || v.latency_regression;
  return n;
}

GateResult run_gate(const Outcomes& base, const Outcomes& cand, const GateOptions& o) {
  KVB_CHECK(o.max_drop >= 0, "--max-drop must be >= 0, got {}", o.max_drop);
  KVB_CHECK(o.alpha > 0 && o.alpha < 1, "--alpha must be in (0, 1), got {}", o.alpha);
  KVB_CHECK(o.max_slowdown >= 1, "--max-slowdown must be >= 1, got {}", o.max_slowdown);
  GateResult r;
  for (const auto& [hash, b] : base) {
    auto it = cand.find(hash);
    if (it == cand.end()) {
      r.missing_in_candidate.push_back(fmt::format("{} ({})", b.label, hash));
      continue;
    }
    const ConfigOutcomes& c = it->second;
    ConfigVerdict v;
    v.config_hash = hash;
    v.label = b.label;
    v.cand_errors = c.errors.size();
    if (!c.errors.empty()) v.first_error = c.errors.begin()->first + ": " + c.errors.begin()->second;
    std::vector<double> cand_all;
    for (const auto& [id, s] : c.scores) cand_all.push_back(s);
    if (!std::isnan(b.expected_mean)) {
      // Expected mean only: a one-sample test of the candidate against it.
      v.base_mean = b.expected_mean;
      v.cand_mean = mean(cand_all);
      v.paired = cand_all.size();
      v.drop = v.base_mean - v.cand_mean;
      if (is_binary_outcome(cand_all)) {
        int64_t right = 0;
        for (double s : cand_all) right += s > 0;
        v.test = "binomial vs expected";
        v.p_value = binomial_lower_tail(right, int64_t(cand_all.size()), b.expected_mean / 100.0);
      } else {
        v.test = "bootstrap vs expected";
        v.p_value = paired_bootstrap_drop_p(std::vector<double>(cand_all.size(), b.expected_mean), cand_all);
      }
    } else {
      std::vector<double> bs, cs, bt, ct;
      for (const auto& [id, s] : b.scores) {
        auto ci = c.scores.find(id);
        if (ci == c.scores.end()) continue;
        bs.push_back(s);
        cs.push_back(ci->second);
        auto btime = b.seconds.find(id), ctime = c.seconds.find(id);
        if (btime != b.seconds.end() && ctime != c.seconds.end()) {
          bt.push_back(btime->second);
          ct.push_back(ctime->second);
        }
      }
      v.paired = bs.size();
      v.unpaired = b.scores.size() + c.scores.size() - 2 * bs.size();
      v.base_mean = mean(bs);
      v.cand_mean = mean(cs);
      v.drop = v.base_mean - v.cand_mean;
      if (is_binary_outcome(bs) && is_binary_outcome(cs)) {
        std::vector<bool> br, cr;
        for (size_t i = 0; i < bs.size(); ++i) {
          br.push_back(bs[i] > 0);
          cr.push_back(cs[i] > 0);
        }
        v.test = "mcnemar";
        v.p_value = mcnemar_worse(br, cr).p_value;
      } else {
        v.test = "paired bootstrap";
        v.p_value = paired_bootstrap_drop_p(bs, cs);
      }
      if (o.check_latency && !bt.empty()) {
        r.latency_compared = true;
        std::vector<double> ratios, scaled;
        for (size_t i = 0; i < bt.size(); ++i) {
          if (bt[i] > 0) ratios.push_back(ct[i] / bt[i]);
          scaled.push_back(bt[i] * o.max_slowdown);
        }
        v.slowdown = median(ratios);
        // H1: the candidate's times exceed the baseline's times the tolerance.
        v.latency_p = wilcoxon_greater_p(scaled, ct);
        v.latency_regression = v.slowdown > o.max_slowdown && v.latency_p < o.alpha;
      }
    }
    v.score_regression = v.paired > 0 && v.drop > o.max_drop && v.p_value < o.alpha;
    r.verdicts.push_back(std::move(v));
  }
  for (const auto& [hash, c] : cand)
    if (!base.count(hash)) r.new_in_candidate.push_back(fmt::format("{} ({})", c.label, hash));
  KVB_CHECK(!r.verdicts.empty() || base.empty(),
            "no configuration is in both the baseline and the candidate ({} baseline, {} candidate configurations): "
            "were they made with different models, methods or task versions?",
            base.size(), cand.size());
  std::sort(r.verdicts.begin(), r.verdicts.end(),
            [](const ConfigVerdict& a, const ConfigVerdict& b) { return a.label < b.label; });
  return r;
}

std::string gate_summary_text(const GateResult& r, const GateOptions& o) {
  std::string out;
  for (const ConfigVerdict& v : r.verdicts) {
    const bool bad = v.score_regression || v.latency_regression;
    out += fmt::format("{} {}  score {} -> {} (n={}{}, {} p={:.2g}){}\n", bad ? "FAIL" : "ok  ", v.label,
                       score_text(v.base_mean), score_text(v.cand_mean), v.paired,
                       v.unpaired ? fmt::format(", {} unpaired", v.unpaired) : "", v.test, v.p_value,
                       std::isnan(v.slowdown) ? "" : fmt::format("  time x{:.2f} (p={:.2g})", v.slowdown, v.latency_p));
    if (bad) out += "      " + failure_text(v, o) + "\n";
  }
  for (const std::string& m : r.missing_in_candidate) out += "MISSING in candidate: " + m + "\n";
  for (const std::string& m : r.new_in_candidate) out += "new in candidate (not gated): " + m + "\n";
  const bool missing_fails = !r.missing_in_candidate.empty() && !o.allow_missing;
  out += fmt::format(
      "gate: {} — {} configurations compared, {} regression{}, {} missing in candidate{}, {} new; "
      "max drop {:g} points, alpha {:g}{}\n",
      r.passed() && !missing_fails ? "PASS" : "FAIL", r.verdicts.size(), r.regressions(),
      r.regressions() == 1 ? "" : "s", r.missing_in_candidate.size(),
      r.missing_in_candidate.empty() ? "" : (o.allow_missing ? " (allowed)" : " (fails: --allow-missing to accept)"),
      r.new_in_candidate.size(), o.max_drop, o.alpha,
      r.latency_compared ? fmt::format(", max slowdown x{:g}", o.max_slowdown) : ", latency not compared");
  return out;
}

std::string gate_markdown(const GateResult& r, const GateOptions& o) {
  const bool missing_fails = !r.missing_in_candidate.empty() && !o.allow_missing;
  std::string out = fmt::format("### kvbench gate: {}\n\n", r.passed() && !missing_fails ? "✅ pass" : "❌ FAIL");
  out += fmt::format("{} configurations compared, **{} regression{}**, {} missing in candidate, {} new. "
                     "Tolerances: score drop {:g} points at alpha {:g}; slowdown x{:g}.\n\n",
                     r.verdicts.size(), r.regressions(), r.regressions() == 1 ? "" : "s",
                     r.missing_in_candidate.size(), r.new_in_candidate.size(), o.max_drop, o.alpha, o.max_slowdown);
  out += "| | configuration | baseline | candidate | drop | test | p | time |\n|:-:|:--|--:|--:|--:|:--|--:|--:|\n";
  for (const ConfigVerdict& v : r.verdicts) {
    const bool bad = v.score_regression || v.latency_regression;
    out += fmt::format("| {} | {} | {} | {} | {:.1f} | {} | {:.2g} | {} |\n", bad ? "❌" : "✅", md_escape(v.label),
                       score_text(v.base_mean), score_text(v.cand_mean), v.drop, v.test, v.p_value,
                       std::isnan(v.slowdown) ? "–" : fmt::format("x{:.2f}", v.slowdown));
  }
  if (!r.missing_in_candidate.empty()) {
    out += "\n**Missing in candidate:**\n\n";
    for (const std::string& m : r.missing_in_candidate) out += "- " + md_escape(m) + "\n";
  }
  if (!r.new_in_candidate.empty()) {
    out += "\nNew in candidate (not gated):\n\n";
    for (const std::string& m : r.new_in_candidate) out += "- " + md_escape(m) + "\n";
  }
  return out;
}

std::string gate_junit(const GateResult& r, const GateOptions& o) {
  size_t failures = r.regressions() + (o.allow_missing ? 0 : r.missing_in_candidate.size());
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format("<testsuites name=\"kvbench gate\" tests=\"{}\" failures=\"{}\">\n",
                     r.verdicts.size() + r.missing_in_candidate.size(), failures);
  out += fmt::format("  <testsuite name=\"kvbench gate\" tests=\"{}\" failures=\"{}\">\n",
                     r.verdicts.size() + r.missing_in_candidate.size(), failures);
  for (const ConfigVerdict& v : r.verdicts) {
    out += fmt::format("    <testcase classname=\"kvbench.gate\" name=\"{}\">\n", xml_escape(v.label));
    if (v.score_regression || v.latency_regression)
      out += fmt::format("      <failure message=\"{}\"/>\n", xml_escape(failure_text(v, o)));
    out += fmt::format("      <system-out>{}</system-out>\n",
                       xml_escape(fmt::format("score {} -> {}, n={}, {} p={:.3g}", score_text(v.base_mean),
                                              score_text(v.cand_mean), v.paired, v.test, v.p_value)));
    out += "    </testcase>\n";
  }
  for (const std::string& m : r.missing_in_candidate) {
    out += fmt::format("    <testcase classname=\"kvbench.gate\" name=\"{}\">\n", xml_escape(m));
    if (o.allow_missing)
      out += "      <skipped message=\"missing in candidate (allowed)\"/>\n";
    else
      out += "      <failure message=\"missing in candidate\"/>\n";
    out += "    </testcase>\n";
  }
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

}  // namespace kvb::reports
