// PCA basis artifact and the symmetric eigen-solver; see pca_basis.h.
#include "kv/pca_basis.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>

#include "core/error.h"

namespace kvb {

namespace {
constexpr char kMagic[8] = {'K', 'V', 'B', 'P', 'C', 'A', '0', '1'};
}

PcaBasis read_pca_basis(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  KVB_CHECK(f.good(), "PCA basis {}: cannot open (write one with `kvbench calibrate loki`)", path);
  char magic[8] = {};
  f.read(magic, 8);
  KVB_CHECK(f.good() && std::memcmp(magic, kMagic, 8) == 0, "PCA basis {}: not a kvbench PCA basis (bad magic)", path);
  int32_t hdr[4] = {};
  f.read(reinterpret_cast<char*>(hdr), sizeof hdr);
  KVB_CHECK(f.good(), "PCA basis {}: truncated header", path);
  PcaBasis b;
  b.n_layers = hdr[0];
  b.n_kv_heads = hdr[1];
  b.head_dim = hdr[2];
  KVB_CHECK(b.n_layers > 0 && b.n_layers <= 4096 && b.n_kv_heads > 0 && b.n_kv_heads <= 4096 && b.head_dim > 0 &&
                b.head_dim <= 1024 && hdr[3] >= 0 && hdr[3] <= 4096,
            "PCA basis {}: header out of range (layers {}, KV heads {}, head dim {}, name length {})", path, hdr[0],
            hdr[1], hdr[2], hdr[3]);
  b.model.resize(size_t(hdr[3]));
  f.read(b.model.data(), hdr[3]);
  const size_t heads = size_t(b.n_layers) * size_t(b.n_kv_heads), D = size_t(b.head_dim);
  b.eigenvalues.resize(heads * D);
  b.mean.resize(heads * D);
  b.components.resize(heads * D * D);
  for (size_t h = 0; h < heads; ++h) {
    f.read(reinterpret_cast<char*>(b.eigenvalues.data() + h * D), std::streamsize(D * sizeof(float)));
    f.read(reinterpret_cast<char*>(b.mean.data() + h * D), std::streamsize(D * sizeof(float)));
    f.read(reinterpret_cast<char*>(b.components.data() + h * D * D), std::streamsize(D * D * sizeof(float)));
  }
  KVB_CHECK(f.good(), "PCA basis {}: truncated ({} layers x {} KV heads x head dim {} expected)", path, b.n_layers,
            b.n_kv_heads, b.head_dim);
  f.peek();
  KVB_CHECK(f.eof(), "PCA basis {}: trailing bytes after {} layers x {} KV heads", path, b.n_layers, b.n_kv_heads);
  return b;
}

void write_pca_basis(const std::string& path, const PcaBasis& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  KVB_CHECK(f.good(), "PCA basis {}: cannot write", path);
  f.write(kMagic, 8);
  const int32_t hdr[4] = {b.n_layers, b.n_kv_heads, b.head_dim, int32_t(b.model.size())};
  f.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
  f.write(b.model.data(), std::streamsize(b.model.size()));
  const size_t heads = size_t(b.n_layers) * size_t(b.n_kv_heads), D = size_t(b.head_dim);
  for (size_t h = 0; h < heads; ++h) {
    f.write(reinterpret_cast<const char*>(b.eigenvalues.data() + h * D), std::streamsize(D * sizeof(float)));
    f.write(reinterpret_cast<const char*>(b.mean.data() + h * D), std::streamsize(D * sizeof(float)));
    f.write(reinterpret_cast<const char*>(b.components.data() + h * D * D), std::streamsize(D * D * sizeof(float)));
  }
  KVB_CHECK(f.good(), "PCA basis {}: write failed", path);
}

void symmetric_eigen(std::vector<double> a, int n, std::vector<double>& values, std::vector<double>& vectors) {
  // v starts as the identity; each rotation zeroes a[p][q] (Golub & Van Loan, Algorithm 8.5.2);
  // sweeps until the off-diagonal mass is negligible.
  std::vector<double> v(size_t(n) * size_t(n), 0.0);
  for (int i = 0; i < n; ++i) v[size_t(i) * n + i] = 1.0;
  auto A = [&](int i, int j) -> double& { return a[size_t(i) * size_t(n) + size_t(j)]; };
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0, diag = 0.0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) (i == j ? diag : off) += A(i, j) * A(i, j);
    if (off <= 1e-30 * std::max(diag, 1e-300)) break;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) {
        if (A(p, q) == 0.0) continue;
        const double theta = (A(q, q) - A(p, p)) / (2.0 * A(p, q));
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int k = 0; k < n; ++k) {  // A <- A J (columns p, q)
          const double akp = A(k, p), akq = A(k, q);
          A(k, p) = c * akp - s * akq;
          A(k, q) = s * akp + c * akq;
        }
        for (int k = 0; k < n; ++k) {  // A <- J^T A (rows p, q)
          const double apk = A(p, k), aqk = A(q, k);
          A(p, k) = c * apk - s * aqk;
          A(q, k) = s * apk + c * aqk;
        }
        for (int k = 0; k < n; ++k) {  // V <- V J
          double& vkp = v[size_t(k) * n + p];
          double& vkq = v[size_t(k) * n + q];
          const double x = vkp, y = vkq;
          vkp = c * x - s * y;
          vkq = s * x + c * y;
        }
      }
  }
  std::vector<int> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return A(x, x) > A(y, y); });
  values.resize(size_t(n));
  vectors.assign(size_t(n) * size_t(n), 0.0);
  for (int i = 0; i < n; ++i) {
    values[size_t(i)] = A(order[size_t(i)], order[size_t(i)]);
    for (int k = 0; k < n; ++k) vectors[size_t(i) * n + k] = v[size_t(k) * n + order[size_t(i)]];  // column -> row
  }
}

void KeyMoments::add(const float* k, int64_t D) {
  if (sum.empty()) {
    sum.assign(size_t(D), 0.0);
    outer.assign(size_t(D * D), 0.0);
  }
  ++n;
  for (int64_t a = 0; a < D; ++a) {
    sum[size_t(a)] += k[a];
    for (int64_t b = 0; b < D; ++b) outer[size_t(a * D + b)] += double(k[a]) * double(k[b]);
  }
}

void KeyMoments::pca(int64_t D, float* eigenvalues, float* mean, float* components) const {
  KVB_CHECK(n >= 2, "PCA of keys: {} rows accumulated, at least 2 needed", n);
  std::vector<double> cov(size_t(D * D));
  for (int64_t a = 0; a < D; ++a) mean[a] = float(sum[size_t(a)] / double(n));
  for (int64_t a = 0; a < D; ++a)
    for (int64_t b = 0; b < D; ++b) {
      const double ma = sum[size_t(a)] / double(n), mb = sum[size_t(b)] / double(n);
      cov[size_t(a * D + b)] = (outer[size_t(a * D + b)] - double(n) * ma * mb) / double(n - 1);
    }
  std::vector<double> values, vectors;
  symmetric_eigen(std::move(cov), int(D), values, vectors);
  for (int64_t i = 0; i < D; ++i) eigenvalues[i] = float(values[size_t(i)]);
  for (int64_t i = 0; i < D * D; ++i) components[i] = float(vectors[size_t(i)]);
}

void add_cache_keys(const KVCache& cache, std::vector<KeyMoments>& moments) {
  const int L = cache.n_layers(), Hkv = cache.n_kv_heads();
  const int64_t D = cache.head_dim();
  moments.resize(size_t(L) * size_t(Hkv));
  for (int l = 0; l < L; ++l)
    for (int g = 0; g < Hkv; ++g) {
      const HeadRows rows = cache.rows(l, g);
      for (int64_t j = 0; j < rows.size(); ++j) moments[size_t(l) * size_t(Hkv) + size_t(g)].add(rows.key(j), D);
    }
}

PcaBasis pca_basis_from(const std::vector<KeyMoments>& moments, int n_layers, int n_kv_heads, int head_dim,
                        std::string model) {
  KVB_CHECK(moments.size() == size_t(n_layers) * size_t(n_kv_heads), "PCA basis: {} heads of moments, expected {}",
            moments.size(), size_t(n_layers) * size_t(n_kv_heads));
  PcaBasis b;
  b.n_layers = n_layers;
  b.n_kv_heads = n_kv_heads;
  b.head_dim = head_dim;
  b.model = std::move(model);
  const size_t D = size_t(head_dim);
  b.eigenvalues.resize(moments.size() * D);
  b.mean.resize(moments.size() * D);
  b.components.resize(moments.size() * D * D);
  for (size_t h = 0; h < moments.size(); ++h)
    moments[h].pca(head_dim, b.eigenvalues.data() + h * D, b.mean.data() + h * D, b.components.data() + h * D * D);
  return b;
}

}  // namespace kvb
