// The recall oracle checkpoint (see oracle.h, docs/oracle.md, ../shared/docs/oracle-model.md):
// RoPE kernels designed by linear programs (constraint generation over every distance 0..max_len,
// harness/model/simplex.h), weights assembled into Hugging Face Llama tensors, written as F32
// safetensors with a word-level tokenizer.json. Tests: tests/test_oracle.cpp, tests/test_oracle_parity.cpp.
#include "model/oracle.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/hash.h"
#include "core/random.h"
#include "model/simplex.h"

namespace fs = std::filesystem;

namespace kvb {
namespace {

using nlohmann::json;

// Construction constants (oracle-model.md, "Prototype settings").
constexpr int kVersion = 1;         // bump when the weights a given OracleOptions produce change
constexpr int kHeadDim = 128;       // D
constexpr int kPairs = kHeadDim / 2;
constexpr int kContent = 64;        // C
constexpr int kCode = 256;          // width of the read-out code h_t (two slices of D = 128)
constexpr double kCodeEntry = 0.5;  // h_t entries are +-0.5 in the stream (norm^2 64, like E)
constexpr int kEmbd = 648;          // d_model (coordinates past kO + kCode stay zero)
constexpr int kFf = 16;             // MLP width (all MLP weights are zero)
constexpr double kRopeTheta = 1e12;
constexpr double kBeta = 8.0;       // bias coordinate: every token enters with norm^2 beta^2 + C + 64
constexpr double kRetrievalScale = 8.0;   // s1
constexpr double kSinkDot = 40.0;         // BOS key . query in content-dot units (a match is ~C = 64)
constexpr double kPrevNats = 24.0;        // prev head: previous token beats the runner-up by this many nats
// Residual stream coordinates: bias, is_bos, bos2 (layer 0 writes sqrt(C) for the token after BOS),
// E (content, matched by the retrieval head), P (previous token's E, layer 0), H (read-out code,
// carried by layer-1 values), O (retrieved H, layer 1; the LM head reads only O).
constexpr int kBias = 0, kIsBos = 1, kBos2 = 2, kE = 3, kP = kE + kContent, kH = kP + kContent, kO = kH + kCode;
static_assert(kO + kCode <= kEmbd);
// Layer 0 kernels use pairs 0..31 (the highest frequencies); layer 1 local heads 0..30, the sink pair
// 31 and the content pairs 32..63 (rotation below 0.04 rad over 32K positions with theta = 1e12).
constexpr int kLayer0Pairs = 32, kLayer1LocalPairs = 31, kSinkPair = 31, kContentPair = 32;

struct HeadRole {
  std::string role;  // prev | local | retrieval
  int window = 0;
};

std::vector<std::vector<HeadRole>> parse_heads(const OracleOptions& o) {
  std::vector<std::vector<HeadRole>> layers;
  size_t start = 0;
  const std::string& s = o.heads;
  while (true) {
    size_t end = s.find('/', start);
    std::string layer = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::vector<HeadRole> heads;
    size_t hs = 0;
    while (true) {
      size_t he = layer.find(',', hs);
      std::string h = layer.substr(hs, he == std::string::npos ? std::string::npos : he - hs);
      HeadRole r;
      const size_t colon = h.find(':');
      r.role = h.substr(0, colon);
      if (colon != std::string::npos) {
        const std::string w = h.substr(colon + 1);
        char* endp = nullptr;
        const long v = std::strtol(w.c_str(), &endp, 10);
        KVB_CHECK(!w.empty() && *endp == 0 && r.role == "local",
                  "oracle --heads '{}': '{}' is not a role (prev, retrieval, local or local:WINDOW)", s, h);
        r.window = int(v);
      } else if (r.role == "local") {
        r.window = 32;
      }
      KVB_CHECK(r.role == "prev" || r.role == "retrieval" || r.role == "local",
                "oracle --heads '{}': unknown head role '{}' (prev, retrieval, local[:WINDOW])", s, h);
      if (r.role == "local")
        KVB_CHECK(r.window >= 2 && r.window <= o.max_len / 2,
                  "oracle --heads '{}': local window {} must be in 2..max_len/2 = {}", s, r.window, o.max_len / 2);
      heads.push_back(r);
      if (he == std::string::npos) break;
      hs = he + 1;
    }
    layers.push_back(heads);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  KVB_CHECK(layers.size() == 2, "oracle --heads '{}': expected two layers separated by '/', got {}", s, layers.size());
  KVB_CHECK(layers[0].size() == layers[1].size(), "oracle --heads '{}': both layers need the same number of heads", s);
  const int hq = int(layers[0].size());
  KVB_CHECK(o.kv_heads >= 1 && hq % o.kv_heads == 0,
            "oracle: {} query heads per layer are not a multiple of --kv-heads {}", hq, o.kv_heads);
  int prev = 0, retr = 0;
  for (const auto& h : layers[0]) {
    KVB_CHECK(h.role != "retrieval", "oracle --heads '{}': layer 0 takes prev and local heads only", s);
    prev += h.role == "prev";
  }
  for (const auto& h : layers[1]) {
    KVB_CHECK(h.role != "prev", "oracle --heads '{}': layer 1 takes retrieval and local heads only", s);
    retr += h.role == "retrieval";
  }
  KVB_CHECK(prev >= 1 && retr >= 1, "oracle --heads '{}': layer 0 needs a prev head and layer 1 a retrieval head", s);
  return layers;
}

void check_options(const OracleOptions& o) {
  KVB_CHECK(o.vocab >= 16 && o.vocab <= oracle_vocab::kFirstWord + 80 * 80 * 80,
            "oracle: --vocab {} must be in 16..{}", o.vocab, oracle_vocab::kFirstWord + 80 * 80 * 80);
  KVB_CHECK(o.max_len >= 16 && o.max_len <= (1 << 18), "oracle: --max-len {} must be in 16..262144", o.max_len);
  parse_heads(o);
}

// The engine's float32 RoPE frequencies (rope_inv_freq), as doubles.
std::vector<double> rope_thetas() {
  std::vector<double> t(kPairs);
  for (int i = 0; i < kPairs; ++i)
    t[size_t(i)] = double(float(1.0 / std::pow(double(float(kRopeTheta)), double(2 * i) / double(kHeadDim))));
  return t;
}

// A max-margin kernel LP: maximise t subject to f(a_k) - f(b_k) >= t for every constraint k in
// [0, n), |u_j|, |v_j| <= 1, where f(d) = sum_j u_j cos(d theta_j) + v_j sin(d theta_j).
struct KernelProblem {
  std::vector<double> theta;                         // [P]
  int n = 0;                                         // constraints k = 0 .. n-1
  std::function<bool(int k, int& a, int& b)> pair;   // false: no constraint at k
  int max_distance = 0;                              // largest a or b
};

struct KernelFit {
  std::vector<double> u, v;
  double margin = 0;
  int rounds = 0, pivots = 0;
};

// f(d) for d = 0 .. max_d.
std::vector<double> kernel_values(const std::vector<double>& theta, const std::vector<double>& u,
                                  const std::vector<double>& v, int max_d) {
  std::vector<double> f(size_t(max_d) + 1, 0.0);
  for (int d = 0; d <= max_d; ++d) {
    double s = 0;
    for (size_t j = 0; j < theta.size(); ++j) {
      const double ang = double(d) * theta[j];
      s += u[j] * std::cos(ang) + v[j] * std::sin(ang);
    }
    f[size_t(d)] = s;
  }
  return f;
}

double min_margin(const KernelProblem& kp, const std::vector<double>& f, std::vector<std::pair<double, int>>* all) {
  double m = INFINITY;
  for (int k = 0; k < kp.n; ++k) {
    int a, b;
    if (!kp.pair(k, a, b)) continue;
    const double g = f[size_t(a)] - f[size_t(b)];
    m = std::min(m, g);
    if (all) all->push_back({g, k});
  }
  return m;
}

KernelFit fit_kernel(const KernelProblem& kp, const std::string& what) {
  const int P = int(kp.theta.size());
  std::vector<int> active;
  for (int k = 0; k < std::min(kp.n, 65); ++k) active.push_back(k);
  for (double x = 65; x < kp.n; x *= 1.15) active.push_back(int(x));
  active.push_back(kp.n - 1);
  std::sort(active.begin(), active.end());
  active.erase(std::unique(active.begin(), active.end()), active.end());

  KernelFit fit;
  fit.u.assign(size_t(P), 0.0);
  fit.v.assign(size_t(P), 0.0);
  const int nv = 4 * P + 1;  // u+, u-, v+, v-, t
  for (fit.rounds = 1; fit.rounds <= 200; ++fit.rounds) {
    LinearProgram lp;
    lp.n_vars = nv;
    lp.c.assign(size_t(nv), 0.0);
    lp.c[size_t(4 * P)] = 1.0;
    std::vector<double> row(static_cast<size_t>(nv));
    for (int k : active) {
      int a, b;
      if (!kp.pair(k, a, b)) continue;
      std::fill(row.begin(), row.end(), 0.0);
      for (int j = 0; j < P; ++j) {
        const double cu = std::cos(a * kp.theta[size_t(j)]) - std::cos(b * kp.theta[size_t(j)]);
        const double cv = std::sin(a * kp.theta[size_t(j)]) - std::sin(b * kp.theta[size_t(j)]);
        row[size_t(j)] = -cu, row[size_t(P + j)] = cu, row[size_t(2 * P + j)] = -cv, row[size_t(3 * P + j)] = cv;
      }
      row[size_t(4 * P)] = 1.0;
      lp.add_row(row, 0.0);
    }
    for (int i = 0; i < nv; ++i) {
      std::fill(row.begin(), row.end(), 0.0);
      row[size_t(i)] = 1.0;
      lp.add_row(row, i == 4 * P ? 1000.0 : 1.0);
    }
    LpSolution sol = solve_lp(lp);
    KVB_CHECK(sol.status == LpSolution::Status::Optimal, "oracle: {} kernel LP: {} after {} pivots", what,
              lp_status_name(sol.status), sol.pivots);
    fit.pivots += sol.pivots;
    for (int j = 0; j < P; ++j) {
      fit.u[size_t(j)] = sol.x[size_t(j)] - sol.x[size_t(P + j)];
      fit.v[size_t(j)] = sol.x[size_t(2 * P + j)] - sol.x[size_t(3 * P + j)];
    }
    const double t = sol.objective;
    const std::vector<double> f = kernel_values(kp.theta, fit.u, fit.v, kp.max_distance);
    std::vector<std::pair<double, int>> all;
    min_margin(kp, f, &all);
    std::vector<std::pair<double, int>> violated;
    const double tol = 1e-9 * std::max(1.0, std::fabs(t));
    for (auto& g : all)
      if (g.first < t - tol && !std::binary_search(active.begin(), active.end(), g.second)) violated.push_back(g);
    if (violated.empty()) break;
    std::sort(violated.begin(), violated.end());
    for (size_t i = 0; i < violated.size() && i < 48; ++i) active.push_back(violated[i].second);
    std::sort(active.begin(), active.end());
  }
  // Dyadic rounding makes the weights independent of last-bit differences in the solve; the margin
  // is then measured exactly (in double) at every constraint.
  for (auto* w : {&fit.u, &fit.v})
    for (double& x : *w) x = std::clamp(std::round(x * 1048576.0) / 1048576.0, -1.0, 1.0);
  fit.margin = min_margin(kp, kernel_values(kp.theta, fit.u, fit.v, kp.max_distance), nullptr);
  KVB_CHECK(fit.margin > 1e-6, "oracle: {} kernel has no positive margin ({:.3g}) after {} LP rounds", what,
            fit.margin, fit.rounds);
  return fit;
}

double round_up(double x, double step) { return std::ceil(x / step) * step; }

OracleKernel design_kernel(const HeadRole& h, int layer, const OracleOptions& o) {
  const std::vector<double> all = rope_thetas();
  OracleKernel k;
  k.role = h.role;
  k.layer = layer;
  k.window = h.window;
  k.first_pair = 0;
  const int P = layer == 0 ? kLayer0Pairs : kLayer1LocalPairs;
  KernelProblem kp;
  kp.theta.assign(all.begin(), all.begin() + P);
  kp.n = o.max_len + 1;
  kp.max_distance = o.max_len;
  const std::string what = fmt::format("layer {} {}{}", layer, h.role, h.role == "local" ? fmt::format(":{}", h.window) : "");
  if (h.role == "prev") {
    kp.pair = [](int d, int& a, int& b) {
      a = 1, b = d;
      return d != 1;
    };
  } else {
    const int w = h.window;
    kp.pair = [w](int d, int& a, int& b) {
      if (d < w) a = d, b = d + 1;
      else a = w, b = d;
      return d != w;
    };
  }
  KernelFit fit = fit_kernel(kp, what);
  k.u = fit.u, k.v = fit.v, k.margin = fit.margin, k.lp_rounds = fit.rounds, k.pivots = fit.pivots;
  const double sqrt_d = std::sqrt(double(kHeadDim));
  if (h.role == "prev") {
    k.scale = round_up(kPrevNats * sqrt_d / fit.margin, 0.125);
  } else {
    // Beyond the window every distance sits (8 + ln max_len) nats below distance 0.
    const std::vector<double> f = kernel_values(kp.theta, fit.u, fit.v, o.max_len);
    double tail = -INFINITY;
    for (int d = h.window + 1; d <= o.max_len; ++d) tail = std::max(tail, f[size_t(d)]);
    k.scale = round_up((8.0 + std::log(double(o.max_len))) * sqrt_d / (f[0] - tail), 0.125);
  }
  return k;
}

// A float32 tensor with its Hugging Face name and shape.
struct NamedTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
  float& at(int64_t r, int64_t c) { return data[size_t(r * shape[1] + c)]; }
};

NamedTensor zeros(std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return {std::move(shape), std::vector<float>(size_t(n), 0.0f)};
}

NamedTensor filled(int64_t n, float v) { return {{n}, std::vector<float>(size_t(n), v)}; }

// Token codes from (seed, t): e_t in {-1, +1}^C (matched by the retrieval head) and h_t in
// {-1, +1}^kCode (read out by the LM head; wider than E so that a key with several values still
// ranks all of them above every other token). BOS has neither.
struct TokenCodes {
  std::vector<float> e, h;
};
TokenCodes token_codes(uint64_t seed, int32_t id) {
  TokenCodes c{std::vector<float>(kContent, 0.0f), std::vector<float>(kCode, 0.0f)};
  if (id == oracle_vocab::kBos) return c;
  uint64_t state = seed ^ (uint64_t(id) * 0x9e3779b97f4a7c15ull) ^ 0x6f7261636c65ull;  // "oracle"
  uint64_t bits = 0;
  for (int i = 0; i < kContent + kCode; ++i) {
    if (i % 64 == 0) bits = splitmix64(state);
    const float x = (bits >> (i % 64)) & 1 ? 1.0f : -1.0f;
    (i < kContent ? c.e[size_t(i)] : c.h[size_t(i - kContent)]) = x;
  }
  return c;
}

std::map<std::string, NamedTensor> build_tensors(const OracleOptions& o, const std::vector<std::vector<HeadRole>>& roles,
                                                 const std::vector<OracleKernel>& kernels) {
  const int64_t V = o.vocab, E = kEmbd, D = kHeadDim, Hq = int64_t(roles[0].size()), Hkv = o.kv_heads;
  const int64_t G = Hq / Hkv;
  const double sqrt_c = std::sqrt(double(kContent));
  const double code_norm2 = kCode * kCodeEntry * kCodeEntry;  // |H|^2 = 64
  const int slice = kCode / 2;                                 // H entries one KV head's value carries
  std::map<std::string, NamedTensor> t;

  NamedTensor emb = zeros({V, E}), head = zeros({V, E});
  for (int32_t id = 0; id < V; ++id) {
    const TokenCodes c = token_codes(o.seed, id);
    emb.at(id, kBias) = float(kBeta);
    if (id == oracle_vocab::kBos) emb.at(id, kIsBos) = float(std::sqrt(kContent + code_norm2));  // same norm
    for (int i = 0; i < kContent; ++i) emb.at(id, kE + i) = c.e[size_t(i)];
    for (int i = 0; i < kCode; ++i) {
      emb.at(id, kH + i) = float(kCodeEntry * c.h[size_t(i)]);
      head.at(id, kO + i) = float(kCodeEntry * c.h[size_t(i)]);  // logits_v = h_v . O
    }
  }
  t["model.embed_tokens.weight"] = std::move(emb);
  t["lm_head.weight"] = std::move(head);

  // Squared norms of every position's stream: layer 0 input, layer 1 input, final (after a match).
  const double norm2[3] = {kBeta * kBeta + kContent + code_norm2, kBeta * kBeta + 2 * kContent + code_norm2,
                           kBeta * kBeta + 2 * kContent + 2 * code_norm2};
  // Norm weights equal to the expected RMS leave the stream unscaled.
  t["model.norm.weight"] = filled(E, float(std::sqrt(norm2[2] / double(E))));

  size_t next_kernel = 0;
  for (int layer = 0; layer < 2; ++layer) {
    const std::string pre = fmt::format("model.layers.{}.", layer);
    t[pre + "input_layernorm.weight"] = filled(E, float(std::sqrt(norm2[layer] / double(E))));
    t[pre + "post_attention_layernorm.weight"] = filled(E, 1.0f);
    t[pre + "mlp.gate_proj.weight"] = zeros({kFf, E});
    t[pre + "mlp.up_proj.weight"] = zeros({kFf, E});
    t[pre + "mlp.down_proj.weight"] = zeros({E, kFf});
    NamedTensor wq = zeros({Hq * D, E}), wk = zeros({Hkv * D, E}), wv = zeros({Hkv * D, E}), wo = zeros({E, Hq * D});
    for (int64_t g = 0; g < Hkv; ++g) {
      const int64_t r = g * D;
      if (layer == 0) {
        for (int j = 0; j < kLayer0Pairs; ++j) wk.at(r + j, kBias) = float(1.0 / kBeta);
        for (int i = 0; i < kContent; ++i) wv.at(r + i, kE + i) = 1.0f;  // values carry E ...
        wv.at(r + kContent, kIsBos) = float(1.0 / std::sqrt(kContent + code_norm2));  // ... and 1 for BOS
      } else {
        for (int j = 0; j < kLayer1LocalPairs; ++j) wk.at(r + j, kBias) = float(1.0 / kBeta);
        wk.at(r + kSinkPair, kIsBos) = float(1.0 / std::sqrt(kContent + code_norm2));
        for (int j = 0; j < kContent / 2; ++j) {  // P in the content pairs: real parts, then imaginary parts
          wk.at(r + kContentPair + j, kP + j) = 1.0f;
          wk.at(r + kPairs + kContentPair + j, kP + kContent / 2 + j) = 1.0f;
        }
        const int s0 = int(g % 2) * slice;  // KV head g carries slice g % 2 of H
        for (int i = 0; i < slice; ++i) wv.at(r + i, kH + s0 + i) = 1.0f;
      }
    }
    // Writers per destination: prev heads share P; retrieval heads share their KV head's slice of O.
    int n_prev = 0;
    int n_slice[2] = {0, 0};
    for (int64_t h = 0; h < Hq; ++h) {
      const std::string& role = roles[size_t(layer)][size_t(h)].role;
      n_prev += role == "prev";
      if (role == "retrieval") ++n_slice[(h / G) % 2];
    }
    for (int64_t h = 0; h < Hq; ++h) {
      const HeadRole& role = roles[size_t(layer)][size_t(h)];
      const int64_t r = h * D;
      if (role.role == "retrieval") {
        wq.at(r + kSinkPair, kBias) = float(kSinkDot * kRetrievalScale / kBeta);
        for (int j = 0; j < kContent / 2; ++j) {
          wq.at(r + kContentPair + j, kE + j) = float(kRetrievalScale);
          wq.at(r + kPairs + kContentPair + j, kE + kContent / 2 + j) = float(kRetrievalScale);
        }
        const int sl = int((h / G) % 2);
        for (int i = 0; i < slice; ++i) wo.at(kO + sl * slice + i, r + i) = float(1.0 / n_slice[sl]);
      } else {
        const OracleKernel& k = kernels[next_kernel++];
        KVB_CHECK(k.layer == layer && k.role == role.role, "oracle: kernel order mismatch at layer {} head {}", layer, h);
        // Query pair j = s (u_j - i v_j) from the bias coordinate: logit = s f(d) / sqrt(D).
        for (size_t j = 0; j < k.u.size(); ++j) {
          wq.at(r + int64_t(j), kBias) = float(k.scale * k.u[j] / kBeta);
          wq.at(r + kPairs + int64_t(j), kBias) = float(-k.scale * k.v[j] / kBeta);
        }
        if (role.role == "prev") {
          for (int i = 0; i < kContent; ++i) wo.at(kP + i, r + i) = float(1.0 / n_prev);
          wo.at(kBos2, r + kContent) = float(sqrt_c / n_prev);
        }
      }
    }
    t[pre + "self_attn.q_proj.weight"] = std::move(wq);
    t[pre + "self_attn.k_proj.weight"] = std::move(wk);
    t[pre + "self_attn.v_proj.weight"] = std::move(wv);
    t[pre + "self_attn.o_proj.weight"] = std::move(wo);
  }
  return t;
}

// Safetensors: u64 header length, JSON header (sorted names, F32, offsets), padded with spaces to 8.
std::string safetensors_bytes(const std::map<std::string, NamedTensor>& tensors) {
  json header = json::object();
  header["__metadata__"] = {{"format", "pt"}};
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const size_t bytes = t.data.size() * sizeof(float);
    header[name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h += ' ';
  std::string out;
  out.reserve(8 + h.size() + offset);
  const uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out += char((n >> (8 * i)) & 0xff);
  out += h;
  for (const auto& [name, t] : tensors) {
    static_assert(sizeof(float) == 4);
    for (float f : t.data) {
      uint32_t u;
      std::memcpy(&u, &f, 4);
      for (int i = 0; i < 4; ++i) out += char((u >> (8 * i)) & 0xff);
    }
  }
  return out;
}

json tokenizer_json(const OracleOptions& o) {
  const char* specials[] = {"<s>", "</s>", "<sep>"};
  json added = json::array();
  for (int i = 0; i < 3; ++i)
    added.push_back({{"id", i}, {"content", specials[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  json vocab = json::object();
  for (int32_t id = 0; id < o.vocab; ++id)
    vocab[id < oracle_vocab::kFirstWord ? oracle_word(id) : "\xC4\xA0" + oracle_word(id)] = id;  // "Ġword"
  json bos_item = {{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}};
  json tok = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {bos_item, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair", {bos_item, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {0}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", true},
        {"vocab", vocab}, {"merges", json::array()}}},
  };
  return tok;
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  KVB_CHECK(f.good(), "{}: cannot open for writing", p.string());
  f.write(bytes.data(), std::streamsize(bytes.size()));
  f.close();
  KVB_CHECK(f.good(), "{}: write failed", p.string());
}

}  // namespace

std::string oracle_word(int32_t id) {
  static const char* const kSpecial[] = {"<s>", "</s>", "<sep>"};
  if (id >= 0 && id < oracle_vocab::kFirstWord) return kSpecial[id];
  static const char kCons[] = "bcdfghjklmnprstv";  // 16 x 5 vowels = 80 syllables
  static const char kVow[] = "aeiou";
  int x = id - oracle_vocab::kFirstWord;
  std::string w;
  for (int i = 0; i < 3; ++i) {
    const int s = x % 80;
    x /= 80;
    w += kCons[s / 5];
    w += kVow[s % 5];
  }
  return w;
}

std::string oracle_options_key(const OracleOptions& o) {
  return fmt::format("v{} seed={} vocab={} max_len={} heads={} kv_heads={}", kVersion, o.seed, o.vocab, o.max_len,
                     o.heads, o.kv_heads);
}

std::vector<OracleKernel> design_oracle_kernels(const OracleOptions& o) {
  check_options(o);
  const auto roles = parse_heads(o);
  std::vector<OracleKernel> out;
  std::map<std::pair<int, int>, OracleKernel> memo;  // (layer, window or -1 for prev)
  for (int layer = 0; layer < 2; ++layer)
    for (const auto& h : roles[size_t(layer)]) {
      if (h.role == "retrieval") continue;
      const auto key = std::make_pair(layer, h.role == "prev" ? -1 : h.window);
      auto it = memo.find(key);
      if (it == memo.end()) it = memo.emplace(key, design_kernel(h, layer, o)).first;
      out.push_back(it->second);
    }
  return out;
}

OracleReport write_oracle_checkpoint(const OracleOptions& o, const fs::path& dir) {
  check_options(o);
  const auto roles = parse_heads(o);
  OracleReport report;
  report.kernels = design_oracle_kernels(o);
  const auto tensors = build_tensors(o, roles, report.kernels);
  std::error_code ec;
  fs::create_directories(dir, ec);
  KVB_CHECK(fs::is_directory(dir), "{}: cannot create the output directory: {}", dir.string(), ec.message());

  json kernels = json::array();
  for (const auto& k : report.kernels)
    kernels.push_back({{"layer", k.layer}, {"role", k.role}, {"window", k.window}, {"margin", k.margin},
                       {"scale", k.scale}, {"lp_rounds", k.lp_rounds}});
  const int hq = int(roles[0].size());
  json config = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_size", kEmbd},
      {"intermediate_size", kFf},
      {"num_hidden_layers", 2},
      {"num_attention_heads", hq},
      {"num_key_value_heads", o.kv_heads},
      {"head_dim", kHeadDim},
      {"vocab_size", o.vocab},
      {"max_position_embeddings", o.max_len},
      {"rope_theta", kRopeTheta},
      {"rope_scaling", nullptr},
      {"rms_norm_eps", 1e-6},
      {"hidden_act", "silu"},
      {"attention_bias", false},
      {"mlp_bias", false},
      {"tie_word_embeddings", false},
      {"bos_token_id", oracle_vocab::kBos},
      {"eos_token_id", oracle_vocab::kEos},
      {"torch_dtype", "float32"},
      {"kvbench_oracle", {{"options", oracle_options_key(o)}, {"heads", o.heads}, {"kernels", kernels}}},
  };
  json tok_config = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                     {"bos_token", "<s>"},
                     {"eos_token", "</s>"},
                     {"add_bos_token", true},
                     {"add_eos_token", false},
                     {"model_max_length", o.max_len}};
  const std::string st = safetensors_bytes(tensors);
  report.safetensors_bytes = st.size();
  write_file(dir / "config.json", config.dump(2) + "\n");
  write_file(dir / "tokenizer.json", tokenizer_json(o).dump() + "\n");
  write_file(dir / "tokenizer_config.json", tok_config.dump(2) + "\n");
  write_file(dir / "model.safetensors", st);
  return report;
}

bool is_builtin_oracle(std::string_view name) {
  return name == "builtin:oracle" || name.rfind("builtin:oracle?", 0) == 0;
}

OracleOptions parse_builtin_oracle(std::string_view name) {
  KVB_CHECK(is_builtin_oracle(name), "'{}' is not a built-in model (builtin:oracle[?key=value&...])", name);
  OracleOptions o;
  const size_t q = name.find('?');
  if (q == std::string_view::npos) return o;
  std::string_view rest = name.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view kv = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const size_t eq = kv.find('=');
    KVB_CHECK(eq != std::string_view::npos, "{}: '{}' is not key=value", name, kv);
    const std::string key(kv.substr(0, eq)), value(kv.substr(eq + 1));
    auto integer = [&]() -> long long {
      char* end = nullptr;
      const long long v = std::strtoll(value.c_str(), &end, 10);
      KVB_CHECK(!value.empty() && *end == 0, "{}: {}='{}' is not an integer", name, key, value);
      return v;
    };
    if (key == "seed") o.seed = uint64_t(integer());
    else if (key == "vocab") o.vocab = int(integer());
    else if (key == "max_len") o.max_len = int(integer());
    else if (key == "kv_heads") o.kv_heads = int(integer());
    else if (key == "heads") o.heads = value;
    else KVB_FAIL("{}: unknown option '{}' (seed, vocab, max_len, heads, kv_heads)", name, key);
  }
  check_options(o);
  return o;
}

fs::path kvbench_cache_dir() {
  if (const char* d = std::getenv("KVB_CACHE_DIR"); d && *d) return fs::path(d);
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return fs::path(d) / "kvbench";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "kvbench";
  return fs::temp_directory_path() / "kvbench-cache";
}

fs::path builtin_oracle_path(std::string_view name) {
  const OracleOptions o = parse_builtin_oracle(name);
  const std::string key = oracle_options_key(o);
  const fs::path dir = kvbench_cache_dir() / ("oracle-" + fnv1a64_hex(key));
  std::error_code ec;
  if (fs::exists(dir / "complete", ec)) return dir;
  fs::create_directories(dir.parent_path(), ec);
  const fs::path tmp = dir.parent_path() / fmt::format(".{}.tmp-{}", dir.filename().string(), ::getpid());
  fs::remove_all(tmp, ec);
  write_oracle_checkpoint(o, tmp);
  write_file(tmp / "complete", key + "\n");
  fs::rename(tmp, dir, ec);
  if (ec) {  // another process finished first, or a stale incomplete directory is in the way
    if (!fs::exists(dir / "complete")) {
      fs::remove_all(dir, ec);
      fs::rename(tmp, dir, ec);
      KVB_CHECK(!ec, "{}: cannot move the built oracle into the cache: {}", dir.string(), ec.message());
    } else {
      fs::remove_all(tmp, ec);
    }
  }
  return dir;
}

}  // namespace kvb
