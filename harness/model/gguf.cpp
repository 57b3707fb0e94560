// GGUF reader: parses the header, metadata and tensor directory of a memory-mapped .gguf file.
// Format: GGUF v3 (and v2, which has the same layout), little-endian; see ggml's docs/gguf.md.
// Every read is bounds-checked; exercise with ctest -R Gguf (tests/test_gguf.cpp, incl. fuzzing).
#include "model/gguf.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace kvb {

namespace {

// Arrays nested deeper than this are refused (they would otherwise recurse without bound).
constexpr int kMaxArrayDepth = 8;
constexpr uint32_t kMaxDims = 4;

// ggml_type ids and block layouts (ggml.h / gguf-py constants.py).
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {0, "F32", 1, 4},         {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},      {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},      {8, "Q8_0", 32, 34},      {9, "Q8_1", 32, 40},
    {10, "Q2_K", 256, 84},    {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},   {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66}, {17, "IQ2_XS", 256, 74},
    {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},   {20, "IQ4_NL", 32, 18},   {21, "IQ3_S", 256, 110},
    {22, "IQ2_S", 256, 82},   {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},         {25, "I16", 1, 2},
    {26, "I32", 1, 4},        {27, "I64", 1, 8},        {28, "F64", 1, 8},        {29, "IQ1_M", 256, 56},
    {30, "BF16", 1, 2},       {34, "TQ1_0", 256, 54},   {35, "TQ2_0", 256, 66},   {39, "MXFP4", 32, 17},
    {40, "NVFP4", 64, 36},    {41, "Q1_0", 128, 18},
};

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::Uint8:
    case GgufType::Int8:
    case GgufType::Bool:
      return 1;
    case GgufType::Uint16:
    case GgufType::Int16:
      return 2;
    case GgufType::Uint32:
    case GgufType::Int32:
    case GgufType::Float32:
      return 4;
    case GgufType::Uint64:
    case GgufType::Int64:
    case GgufType::Float64:
      return 8;
    default:
      return 0;  // String, Array: variable
  }
}

bool valid_type(uint32_t t) { return t <= uint32_t(GgufType::Float64); }

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// A bounds-checked little-endian cursor over the mapped file. `ctx` names what is being read, for
// error messages ("metadata key 'x'", "tensor info 3 'blk.0.attn_q.weight'").
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

  size_t pos() const { return pos_; }
  size_t size() const { return size_; }
  size_t remaining() const { return size_ - pos_; }
  const uint8_t* here() const { return data_ + pos_; }
  const std::string& path() const { return path_; }
  std::string ctx;

  [[noreturn]] void fail_eof(const char* what, size_t need) const {
    KVB_FAIL("{}: unexpected end of file (truncated?): {}{}{} needs {} bytes at offset {}, but the file has {} bytes",
             path_, ctx, ctx.empty() ? "" : ": ", what, need, pos_, size_);
  }

  void need(size_t n, const char* what) const {
    if (n > remaining()) fail_eof(what, n);
  }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v = load<T>(data_ + pos_);
    pos_ += sizeof(T);
    return v;
  }

  void skip(size_t n, const char* what) {
    need(n, what);
    pos_ += n;
  }

  std::string read_string(const char* what) {
    const size_t at = pos_;
    const uint64_t len = read<uint64_t>(what);
    if (len > remaining())
      KVB_FAIL("{}: {}{}{}: string length {} at offset {} reaches past the end of the file ({} bytes)", path_, ctx,
               ctx.empty() ? "" : ": ", what, len, at, size_);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), size_t(len));
    pos_ += size_t(len);
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

// The fewest bytes one array element of type `t` can occupy (strings: the length field;
// arrays: element type + count).
size_t min_elem_size(GgufType t) {
  if (t == GgufType::String) return 8;
  if (t == GgufType::Array) return 12;
  return scalar_size(t);
}

void read_value(Reader& r, GgufType type, GgufValue& v, int depth);

void read_array(Reader& r, GgufValue& v, int depth) {
  const size_t at = r.pos();
  const uint32_t et = r.read<uint32_t>("array element type");
  if (!valid_type(et)) KVB_FAIL("{}: {}: unknown array element type {} at offset {}", r.path(), r.ctx, et, at);
  const uint64_t count = r.read<uint64_t>("array length");
  v.elem_type = GgufType(et);
  v.count = count;
  const size_t esz = min_elem_size(v.elem_type);
  // Check the count against what the rest of the file could hold; containers grow only as elements
  // are actually read (nothing is reserved from a header value).
  if (count > r.remaining() / esz)
    KVB_FAIL(
        "{}: {}: array length {} ({} elements of at least {} bytes) at offset {} reaches past the end of the "
        "file ({} bytes)",
        r.path(), r.ctx, count, gguf_type_name(v.elem_type), esz, at, r.size());
  if (v.elem_type == GgufType::String) {
    for (uint64_t i = 0; i < count; ++i) v.strings.push_back(r.read_string("array string"));
  } else if (v.elem_type == GgufType::Array) {
    if (depth + 1 > kMaxArrayDepth)
      KVB_FAIL("{}: {}: arrays nested more than {} deep at offset {}", r.path(), r.ctx, kMaxArrayDepth, at);
    for (uint64_t i = 0; i < count; ++i) {
      GgufValue& a = v.arrays.emplace_back();
      a.type = GgufType::Array;
      read_array(r, a, depth + 1);
    }
  } else {
    v.raw = r.here();
    r.skip(size_t(count) * esz, "array data");
    if (v.elem_type == GgufType::Bool) {
      for (uint64_t i = 0; i < count; ++i)
        if (v.raw[i] > 1)
          KVB_FAIL("{}: {}: bool array element {} has value {} (expected 0 or 1)", r.path(), r.ctx, i, v.raw[i]);
    }
  }
}

void read_value(Reader& r, GgufType type, GgufValue& v, int depth) {
  v.type = type;
  switch (type) {
    case GgufType::Uint8:
      v.u64 = r.read<uint8_t>("uint8 value");
      break;
    case GgufType::Int8:
      v.i64 = r.read<int8_t>("int8 value");
      break;
    case GgufType::Uint16:
      v.u64 = r.read<uint16_t>("uint16 value");
      break;
    case GgufType::Int16:
      v.i64 = r.read<int16_t>("int16 value");
      break;
    case GgufType::Uint32:
      v.u64 = r.read<uint32_t>("uint32 value");
      break;
    case GgufType::Int32:
      v.i64 = r.read<int32_t>("int32 value");
      break;
    case GgufType::Uint64:
      v.u64 = r.read<uint64_t>("uint64 value");
      break;
    case GgufType::Int64:
      v.i64 = r.read<int64_t>("int64 value");
      break;
    case GgufType::Float32:
      v.f64 = r.read<float>("float32 value");
      break;
    case GgufType::Float64:
      v.f64 = r.read<double>("float64 value");
      break;
    case GgufType::Bool: {
      const size_t at = r.pos();
      const uint8_t b = r.read<uint8_t>("bool value");
      if (b > 1) KVB_FAIL("{}: {}: bool value {} at offset {} (expected 0 or 1)", r.path(), r.ctx, b, at);
      v.u64 = b;
      break;
    }
    case GgufType::String:
      v.str = r.read_string("string value");
      break;
    case GgufType::Array:
      read_array(r, v, depth);
      break;
  }
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

std::string gguf_printable(std::string_view s) {
  constexpr size_t kMax = 120;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F || c == '\\')
      out += fmt::format("\\x{:02x}", c);
    else
      out += char(c);
  }
  if (s.size() > kMax) out += fmt::format("... ({} bytes)", s.size());
  return out;
}

const char* gguf_type_name(GgufType t) {
  static constexpr const char* names[] = {"uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
                                          "bool",  "string", "array",  "uint64", "int64",  "float64"};
  auto i = uint32_t(t);
  return i < std::size(names) ? names[i] : "unknown";
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::Uint8:
    case GgufType::Int8:
    case GgufType::Uint16:
    case GgufType::Int16:
    case GgufType::Uint32:
    case GgufType::Int32:
    case GgufType::Uint64:
    case GgufType::Int64:
      return true;
    default:
      return false;
  }
}

double GgufValue::number_at(uint64_t i) const {
  const uint8_t* p = raw + i * scalar_size(elem_type);
  switch (elem_type) {
    case GgufType::Float32:
      return load<float>(p);
    case GgufType::Float64:
      return load<double>(p);
    case GgufType::Uint64:
      return double(load<uint64_t>(p));
    default:
      return double(integer_at(i));
  }
}

int64_t GgufValue::integer_at(uint64_t i) const {
  const uint8_t* p = raw + i * scalar_size(elem_type);
  switch (elem_type) {
    case GgufType::Uint8:
    case GgufType::Bool:
      return load<uint8_t>(p);
    case GgufType::Int8:
      return load<int8_t>(p);
    case GgufType::Uint16:
      return load<uint16_t>(p);
    case GgufType::Int16:
      return load<int16_t>(p);
    case GgufType::Uint32:
      return load<uint32_t>(p);
    case GgufType::Int32:
      return load<int32_t>(p);
    case GgufType::Uint64: {
      uint64_t u = load<uint64_t>(p);
      return u > uint64_t(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max() : int64_t(u);
    }
    case GgufType::Int64:
      return load<int64_t>(p);
    case GgufType::Float32:
      return int64_t(load<float>(p));
    case GgufType::Float64:
      return int64_t(load<double>(p));
    default:
      return 0;
  }
}

std::string GgufValue::describe() const {
  if (type != GgufType::Array) return gguf_type_name(type);
  return fmt::format("array[{}; {}]", gguf_type_name(elem_type), count);
}

const GgmlTypeInfo* ggml_type_info(uint32_t id) {
  for (const auto& t : kGgmlTypes)
    if (t.id == id) return &t;
  return nullptr;
}

std::optional<DType> dtype_from_ggml(uint32_t id) {
  switch (id) {
    case 0:
      return DType::F32;
    case 1:
      return DType::F16;
    case 30:
      return DType::BF16;
    case 8:
      return DType::Q8_0;
    case 2:
      return DType::Q4_0;
    case 3:
      return DType::Q4_1;
    case 12:
      return DType::Q4_K;
    case 14:
      return DType::Q6_K;
    default:
      return std::nullopt;
  }
}

uint32_t ggml_type_of(DType t) {
  switch (t) {
    case DType::F32:
      return 0;
    case DType::F16:
      return 1;
    case DType::BF16:
      return 30;
    case DType::Q8_0:
      return 8;
    case DType::Q4_0:
      return 2;
    case DType::Q4_1:
      return 3;
    case DType::Q4_K:
      return 12;
    case DType::Q6_K:
      return 14;
  }
  return 0;
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (auto d : ne) n *= d;
  return n;
}

std::vector<int64_t> GgufTensorInfo::shape() const { return std::vector<int64_t>(ne.rbegin(), ne.rend()); }

GgufFile::GgufFile(const std::filesystem::path& path) : file_(path), path_str_(path.string()) { parse(); }

void GgufFile::parse() {
  const std::string& p = path_str_;
  const size_t size = file_.size();
  KVB_CHECK(size > 0, "{}: file is empty (not a GGUF file)", p);
  Reader r(file_.data(), size, p);

  // Header: magic, version, tensor count, metadata count.
  r.ctx = "header";
  r.need(4, "magic");
  const uint8_t* m = r.here();
  if (std::memcmp(m, "GGUF", 4) != 0)
    KVB_FAIL("{}: bad magic {:02x} {:02x} {:02x} {:02x} (expected \"GGUF\"): not a GGUF file", p, m[0], m[1], m[2],
             m[3]);
  r.skip(4, "magic");
  version_ = r.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3) {
    if (version_ == 1)
      KVB_FAIL("{}: GGUF version 1 is not supported (re-convert the model; versions 2 and 3 are read)", p);
    const uint32_t swapped = __builtin_bswap32(version_);
    if (swapped == 2 || swapped == 3) KVB_FAIL("{}: big-endian GGUF (version {}) is not supported", p, swapped);
    KVB_FAIL("{}: unsupported GGUF version {} (versions 2 and 3 are read)", p, version_);
  }
  const uint64_t n_tensors = r.read<uint64_t>("tensor count");
  const uint64_t n_kv = r.read<uint64_t>("metadata count");
  // A metadata pair takes at least 13 bytes (key length, type, 1-byte value), a tensor info at least
  // 24 (name length, n_dims, type, offset): refuse counts the file could not hold before reserving.
  if (n_kv > r.remaining() / 13)
    KVB_FAIL(
        "{}: header claims {} metadata pairs, more than the rest of the file ({} of {} bytes) could hold "
        "(truncated or corrupt file)",
        p, n_kv, r.remaining(), size);
  if (n_tensors > r.remaining() / 24)
    KVB_FAIL(
        "{}: header claims {} tensors, more than the rest of the file ({} of {} bytes) could hold "
        "(truncated or corrupt file)",
        p, n_tensors, r.remaining(), size);

  // Metadata.
  for (uint64_t i = 0; i < n_kv; ++i) {
    r.ctx = fmt::format("metadata pair {}", i);
    GgufKV kv;
    kv.key = r.read_string("key");
    r.ctx = fmt::format("metadata key '{}'", gguf_printable(kv.key));
    const size_t type_at = r.pos();
    const uint32_t t = r.read<uint32_t>("value type");
    if (!valid_type(t)) KVB_FAIL("{}: {}: unknown value type {} at offset {}", p, r.ctx, t, type_at);
    read_value(r, GgufType(t), kv.value, 0);
    if (!kv_index_.emplace(kv.key, kvs_.size()).second)
      KVB_FAIL("{}: duplicate metadata key '{}'", p, gguf_printable(kv.key));
    kvs_.push_back(std::move(kv));
  }

  // Alignment of the data section and of every tensor's offset.
  if (const GgufValue* a = find("general.alignment")) {
    KVB_CHECK(a->type == GgufType::Uint32, "{}: metadata key 'general.alignment' has type {}, expected uint32", p,
              a->describe());
    KVB_CHECK(a->u64 > 0 && std::has_single_bit(a->u64),
              "{}: metadata key 'general.alignment' is {}, expected a power of two", p, a->u64);
    alignment_ = a->u64;
  }

  // Tensor directory.
  for (uint64_t i = 0; i < n_tensors; ++i) {
    r.ctx = fmt::format("tensor info {}", i);
    GgufTensorInfo t;
    t.name = r.read_string("name");
    r.ctx = fmt::format("tensor '{}'", gguf_printable(t.name));
    const uint32_t n_dims = r.read<uint32_t>("n_dims");
    if (n_dims > kMaxDims)
      KVB_FAIL("{}: tensor '{}' has {} dimensions (at most {} are allowed)", p, gguf_printable(t.name), n_dims,
               kMaxDims);
    t.ne.resize(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = r.read<uint64_t>("dimension");
      if (ne > uint64_t(std::numeric_limits<int64_t>::max()))
        KVB_FAIL("{}: tensor '{}' dimension {} is {} (negative or too large)", p, gguf_printable(t.name), d, ne);
      t.ne[d] = int64_t(ne);
    }
    t.ggml_type = r.read<uint32_t>("type");
    t.offset = r.read<uint64_t>("offset");
    const GgmlTypeInfo* ti = ggml_type_info(t.ggml_type);
    if (!ti) KVB_FAIL("{}: tensor '{}' has unknown ggml type id {}", p, gguf_printable(t.name), t.ggml_type);
    // Element count without overflow: no product may exceed INT64_MAX.
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      if (t.ne[d] != 0 && numel > std::numeric_limits<int64_t>::max() / t.ne[d])
        KVB_FAIL("{}: tensor '{}' has too many elements (shape overflows 64 bits)", p, gguf_printable(t.name));
      numel *= t.ne[d];
    }
    const int64_t row = n_dims ? t.ne[0] : 1;
    if (row % ti->block_elems != 0)
      KVB_FAIL("{}: tensor '{}' rows have {} elements, not a multiple of the {} block size ({})", p,
               gguf_printable(t.name), row, ti->name, ti->block_elems);
    const uint64_t nblocks = uint64_t(numel / ti->block_elems);
    if (nblocks > std::numeric_limits<uint64_t>::max() / uint64_t(ti->block_bytes))
      KVB_FAIL("{}: tensor '{}' has too many elements ({} {} elements overflow 64 bits of bytes)", p,
               gguf_printable(t.name), numel, ti->name);
    t.nbytes = size_t(nblocks * uint64_t(ti->block_bytes));
    if (t.offset % alignment_ != 0)
      KVB_FAIL("{}: tensor '{}' data offset {} is not a multiple of the alignment {}", p, gguf_printable(t.name),
               t.offset, alignment_);
    if (!tensor_index_.emplace(t.name, tensors_.size()).second)
      KVB_FAIL("{}: duplicate tensor name '{}'", p, gguf_printable(t.name));
    tensors_.push_back(std::move(t));
  }
  r.ctx.clear();

  // Data section: starts at the next multiple of the alignment; every tensor must lie inside the file.
  data_offset_ = align_up(r.pos(), alignment_);
  const uint64_t avail = data_offset_ <= size ? size - data_offset_ : 0;
  for (const auto& t : tensors_) {
    if (t.nbytes == 0) continue;
    if (t.offset > avail || t.nbytes > avail - t.offset)
      KVB_FAIL("{}: tensor '{}' data [offset {}, {} bytes] reaches past the end of the file ({} bytes)", p,
               gguf_printable(t.name), data_offset_ + t.offset, t.nbytes, size);
  }
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(std::string(key));
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

std::optional<int64_t> GgufFile::get_int(std::string_view key, int64_t min_value, int64_t max_value) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  KVB_CHECK(v->is_integer(), "{}: metadata key '{}' has type {}, expected an integer", path_str_, key, v->describe());
  const bool is_unsigned = v->type == GgufType::Uint8 || v->type == GgufType::Uint16 || v->type == GgufType::Uint32 ||
                           v->type == GgufType::Uint64;
  if (is_unsigned) {
    KVB_CHECK(max_value >= 0 && v->u64 <= uint64_t(max_value) && int64_t(v->u64) >= min_value,
              "{}: metadata key '{}' is {}, outside [{}, {}]", path_str_, key, v->u64, min_value, max_value);
    return int64_t(v->u64);
  }
  KVB_CHECK(v->i64 >= min_value && v->i64 <= max_value, "{}: metadata key '{}' is {}, outside [{}, {}]", path_str_, key,
            v->i64, min_value, max_value);
  return v->i64;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->is_float()) return v->f64;
  if (v->is_integer()) {
    const bool is_signed = v->type == GgufType::Int8 || v->type == GgufType::Int16 || v->type == GgufType::Int32 ||
                           v->type == GgufType::Int64;
    return is_signed ? double(v->i64) : double(v->u64);
  }
  KVB_FAIL("{}: metadata key '{}' has type {}, expected a number", path_str_, key, v->describe());
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  KVB_CHECK(v->type == GgufType::Bool, "{}: metadata key '{}' has type {}, expected bool", path_str_, key,
            v->describe());
  return v->u64 != 0;
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  KVB_CHECK(v->type == GgufType::String, "{}: metadata key '{}' has type {}, expected string", path_str_, key,
            v->describe());
  return v->str;
}

std::optional<std::vector<std::string>> GgufFile::get_string_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  KVB_CHECK(v->type == GgufType::Array && v->elem_type == GgufType::String,
            "{}: metadata key '{}' has type {}, expected an array of strings", path_str_, key, v->describe());
  return v->strings;
}

std::optional<std::vector<double>> GgufFile::get_float_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  KVB_CHECK(v->type == GgufType::Array && v->raw != nullptr && v->elem_type != GgufType::Bool,
            "{}: metadata key '{}' has type {}, expected an array of numbers", path_str_, key, v->describe());
  std::vector<double> out(size_t(v->count));
  for (uint64_t i = 0; i < v->count; ++i) out[size_t(i)] = v->number_at(i);
  return out;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  const bool ok = v->type == GgufType::Array && v->raw != nullptr && v->elem_type != GgufType::Float32 &&
                  v->elem_type != GgufType::Float64 && v->elem_type != GgufType::Bool;
  KVB_CHECK(ok, "{}: metadata key '{}' has type {}, expected an array of integers", path_str_, key, v->describe());
  std::vector<int64_t> out(size_t(v->count));
  for (uint64_t i = 0; i < v->count; ++i) out[size_t(i)] = v->integer_at(i);
  return out;
}

int64_t GgufFile::require_int(std::string_view key, int64_t min_value, int64_t max_value) const {
  auto v = get_int(key, min_value, max_value);
  KVB_CHECK(v.has_value(), "{}: missing required metadata key '{}'", path_str_, key);
  return *v;
}

double GgufFile::require_float(std::string_view key) const {
  auto v = get_float(key);
  KVB_CHECK(v.has_value(), "{}: missing required metadata key '{}'", path_str_, key);
  return *v;
}

std::string GgufFile::require_string(std::string_view key) const {
  auto v = get_string(key);
  KVB_CHECK(v.has_value(), "{}: missing required metadata key '{}'", path_str_, key);
  return *v;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

RawTensor GgufFile::raw_tensor(const GgufTensorInfo& t) const {
  const auto dt = dtype_from_ggml(t.ggml_type);
  if (!dt) {
    const GgmlTypeInfo* ti = ggml_type_info(t.ggml_type);
    KVB_FAIL(
        "{}: tensor '{}' has type {}, which kvbench cannot read (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, "
        "Q4_K, Q6_K)",
        path_str_, gguf_printable(t.name), ti ? ti->name : "unknown");
  }
  RawTensor out;
  out.name = t.name;
  out.dtype = *dt;
  out.shape = t.shape();
  out.nbytes = t.nbytes;
  out.data = t.nbytes ? file_.data() + data_offset_ + t.offset : nullptr;
  return out;
}

}  // namespace kvb
