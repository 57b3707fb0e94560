// Integer matmul (--matmul int8); see int8_gemm.h for the arithmetic all kernels share.
//
// The VNNI kernel works on groups of 16 weight rows (one int32 lane per row) and tiles of up to 8
// tokens. Per 32-element block it holds the group's weights as 8 vectors of 64 unsigned bytes
// (vector v, lane r: the 4 quants of row r at columns 4v..4v+3), and for each token broadcasts 4
// activation bytes at a time into vpdpbusd, so one instruction does 16 rows x 4 columns. The repacked
// layout per (group, block): Q4_0/Q4_1 4 x 64 bytes (low nibbles quads 0..3, high nibbles quads
// 4..7), Q8_0 8 x 64 bytes (quant + 128); then 16 scales d_w and, for Q4_1, 16 mins m_w. The AVX2
// kernel reads the same layout (avx2_tile).
#include "backends/cpu/int8_gemm.h"

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm512_undefined_* placeholders.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <cpuid.h>
#include <immintrin.h>

#include "core/simd.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace kvb::cpu {

namespace {

constexpr int64_t kBlock = 32;   // elements per quantization block
constexpr int64_t kGroup = 16;   // weight rows per VNNI group (int32 lanes of a zmm register)
constexpr int64_t kTile = 8;     // tokens per VNNI tile

// Stored quant of element j (0..31) of one block, as the signed value the formula multiplies
// (Q4_0: nibble - 8; Q4_1: nibble; Q8_0: int8), and the block's scale / min.
int32_t block_quant(DType t, const uint8_t* blk, int j) {
  switch (t) {
    case DType::Q8_0:
      return int32_t(int8_t(blk[2 + j]));
    case DType::Q4_0: {
      const uint8_t b = blk[2 + (j & 15)];
      return int32_t(j < 16 ? b & 15 : b >> 4) - 8;
    }
    case DType::Q4_1: {
      const uint8_t b = blk[4 + (j & 15)];
      return int32_t(j < 16 ? b & 15 : b >> 4);
    }
    default:
      KVB_FAIL("int8 matmul: unsupported weight type {}", dtype_name(t));
  }
}
float block_scale(const uint8_t* blk) {
  uint16_t h;
  std::memcpy(&h, blk, 2);
  return fp16_to_f32(h);
}
float block_min(DType t, const uint8_t* blk) {
  if (t != DType::Q4_1) return 0.0f;
  uint16_t h;
  std::memcpy(&h, blk + 2, 2);
  return fp16_to_f32(h);
}
// Unsigned offset the VNNI layout adds to each quant (u = q + offset, 0..255).
int32_t vnni_offset(DType t) { return t == DType::Q8_0 ? 128 : t == DType::Q4_0 ? 8 : 0; }

// ---- activation quantization ----

void quantize_block_scalar(const float* x, int8_t* q, float& d, float& s, int32_t& qsum) {
  float amax = 0.0f;
  for (int j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
  d = amax / 127.0f;
  const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
  int32_t sum = 0;
  for (int j = 0; j < kBlock; ++j) {
    q[j] = int8_t(std::nearbyint(x[j] * id));
    sum += q[j];
  }
  qsum = sum;
  s = d * float(sum);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void quantize_block_avx512(const float* x, int8_t* q,
                                                                                         float& d, float& s,
                                                                                         int32_t& qsum) {
  const __m512 lo = _mm512_loadu_ps(x), hi = _mm512_loadu_ps(x + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));  // exact
  d = amax / 127.0f;
  const __m512 id = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
  const __m512i qlo = _mm512_cvtps_epi32(_mm512_mul_ps(lo, id));  // round to nearest even, as nearbyint
  const __m512i qhi = _mm512_cvtps_epi32(_mm512_mul_ps(hi, id));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(qlo));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtepi32_epi8(qhi));
  qsum = _mm512_reduce_add_epi32(_mm512_add_epi32(qlo, qhi));  // integer: any order is exact
  s = d * float(qsum);
}

KVB_TARGET_AVX2 void quantize_block_avx2(const float* x, int8_t* q, float& d, float& s, int32_t& qsum) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 v[4], m = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm256_loadu_ps(x + 8 * k);
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
  }
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float amax = _mm_cvtss_f32(m4);  // exact
  d = amax / 127.0f;
  const __m256 id = _mm256_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
  __m256i qi[4], sum = _mm256_setzero_si256();
  for (int k = 0; k < 4; ++k) {
    qi[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], id));  // round to nearest even, as nearbyint
    sum = _mm256_add_epi32(sum, qi[k]);
  }
  // int32 -> int8 (|q| <= 127: no saturation), then undo the lane interleaving of the packs.
  const __m256i w01 = _mm256_packs_epi32(qi[0], qi[1]), w23 = _mm256_packs_epi32(qi[2], qi[3]);
  const __m256i b = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(w01, w23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), b);
  __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
  qsum = _mm_cvtsi128_si32(s4);  // integer: any order is exact
  s = d * float(qsum);
}

// ---- portable kernel: straight from the stored blocks ----

void int8_linear_portable(const Q8Activations& a, const WeightMatrix& w, float* y) {
  const DType t = w.dtype();
  const int64_t out = w.rows(), nb = w.cols() / kBlock, bb = dtype_block_bytes(t);
  const bool has_min = t == DType::Q4_1;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < out; ++r) {
    const uint8_t* row = w.packed_data() + r * w.row_bytes();
    int32_t wq[kBlock];
    for (int64_t tok = 0; tok < a.n; ++tok) {
      const int8_t* qa = a.q.data() + tok * a.cols;
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = row + b * bb;
        int32_t isum = 0;
        for (int j = 0; j < kBlock; ++j) wq[j] = block_quant(t, blk, j);
        for (int j = 0; j < kBlock; ++j) isum += wq[j] * int32_t(qa[b * kBlock + j]);
        const float scale = block_scale(blk) * a.d[tok * nb + b];
        acc = std::fma(float(isum), scale, acc);
        if (has_min) acc = std::fma(block_min(t, blk), a.s[tok * nb + b], acc);
      }
      y[tok * out + r] = acc;
    }
  }
}

// ---- VNNI kernel ----

struct VnniPacked {
  DType type = DType::F32;
  int64_t groups = 0, nb = 0;
  int64_t quant_bytes = 0;       // per (group, block): 256 (4-bit) or 512 (Q8_0)
  std::vector<uint8_t> quants;   // [groups, nb, quant_bytes]
  std::vector<float> scales;     // [groups, nb, 16]
  std::vector<float> mins;       // [groups, nb, 16] (Q4_1 only)
};

std::shared_ptr<const VnniPacked> pack_for_vnni(const WeightMatrix& w) {
  auto p = std::make_shared<VnniPacked>();
  const DType t = w.dtype();
  const int64_t out = w.rows(), bb = dtype_block_bytes(t);
  const int32_t off = vnni_offset(t);
  p->type = t;
  p->groups = (out + kGroup - 1) / kGroup;
  p->nb = w.cols() / kBlock;
  p->quant_bytes = t == DType::Q8_0 ? 512 : 256;
  p->quants.assign(size_t(p->groups * p->nb * p->quant_bytes), 0);
  p->scales.assign(size_t(p->groups * p->nb * kGroup), 0.0f);
  if (t == DType::Q4_1) p->mins.assign(p->scales.size(), 0.0f);
  // Padding rows (beyond `out`) stay zero: quants of 0 with scale 0 contribute nothing, and their
  // lanes are never stored.
#pragma omp parallel for schedule(static)
  for (int64_t g = 0; g < p->groups; ++g)
    for (int64_t b = 0; b < p->nb; ++b) {
      uint8_t* dst = p->quants.data() + (g * p->nb + b) * p->quant_bytes;
      for (int64_t lane = 0; lane < kGroup && g * kGroup + lane < out; ++lane) {
        const uint8_t* blk = w.packed_data() + (g * kGroup + lane) * w.row_bytes() + b * bb;
        p->scales[size_t((g * p->nb + b) * kGroup + lane)] = block_scale(blk);
        if (!p->mins.empty()) p->mins[size_t((g * p->nb + b) * kGroup + lane)] = block_min(t, blk);
        for (int j = 0; j < kBlock; ++j) {
          const int quad = j / 4, within = j % 4;
          const uint8_t u = uint8_t(block_quant(t, blk, j) + off);
          if (t == DType::Q8_0) {
            dst[quad * 64 + lane * 4 + within] = u;
          } else {
            uint8_t& byte = dst[(quad % 4) * 64 + lane * 4 + within];
            byte = uint8_t(byte | (quad < 4 ? u : uint8_t(u << 4)));
          }
        }
      }
    }
  return p;
}

// One group of 16 rows x T tokens (activation rows t0 .. t0+T-1, their blocks a_b0 .. a_b0+nb-1);
// writes y[t * ldy + r0 .. r0 + valid) for t < T, rows past `out` masked.
template <int T, DType kType>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))) void vnni_tile(
    const VnniPacked& p, int64_t g, const Q8Activations& a, int64_t t0, int64_t a_b0, float* y, int64_t ldy,
    int64_t out) {
  const int64_t nb = p.nb, cols = a.cols, a_nb = a.cols / kBlock;
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* wq = p.quants.data() + (g * nb + b) * p.quant_bytes;
    __m512i wv[8];
    if constexpr (kType == DType::Q8_0) {
      for (int v = 0; v < 8; ++v) wv[v] = _mm512_loadu_si512(wq + 64 * v);
    } else {
      for (int v = 0; v < 4; ++v) {
        const __m512i raw = _mm512_loadu_si512(wq + 64 * v);
        wv[v] = _mm512_and_si512(raw, nibble);
        wv[v + 4] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), nibble);
      }
    }
    const __m512 dw = _mm512_loadu_ps(p.scales.data() + (g * nb + b) * kGroup);
    __m512 mw = _mm512_setzero_ps();
    if constexpr (kType == DType::Q4_1) mw = _mm512_loadu_ps(p.mins.data() + (g * nb + b) * kGroup);
    for (int t = 0; t < T; ++t) {
      const int64_t tok = t0 + t;
      const int8_t* qa = a.q.data() + tok * cols + (a_b0 + b) * kBlock;
      const int64_t ab = tok * a_nb + a_b0 + b;
      __m512i isum = _mm512_setzero_si512();
      for (int v = 0; v < 8; ++v) {
        int32_t quad;
        std::memcpy(&quad, qa + 4 * v, 4);
        isum = _mm512_dpbusd_epi32(isum, wv[v], _mm512_set1_epi32(quad));
      }
      if constexpr (kType != DType::Q4_1)  // remove the unsigned offset: sum (q + off) q_a - off sum q_a
        isum = _mm512_sub_epi32(isum, _mm512_set1_epi32(vnni_offset(kType) * a.qsum[ab]));
      const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(a.d[ab]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, acc[t]);
      if constexpr (kType == DType::Q4_1) acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(a.s[ab]), acc[t]);
    }
  }
  const int64_t r0 = g * kGroup, valid = std::min<int64_t>(kGroup, out - r0);
  const __mmask16 mask = __mmask16((1u << valid) - 1u);
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * ldy + r0, mask, acc[t]);
}

// The 256-bit kernels (AVX2, and AVX-VNNI where the CPU has it without AVX-512): the same packed groups, each 64-byte vector as two 256-bit halves (rows
// 0-7 and 8-15). vpdpbusd becomes vpmaddubsw (unsigned x signed bytes, pairs summed to int16) and
// vpmaddwd with ones (pairs of int16 to int32), as llama.cpp's AVX2 path does. No int16 sum can
// saturate: Q4 quants are at most 15 (2 x 15 x 127), and Q8_0 weights are multiplied as |w| x
// (a * sign(w)) (2 x 128 x 127 = 32512). The integer sums are exact and the float steps are those of
// the other kernels, so the bits are the same.
// AVX-VNNI replaces the vpmaddubsw + vpmaddwd pair with one vpdpbusd on 256-bit vectors: the same
// exact integer sums, so again the same bits.
#define KVB_TILE_NAME avx2_tile
#define KVB_TILE_TARGET "avx2,fma"
#define KVB_TILE_DOT(acc, u, s) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones))
#include "backends/cpu/int8_tile_256.inc"
#undef KVB_TILE_NAME
#undef KVB_TILE_TARGET
#undef KVB_TILE_DOT
#define KVB_TILE_NAME avx_vnni_tile
#define KVB_TILE_TARGET "avx2,fma,avxvnni"
#define KVB_TILE_DOT(acc, u, s) acc = _mm256_dpbusd_avx_epi32(acc, u, s)
#include "backends/cpu/int8_tile_256.inc"
#undef KVB_TILE_NAME
#undef KVB_TILE_TARGET
#undef KVB_TILE_DOT

// One packed tile of up to kTile tokens with the VNNI or the AVX2 kernel.
template <DType kType>
void packed_tile_n(Int8Kernel kernel, int tokens, const VnniPacked& p, int64_t g, const Q8Activations& a, int64_t t0,
                   int64_t a_b0, float* y, int64_t ldy, int64_t out) {
  auto tile = [&]<int T>() {
    if (kernel == Int8Kernel::Avx512Vnni)
      vnni_tile<T, kType>(p, g, a, t0, a_b0, y, ldy, out);
    else if (kernel == Int8Kernel::AvxVnni)
      avx_vnni_tile<T, kType>(p, g, a, t0, a_b0, y, ldy, out);
    else
      avx2_tile<T, kType>(p, g, a, t0, a_b0, y, ldy, out);
  };
  switch (tokens) {
    case 8: return tile.template operator()<8>();
    case 7: return tile.template operator()<7>();
    case 6: return tile.template operator()<6>();
    case 5: return tile.template operator()<5>();
    case 4: return tile.template operator()<4>();
    case 3: return tile.template operator()<3>();
    case 2: return tile.template operator()<2>();
    default: return tile.template operator()<1>();
  }
}

void packed_tile(Int8Kernel kernel, DType type, int tokens, const VnniPacked& p, int64_t g, const Q8Activations& a,
                 int64_t t0, int64_t a_b0, float* y, int64_t ldy, int64_t out) {
  switch (type) {
    case DType::Q4_0: return packed_tile_n<DType::Q4_0>(kernel, tokens, p, g, a, t0, a_b0, y, ldy, out);
    case DType::Q4_1: return packed_tile_n<DType::Q4_1>(kernel, tokens, p, g, a, t0, a_b0, y, ldy, out);
    default: return packed_tile_n<DType::Q8_0>(kernel, tokens, p, g, a, t0, a_b0, y, ldy, out);
  }
}

void int8_linear_packed(const Q8Activations& a, const WeightMatrix& w, float* y, Int8Kernel kernel) {
  const auto p = std::static_pointer_cast<const VnniPacked>(
      w.derived([&w] { return std::static_pointer_cast<const void>(pack_for_vnni(w)); }));
  KVB_CHECK(p->type == w.dtype(), "int8 matmul: cached repack is for {}, weight is {}", dtype_name(p->type),
            dtype_name(w.dtype()));
  const int64_t out = w.rows(), tiles = (a.n + kTile - 1) / kTile, groups = p->groups;
  // Token tile outer, row group inner: a tile's activations stay in L1 while the weights stream from L2.
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < tiles * groups; ++i) {
    const int64_t tile = i / groups, g = i % groups, t0 = tile * kTile;
    const int tokens = int(std::min(kTile, a.n - t0));
    packed_tile(kernel, p->type, tokens, *p, g, a, t0, 0, y + t0 * out, out, out);
  }
}

}  // namespace

std::string_view matmul_mode_name(MatmulMode m) { return m == MatmulMode::Int8 ? "int8" : "f32"; }

MatmulMode parse_matmul_mode(std::string_view s) {
  if (s == "f32") return MatmulMode::F32;
  if (s == "int8") return MatmulMode::Int8;
  KVB_FAIL("matmul '{}': expected f32 (dequantize + float32 SGEMM, the default) or int8 (Q4_0/Q4_1/Q8_0 weights x "
           "int8 activations)",
           s);
}

bool int8_gemm_supports(DType t) { return t == DType::Q4_0 || t == DType::Q4_1 || t == DType::Q8_0; }

bool cpu_has_avx512_vnni() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vnni");
  return has;
}

bool cpu_has_avx_vnni() {
  // CPUID leaf 7 subleaf 1, EAX bit 4 (GCC 12 and clang 14 disagree on __builtin_cpu_supports("avxvnni")).
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return cpu_has_avx2_fma() && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 4 & 1u);
  }();
  return has;
}

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

std::string_view int8_kernel_name(Int8Kernel k) {
  switch (k) {
    case Int8Kernel::Avx512Vnni: return "avx512_vnni";
    case Int8Kernel::AvxVnni: return "avx_vnni";
    case Int8Kernel::Avx2: return "avx2";
    case Int8Kernel::Portable: return "portable";
    default: return "auto";
  }
}

bool int8_kernel_runs_here(Int8Kernel k) {
  return k == Int8Kernel::Portable || (k == Int8Kernel::Avx2 && cpu_has_avx2_fma()) ||
         (k == Int8Kernel::AvxVnni && cpu_has_avx_vnni()) || (k == Int8Kernel::Avx512Vnni && cpu_has_avx512_vnni());
}

Int8Kernel resolve_int8_kernel(Int8Kernel k) {
  if (k == Int8Kernel::Auto) {
    static const Int8Kernel chosen = [] {
      const char* env = std::getenv("KVB_INT8_KERNEL");
      if (env && *env) {
        for (Int8Kernel c : {Int8Kernel::Portable, Int8Kernel::Avx2, Int8Kernel::AvxVnni, Int8Kernel::Avx512Vnni})
          if (int8_kernel_name(c) == env) return c;
        return Int8Kernel::Auto;  // unknown: reported below, on every use
      }
      // KVB_SIMD (simd.h) caps the choice too: KVB_SIMD=avx2 runs what a plain AVX2 CPU would (AVX-VNNI
      // only when KVB_SIMD leaves the CPU's own level: an AVX2 CPU with AVX-VNNI, e.g. Alder Lake).
      const SimdLevel cap = simd_level();
      const bool uncapped = cap == cpu_simd_level();
      return cpu_has_avx512_vnni() && cap >= SimdLevel::Avx512      ? Int8Kernel::Avx512Vnni
             : cpu_has_avx_vnni() && uncapped && cap >= SimdLevel::Avx2 ? Int8Kernel::AvxVnni
             : cpu_has_avx2_fma() && cap >= SimdLevel::Avx2             ? Int8Kernel::Avx2
                                                                        : Int8Kernel::Portable;
    }();
    KVB_CHECK(chosen != Int8Kernel::Auto, "KVB_INT8_KERNEL={}: expected portable, avx2, avx_vnni or avx512_vnni",
              std::getenv("KVB_INT8_KERNEL"));
    k = chosen;
  }
  KVB_CHECK(int8_kernel_runs_here(k), "int8 matmul: the {} kernel does not run on this CPU{}", int8_kernel_name(k),
            std::getenv("KVB_INT8_KERNEL") ? " (KVB_INT8_KERNEL)" : "");
  return k;
}

std::string_view int8_kernel_name() { return int8_kernel_name(resolve_int8_kernel(Int8Kernel::Auto)); }

std::string matmul_description(MatmulMode m) {
  if (m == MatmulMode::F32) return "f32";
  return "int8 (" + std::string(int8_kernel_name()) + ")";
}

void quantize_q8(const float* x, int64_t n, int64_t cols, Q8Activations& out, Int8Kernel kernel) {
  KVB_CHECK(cols % kBlock == 0, "int8 matmul: row length {} is not a multiple of {}", cols, kBlock);
  // The quantizers give the same bits (amax and the integer sum are exact, rounding is nearest-even).
  const Int8Kernel k = resolve_int8_kernel(kernel);
  const int64_t nb = cols / kBlock;
  out.n = n;
  out.cols = cols;
  out.q.resize(size_t(n * cols));
  out.d.resize(size_t(n * nb));
  out.s.resize(size_t(n * nb));
  out.qsum.resize(size_t(n * nb));
#pragma omp parallel for schedule(static) if (n > 4)
  for (int64_t i = 0; i < n * nb; ++i) {
    const int64_t off = i * kBlock;  // rows are contiguous, so block i starts at i * 32
    if (k == Int8Kernel::Avx512Vnni)
      quantize_block_avx512(x + off, out.q.data() + off, out.d[i], out.s[i], out.qsum[i]);
    else if (k == Int8Kernel::Avx2 || k == Int8Kernel::AvxVnni)
      quantize_block_avx2(x + off, out.q.data() + off, out.d[i], out.s[i], out.qsum[i]);
    else
      quantize_block_scalar(x + off, out.q.data() + off, out.d[i], out.s[i], out.qsum[i]);
  }
}

void int8_linear(const Q8Activations& a, const WeightMatrix& w, float* y, Int8Kernel kernel) {
  KVB_CHECK(int8_gemm_supports(w.dtype()), "int8 matmul: weight type {} is not Q4_0, Q4_1 or Q8_0",
            dtype_name(w.dtype()));
  KVB_CHECK(a.cols == w.cols(), "int8 matmul: activations have {} columns, the weight has {}", a.cols, w.cols());
  const Int8Kernel k = resolve_int8_kernel(kernel);
  if (k == Int8Kernel::Portable)
    int8_linear_portable(a, w, y);
  else
    int8_linear_packed(a, w, y, k);
}

// ---- int8 attention scores ----

void Int8Keys::quantize(const float* K, int64_t T, int64_t D) {
  KVB_CHECK(D % kBlock == 0, "int8 attention scores: head dim {} is not a multiple of {}", D, kBlock);
  keys = T;
  head_dim = D;
  quantize_q8(K, T, D, q8, Int8Kernel::Auto);
  if (resolve_int8_kernel(Int8Kernel::Auto) == Int8Kernel::Portable) {
    packed.reset();
    return;
  }
  // The VNNI layout of a Q8_0 weight with these rows: quants + 128 in groups of 16 keys, float scales.
  auto p = std::make_shared<VnniPacked>();
  p->type = DType::Q8_0;
  p->groups = (T + kGroup - 1) / kGroup;
  p->nb = D / kBlock;
  p->quant_bytes = 512;
  p->quants.assign(size_t(p->groups * p->nb * p->quant_bytes), 0);
  p->scales.assign(size_t(p->groups * p->nb * kGroup), 0.0f);
#pragma omp parallel for schedule(static) if (T > 256)
  for (int64_t t = 0; t < T; ++t) {
    const int64_t g = t / kGroup, lane = t % kGroup;
    for (int64_t b = 0; b < p->nb; ++b) {
      uint8_t* dst = p->quants.data() + (g * p->nb + b) * p->quant_bytes;
      p->scales[size_t((g * p->nb + b) * kGroup + lane)] = q8.d[size_t(t * p->nb + b)];
      const int8_t* src = q8.q.data() + t * D + b * kBlock;
      for (int j = 0; j < kBlock; ++j) dst[(j / 4) * 64 + lane * 4 + j % 4] = uint8_t(int32_t(src[j]) + 128);
    }
  }
  packed = std::move(p);
}

void int8_scores(const Q8Activations& q, int64_t i0, int64_t m, int64_t block0, const Int8Keys& k, int64_t C,
                 float* S) {
  KVB_CHECK(C <= k.keys && block0 + k.head_dim / kBlock <= q.cols / kBlock && i0 + m <= q.n,
            "int8 attention scores: {} keys of {}, queries [{}, {}) of {}, blocks from {}", C, k.keys, i0, i0 + m,
            q.n, block0);
  const int64_t nb = k.head_dim / kBlock, qnb = q.cols / kBlock;
  if (k.packed) {
    const auto& p = *std::static_pointer_cast<const VnniPacked>(k.packed);
    for (int64_t t0 = 0; t0 < m; t0 += kTile)
      for (int64_t g = 0; g * kGroup < C; ++g)
        packed_tile(resolve_int8_kernel(Int8Kernel::Auto), DType::Q8_0,
                    int(std::min(kTile, m - t0)), p, g, q, i0 + t0, block0, S + t0 * C, C, C);
    return;
  }
  // Portable: the same integer sums and the same float steps, so the same bits.
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < C; ++j) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const int8_t* qa = q.q.data() + (i0 + i) * q.cols + (block0 + b) * kBlock;
        const int8_t* qk = k.q8.q.data() + j * k.head_dim + b * kBlock;
        int32_t isum = 0;
        for (int e = 0; e < kBlock; ++e) isum += int32_t(qa[e]) * int32_t(qk[e]);
        acc = std::fma(float(isum), k.q8.d[size_t(j * nb + b)] * q.d[size_t((i0 + i) * qnb + block0 + b)], acc);
      }
      S[i * C + j] = acc;
    }
}

}  // namespace kvb::cpu
