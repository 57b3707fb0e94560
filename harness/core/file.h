// Whole-file reading and read-only memory mapping, with errors that name the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace kvb {

std::string read_text_file(const std::filesystem::path& path);

// A read-only mapping of a whole file; movable, unmaps on destruction.
class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const std::filesystem::path& path);
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace kvb
