// safetensors reader: see safetensors.h. Format: https://github.com/huggingface/safetensors (README).
#include "model/safetensors.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <set>

#include "core/error.h"

namespace kvb {
namespace {

DType parse_dtype(const std::string& s, const std::string& where) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  KVB_FAIL("{}: unsupported dtype '{}' (supported: F32, F16, BF16)", where, s);
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : file_(path) {
  const std::string p = path.string();
  KVB_CHECK(file_.size() >= 8, "{}: truncated safetensors file ({} bytes, the header length alone needs 8)", p,
            file_.size());
  uint64_t header_len = 0;
  std::memcpy(&header_len, file_.data(), 8);
  KVB_CHECK(header_len <= file_.size() - 8, "{}: header length {} reaches past the end of the file ({} bytes)", p,
            header_len, file_.size());
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(file_.data() + 8, file_.data() + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    KVB_FAIL("{}: invalid JSON header: {}", p, e.what());
  }
  KVB_CHECK(header.is_object(), "{}: the header is not a JSON object", p);
  const uint8_t* data = file_.data() + 8 + header_len;
  const uint64_t data_size = file_.size() - 8 - header_len;
  for (auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = p + ": tensor '" + name + "'";
    KVB_CHECK(info.is_object() && info.contains("dtype") && info.contains("shape") && info.contains("data_offsets"),
              "{}: entry lacks dtype, shape or data_offsets", where);
    RawTensor t;
    t.name = name;
    try {
      t.dtype = parse_dtype(info["dtype"].get<std::string>(), where);
      for (auto& d : info["shape"]) {
        int64_t v = d.get<int64_t>();
        KVB_CHECK(v >= 0 && v < (int64_t(1) << 40), "{}: invalid dimension {}", where, v);
        t.shape.push_back(v);
      }
      auto offs = info["data_offsets"].get<std::vector<uint64_t>>();
      KVB_CHECK(offs.size() == 2 && offs[0] <= offs[1], "{}: data_offsets must be [begin, end]", where);
      KVB_CHECK(offs[1] <= data_size, "{}: data [{}, {}) reaches past the end of the file (data section is {} bytes)",
                where, offs[0], offs[1], data_size);
      // Element count without overflow (three dimensions of 2^39 overflow int64: UBSan, and a wrapped
      // count could pass the size check; tests/fuzz/regressions/safetensors/).
      int64_t numel = 1;
      // The product of the non-zero dimensions is bounded too: RawTensor::numel() multiplies in order, so
      // [2^39, 2^39, 0] would overflow there before reaching the zero.
      int64_t nonzero = 1;
      for (int64_t d : t.shape) {
        if (d == 0) continue;
        KVB_CHECK(nonzero <= (int64_t(1) << 50) / d, "{}: shape {} has more elements than a file can hold", where,
                  info["shape"].dump());
        nonzero *= d;
      }
      for (int64_t d : t.shape) numel *= d;
      size_t want = dtype_nbytes(t.dtype, numel, where);
      KVB_CHECK(offs[1] - offs[0] == want, "{}: holds {} bytes but shape {} of {} needs {}", where, offs[1] - offs[0],
                info["shape"].dump(), dtype_name(t.dtype), want);
      t.data = data + offs[0];
      t.nbytes = want;
    } catch (const nlohmann::json::exception& e) {
      KVB_FAIL("{}: malformed entry: {}", where, e.what());
    }
    tensors_.emplace(name, std::move(t));
  }
}

SafetensorsModel::SafetensorsModel(const std::filesystem::path& dir) {
  auto single = dir / "model.safetensors";
  auto index = dir / "model.safetensors.index.json";
  if (std::filesystem::exists(index)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_text_file(index));
    } catch (const nlohmann::json::exception& e) {
      KVB_FAIL("{}: invalid JSON: {}", index.string(), e.what());
    }
    KVB_CHECK(j.contains("weight_map") && j["weight_map"].is_object(), "{}: missing 'weight_map' object",
              index.string());
    std::map<std::string, const SafetensorsFile*> by_file;
    for (auto& [name, file] : j["weight_map"].items()) {
      KVB_CHECK(file.is_string(), "{}: weight_map['{}'] is not a file name", index.string(), name);
      std::string f = file.get<std::string>();
      KVB_CHECK(f.find('/') == std::string::npos && f.find("..") == std::string::npos,
                "{}: shard name '{}' must be a plain file name", index.string(), f);
      if (!by_file.count(f)) {
        KVB_CHECK(std::filesystem::exists(dir / f), "{}: shard '{}' named for tensor '{}' does not exist",
                  index.string(), f, name);
        files_.push_back(std::make_unique<SafetensorsFile>(dir / f));
        by_file[f] = files_.back().get();
      }
      auto& ts = by_file[f]->tensors();
      auto it = ts.find(name);
      KVB_CHECK(it != ts.end(), "{}: tensor '{}' is listed in {} but absent from it", (dir / f).string(), name,
                index.filename().string());
      index_[name] = &it->second;
    }
  } else {
    KVB_CHECK(std::filesystem::exists(single), "{}: neither model.safetensors nor model.safetensors.index.json found",
              dir.string());
    files_.push_back(std::make_unique<SafetensorsFile>(single));
    for (auto& [name, t] : files_.back()->tensors()) index_[name] = &t;
  }
}

const RawTensor* SafetensorsModel::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

std::string SafetensorsModel::describe() const {
  if (files_.size() == 1) return files_[0]->path().string();
  return fmt::format("{} ({} shards)", files_[0]->path().parent_path().string(), files_.size());
}

}  // namespace kvb
