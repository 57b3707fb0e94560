// GGUF reader: header, typed metadata, tensor directory and tensor data of a .gguf file (memory mapped).
// Format: GGUF v3 (v2 accepted), little-endian, as written by llama.cpp / gguf-py (see docs/gguf.md in ggml).
// Exercise: ctest -R Gguf (tests/test_gguf.cpp); every malformed input ends in one kvb::Error naming the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/file.h"
#include "model/raw_tensor.h"

namespace kvb {

// Metadata value types (gguf_type).
enum class GgufType : uint32_t {
  Uint8 = 0,
  Int8 = 1,
  Uint16 = 2,
  Int16 = 3,
  Uint32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  Uint64 = 10,
  Int64 = 11,
  Float64 = 12,
};
const char* gguf_type_name(GgufType t);
// A key or tensor name from a file made safe for an error message: control bytes and backslashes
// written as \xNN, cut after 120 bytes.
std::string gguf_printable(std::string_view s);

// One metadata value. Scalars fill exactly one of u64 / i64 / f64 / str; arrays of numbers and
// bools stay in the mapped file (`raw`, `count` elements of `elem_type`), arrays of strings are
// copied into `strings`, arrays of arrays into `arrays`.
struct GgufValue {
  GgufType type = GgufType::Uint8;
  uint64_t u64 = 0;                      // Uint8..Uint64, Bool
  int64_t i64 = 0;                       // Int8..Int64
  double f64 = 0.0;                      // Float32, Float64
  std::string str;                       // String
  GgufType elem_type = GgufType::Uint8;  // Array
  uint64_t count = 0;                    // Array
  const uint8_t* raw = nullptr;          // Array of numbers / bools
  std::vector<std::string> strings;      // Array of strings
  std::vector<GgufValue> arrays;         // Array of arrays

  bool is_integer() const;  // any of the eight integer types (not bool)
  bool is_float() const { return type == GgufType::Float32 || type == GgufType::Float64; }
  // Element `i` of a numeric / bool array converted to double or int64 (no range checks needed:
  // `i` < count is the caller's duty).
  double number_at(uint64_t i) const;
  int64_t integer_at(uint64_t i) const;
  std::string describe() const;  // "uint32", "array[string; 512]", ...
};

struct GgufKV {
  std::string key;
  GgufValue value;
};

// ggml tensor types as stored in a tensor info (ggml_type). `known` lists every id ggml has ever
// assigned a layout to; only some of those convert to float32 (see DType).
struct GgmlTypeInfo {
  uint32_t id;
  const char* name;
  int64_t block_elems;
  int64_t block_bytes;
};
// nullptr for ids ggml does not define (including the removed ids 4, 5, 31-33, 36-38).
const GgmlTypeInfo* ggml_type_info(uint32_t id);
// The DType that converts this ggml type, or nullopt when kvbench cannot read it.
std::optional<DType> dtype_from_ggml(uint32_t id);
uint32_t ggml_type_of(DType t);

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // ggml order: ne[0] is the contiguous (innermost) axis
  uint32_t ggml_type = 0;
  uint64_t offset = 0;  // relative to the start of the data section
  size_t nbytes = 0;
  int64_t numel() const;
  std::vector<int64_t> shape() const;  // outermost first (ne reversed)
};

class GgufFile {
 public:
  // Maps and parses `path`; throws kvb::Error "<path>: <problem>" on any malformed input.
  explicit GgufFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_.path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  size_t file_size() const { return file_.size(); }

  const std::vector<GgufKV>& metadata() const { return kvs_; }
  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: nullopt when the key is absent, kvb::Error naming the key when the type is wrong
  // or the value does not fit.
  std::optional<int64_t> get_int(std::string_view key, int64_t min_value, int64_t max_value) const;
  std::optional<double> get_float(std::string_view key) const;  // float or integer values
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  // Array getters accept only arrays of the matching kind.
  std::optional<std::vector<std::string>> get_string_array(std::string_view key) const;
  std::optional<std::vector<double>> get_float_array(std::string_view key) const;
  std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;
  // As above, but a missing key is an error ("missing required metadata key '<key>'").
  int64_t require_int(std::string_view key, int64_t min_value, int64_t max_value) const;
  double require_float(std::string_view key) const;
  std::string require_string(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // A view of the tensor's bytes in the mapping (valid while this GgufFile lives). Throws naming
  // the tensor and its type when kvbench cannot convert that type (e.g. Q5_K).
  RawTensor raw_tensor(const GgufTensorInfo& t) const;

 private:
  void parse();
  MappedFile file_;
  std::string path_str_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufKV> kvs_;
  std::unordered_map<std::string, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace kvb
