// Reader for the safetensors format (8-byte little-endian header length, JSON header,
// raw little-endian data), single file or sharded via model.safetensors.index.json.
// Every offset is bounds-checked; errors name the file and the tensor.
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/file.h"
#include "model/raw_tensor.h"

namespace kvb {

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);
  const std::map<std::string, RawTensor>& tensors() const { return tensors_; }
  const std::filesystem::path& path() const { return file_.path(); }

 private:
  MappedFile file_;
  std::map<std::string, RawTensor> tensors_;
};

// All tensors of a Hugging Face model directory (one file or shards).
class SafetensorsModel {
 public:
  explicit SafetensorsModel(const std::filesystem::path& dir);
  const RawTensor* find(const std::string& name) const;
  std::string describe() const;  // the file(s) read, for messages

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const RawTensor*> index_;
};

}  // namespace kvb
