// Per-(layer, KV head) principal-component bases of the cached keys: a calibration artifact (seam
// (e) of docs/methods-wave2) written by `kvbench calibrate loki` and read by methods/loki.cpp (Loki,
// Singhania et al. 2024, arXiv:2406.02542: PCA of post-RoPE keys; the mean is stored, not subtracted
// when projecting). Binary file, little-endian:
//   "KVBPCA01" | int32 L, Hkv, D | int32 length of the model name, its bytes |
//   per (layer, KV head), layer-major: float32 eigenvalues [D] (descending), mean [D], components [D, D]
//   (row c = the c-th principal direction, unit length).
// Tests: tests/test_selectors.cpp (PcaBasis.*).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kv/kv_cache.h"

namespace kvb {

struct PcaBasis {
  int n_layers = 0, n_kv_heads = 0, head_dim = 0;
  std::string model;
  std::vector<float> eigenvalues;  // [L, Hkv, D]
  std::vector<float> mean;         // [L, Hkv, D]
  std::vector<float> components;   // [L, Hkv, D, D]
  const float* component_rows(int layer, int kv_head) const {
    return components.data() + (size_t(layer) * size_t(n_kv_heads) + size_t(kv_head)) * size_t(head_dim * head_dim);
  }
  const float* eigenvalues_of(int layer, int kv_head) const {
    return eigenvalues.data() + (size_t(layer) * size_t(n_kv_heads) + size_t(kv_head)) * size_t(head_dim);
  }
};

// kvb::Error naming the file for a missing / unreadable / truncated file or a bad header.
PcaBasis read_pca_basis(const std::string& path);
void write_pca_basis(const std::string& path, const PcaBasis& b);

// Eigen-decomposition of a symmetric n x n matrix a (row-major) by cyclic Jacobi rotations:
// values descending, vectors [n, n] with row i the unit eigenvector of values[i].
void symmetric_eigen(std::vector<double> a, int n, std::vector<double>& values, std::vector<double>& vectors);

// First and second moments of one (layer, KV head)'s keys, accumulated row by row.
struct KeyMoments {
  int64_t n = 0;
  std::vector<double> sum, outer;  // [D], [D, D]
  void add(const float* k, int64_t D);
  // The PCA of the accumulated keys (centered covariance): eigenvalues, mean, components.
  void pca(int64_t D, float* eigenvalues, float* mean, float* components) const;
};

// Adds every key (post-RoPE, dequantized when KIVI-encoded) of every (layer, KV head) of `cache` to
// moments [L * Hkv], layer-major.
void add_cache_keys(const KVCache& cache, std::vector<KeyMoments>& moments);
// The basis of accumulated moments [L * Hkv] (kvb::Error when a head has fewer than 2 keys).
PcaBasis pca_basis_from(const std::vector<KeyMoments>& moments, int n_layers, int n_kv_heads, int head_dim,
                        std::string model);

}  // namespace kvb
