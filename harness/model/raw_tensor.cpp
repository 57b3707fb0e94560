// Checkpoint dtypes and their conversion to float32: IEEE fp16, bfloat16 and ggml's block formats.
// Block layouts and arithmetic follow ggml's reference dequantize_row_* (ggml-quants.c), so that
// results equal gguf-py's dequantize() bit for bit. Exercise: ctest -R Quant (tests/test_quant.cpp).
#include "model/raw_tensor.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/error.h"
#include "core/simd.h"

// Exactness: an fp16 value has at most 11 significant bits, an int8 quant or scale 8, a 6-bit
// scale / min 6 and a nibble 4. So d * q (Q8_0, Q4_0, Q4_1: <= 19 bits), d * sc and dmin * m (Q4_K:
// <= 17) and (d * sc) * q (Q4_K: <= 21) are exact in float32's 24 bits, and the one addition in
// Q4_1 / Q4_K rounds once whether or not the compiler fuses it into an FMA. Q6_K's (d * sc) * q may
// round but has no addition. Hence results equal ggml's C code and gguf-py's numpy bit for bit.

namespace kvb {

static_assert(std::endian::native == std::endian::little, "kvbench reads little-endian checkpoints in place");

namespace {

struct DTypeInfo {
  const char* name;
  int64_t block_elems;
  int64_t block_bytes;
};

// Indexed by DType. Block byte sizes: Q8_0 = fp16 d + 32 int8; Q4_0 = fp16 d + 16 bytes of nibbles;
// Q4_1 = fp16 d + fp16 m + 16 bytes; Q4_K = fp16 d + fp16 dmin + 12 packed 6-bit scales/mins + 128;
// Q6_K = 128 low nibbles + 64 bytes of high 2-bit pairs + 16 int8 scales + fp16 d.
constexpr DTypeInfo kDTypes[] = {
    {"F32", 1, 4},    {"F16", 1, 2},    {"BF16", 1, 2},     {"Q8_0", 32, 34},
    {"Q4_0", 32, 18}, {"Q4_1", 32, 20}, {"Q4_K", 256, 144}, {"Q6_K", 256, 210},
};

const DTypeInfo& info(DType t) {
  auto i = size_t(t);
  KVB_CHECK(i < std::size(kDTypes), "internal: unknown DType {}", i);
  return kDTypes[i];
}

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

inline float load_f16(const uint8_t* p) { return fp16_to_f32(load_u16(p)); }

// Q8_0: 32 elements, y = q * d.
KVB_ALWAYS_INLINE void dequant_q8_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const auto* q = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = float(q[j]) * d;
}

// Q4_0: 32 elements; byte j holds element j (low nibble) and element j + 16 (high nibble); y = (q - 8) * d.
KVB_ALWAYS_INLINE void dequant_q4_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = float(int(qs[j] & 0x0F) - 8) * d;
    y[j + 16] = float(int(qs[j] >> 4) - 8) * d;
  }
}

// Q4_1: as Q4_0 without the offset, plus a per-block minimum: y = q * d + m.
KVB_ALWAYS_INLINE void dequant_q4_1(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float m = load_f16(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = float(qs[j] & 0x0F) * d + m;
    y[j + 16] = float(qs[j] >> 4) * d + m;
  }
}

// Q4_K / Q5_K scale packing: 8 sub-blocks, each with a 6-bit scale and a 6-bit min in 12 bytes.
// Sub-blocks 0-3 use the low 6 bits of bytes 0-3 (scales) and 4-7 (mins); sub-blocks 4-7 take their
// low 4 bits from bytes 8-11 and their top 2 bits from the spare top bits of bytes 0-7.
inline void k_scale_min(int j, const uint8_t* s, uint8_t& sc, uint8_t& mn) {
  if (j < 4) {
    sc = s[j] & 63;
    mn = s[j + 4] & 63;
  } else {
    sc = uint8_t((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
    mn = uint8_t((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Q4_K: 256 elements in 4 groups of 64; within a group, 32 bytes give 32 low-nibble elements
// (sub-block 2g) then 32 high-nibble elements (sub-block 2g+1); y = (d*sc) * q - (dmin*mn).
KVB_ALWAYS_INLINE void dequant_q4_k(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float dmin = load_f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int g = 0; g < 4; ++g) {
    uint8_t sc, mn;
    k_scale_min(2 * g, scales, sc, mn);
    const float d1 = d * float(sc), m1 = dmin * float(mn);
    k_scale_min(2 * g + 1, scales, sc, mn);
    const float d2 = d * float(sc), m2 = dmin * float(mn);
    for (int l = 0; l < 32; ++l) y[l] = d1 * float(q[l] & 0x0F) - m1;
    for (int l = 0; l < 32; ++l) y[32 + l] = d2 * float(q[l] >> 4) - m2;
    y += 64;
    q += 32;
  }
}

// Q6_K: 256 elements in 2 halves of 128. In a half, element l + 32k (l < 32, k < 4) has its low
// 4 bits in ql (byte l for k = 0/2, byte l + 32 for k = 1/3; low nibble for k < 2, high otherwise)
// and its top 2 bits in qh[l] bits 2k..2k+1; q is biased by 32; 16 int8 scales, one per 16 elements.
KVB_ALWAYS_INLINE void dequant_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = load_f16(b + 208);
  for (int half = 0; half < 2; ++half) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = int((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = int((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * float(sc[is + 0]) * float(q1);
      y[l + 32] = d * float(sc[is + 2]) * float(q2);
      y[l + 64] = d * float(sc[is + 4]) * float(q3);
      y[l + 96] = d * float(sc[is + 6]) * float(q4);
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

// Dequantizes blocks [b0, b1); the block function is a template argument so that it inlines, and the
// loop is compiled for each SIMD level (core/simd.h; element-wise, so every level gives the same bits).
template <void (*Block)(const uint8_t*, float*)>
KVB_ALWAYS_INLINE void dequant_range(const uint8_t* src, float* dst, int64_t b0, int64_t b1, int64_t block_elems,
                                     int64_t block_bytes) {
  for (int64_t b = b0; b < b1; ++b) Block(src + b * block_bytes, dst + b * block_elems);
}
template <void (*Block)(const uint8_t*, float*)>
void dequant_range_portable(const uint8_t* src, float* dst, int64_t b0, int64_t b1, int64_t be, int64_t bb) {
  dequant_range<Block>(src, dst, b0, b1, be, bb);
}
template <void (*Block)(const uint8_t*, float*)>
KVB_TARGET_AVX2 void dequant_range_avx2(const uint8_t* src, float* dst, int64_t b0, int64_t b1, int64_t be, int64_t bb) {
  dequant_range<Block>(src, dst, b0, b1, be, bb);
}
template <void (*Block)(const uint8_t*, float*)>
KVB_TARGET_AVX512 void dequant_range_avx512(const uint8_t* src, float* dst, int64_t b0, int64_t b1, int64_t be,
                                            int64_t bb) {
  dequant_range<Block>(src, dst, b0, b1, be, bb);
}

template <void (*Block)(const uint8_t*, float*)>
void dequant_blocks(const uint8_t* src, float* dst, int64_t nb, int64_t block_elems, int64_t block_bytes,
                    cpu::SimdLevel level) {
  auto* range = level == cpu::SimdLevel::Avx512 ? dequant_range_avx512<Block>
                : level == cpu::SimdLevel::Avx2 ? dequant_range_avx2<Block>
                                                : dequant_range_portable<Block>;
  constexpr int64_t kChunk = 64;  // blocks per task
#pragma omp parallel for schedule(static) if (nb * block_elems > (1 << 16))
  for (int64_t b0 = 0; b0 < nb; b0 += kChunk) range(src, dst, b0, std::min(nb, b0 + kChunk), block_elems, block_bytes);
}

}  // namespace

const char* dtype_name(DType t) { return info(t).name; }
int64_t dtype_block_elems(DType t) { return info(t).block_elems; }
int64_t dtype_block_bytes(DType t) { return info(t).block_bytes; }

size_t dtype_nbytes(DType t, int64_t n, const std::string& what) {
  const auto& i = info(t);
  KVB_CHECK(n >= 0, "{}: negative element count {}", what, n);
  KVB_CHECK(n % i.block_elems == 0, "{}: {} elements is not a whole number of {} blocks ({} elements each)", what, n,
            i.name, i.block_elems);
  return size_t(n / i.block_elems) * size_t(i.block_bytes);
}

float fp16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;  // signed zero
    } else {
      // Subnormal half: mant * 2^-24, exactly representable as a normal float.
      float v = float(mant) * 0x1p-24f;
      return sign ? -v : v;
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf / NaN (payload kept)
  } else {
    bits = sign | ((exp + (127 - 15)) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

uint16_t f32_to_bf16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((u >> 16) | 0x40u);  // NaN: keep it quiet
  u += 0x7FFFu + ((u >> 16) & 1u);                                          // round to nearest even
  return uint16_t(u >> 16);
}

void convert_to_f32(DType t, const uint8_t* src, float* dst, int64_t n, cpu::SimdLevel level) {
  const auto& i = info(t);
  KVB_CHECK(n >= 0 && n % i.block_elems == 0, "convert_to_f32: {} elements is not a whole number of {} blocks", n,
            i.name);
  switch (t) {
    case DType::F32:
      if (n) std::memcpy(dst, src, size_t(n) * 4);
      return;
    case DType::F16:
#pragma omp parallel for schedule(static) if (n > (1 << 16))
      for (int64_t k = 0; k < n; ++k) dst[k] = fp16_to_f32(load_u16(src + 2 * k));
      return;
    case DType::BF16:
#pragma omp parallel for schedule(static) if (n > (1 << 16))
      for (int64_t k = 0; k < n; ++k) dst[k] = bf16_to_f32(load_u16(src + 2 * k));
      return;
    default:
      break;
  }
  const int64_t nb = n / i.block_elems;
  switch (t) {
    case DType::Q8_0:
      return dequant_blocks<dequant_q8_0>(src, dst, nb, i.block_elems, i.block_bytes, level);
    case DType::Q4_0:
      return dequant_blocks<dequant_q4_0>(src, dst, nb, i.block_elems, i.block_bytes, level);
    case DType::Q4_1:
      return dequant_blocks<dequant_q4_1>(src, dst, nb, i.block_elems, i.block_bytes, level);
    case DType::Q4_K:
      return dequant_blocks<dequant_q4_k>(src, dst, nb, i.block_elems, i.block_bytes, level);
    case DType::Q6_K:
      return dequant_blocks<dequant_q6_k>(src, dst, nb, i.block_elems, i.block_bytes, level);
    default:
      KVB_FAIL("internal: no dequantizer for {}", i.name);
  }
}

Tensor to_f32(const RawTensor& t) {
  for (auto d : t.shape) KVB_CHECK(d >= 0, "tensor '{}': negative dimension {}", t.name, d);
  const size_t need = dtype_nbytes(t.dtype, t.numel(), fmt::format("tensor '{}'", t.name));
  KVB_CHECK(t.nbytes == need, "tensor '{}': {} holds {} bytes, but {} {} elements need {}", t.name, dtype_name(t.dtype),
            t.nbytes, t.numel(), dtype_name(t.dtype), need);
  KVB_CHECK(need == 0 || t.data != nullptr, "tensor '{}': no data", t.name);
  Tensor out(t.shape);
  convert_to_f32(t.dtype, t.data, out.ptr(), t.numel());
  return out;
}

}  // namespace kvb
