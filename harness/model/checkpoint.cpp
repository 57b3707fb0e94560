// Checkpoint dispatch: a .gguf file or a Hugging Face directory.
#include "model/checkpoint.h"

#include <fstream>

namespace kvb {

std::string Checkpoint::name() const {
  return format == "hf" ? path.filename().string() : path.stem().string();
}

Checkpoint load_checkpoint(const std::filesystem::path& path) {
  std::error_code ec;
  KVB_CHECK(std::filesystem::exists(path, ec), "{}: model not found", path.string());
  if (std::filesystem::is_directory(path, ec)) {
    KVB_CHECK(std::filesystem::exists(path / "config.json", ec),
              "{}: a model directory needs config.json (Hugging Face layout)", path.string());
    return load_hf_checkpoint(path);
  }
  char magic[4] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(magic, 4);
  KVB_CHECK(in.gcount() == 4 && std::string(magic, 4) == "GGUF",
            "{}: not a GGUF file (bad magic) and not a Hugging Face directory", path.string());
  return load_gguf_checkpoint(path);
}

}  // namespace kvb
