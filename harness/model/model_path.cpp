// Model discovery and name resolution; see model_path.h.
#include "model/model_path.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "model/oracle.h"

namespace fs = std::filesystem;

namespace kvb {

std::vector<fs::path> model_search_dirs() {
  std::vector<fs::path> dirs = {fs::current_path() / "models", fs::path(KVB_SOURCE_DIR) / "models",
                                fs::path(KVB_SOURCE_DIR).parent_path() / "shared" / "models"};
  std::vector<fs::path> out;
  std::set<fs::path> seen;
  for (auto& d : dirs) {
    std::error_code ec;
    fs::path c = fs::weakly_canonical(d, ec);
    if (ec) c = d;
    if (seen.insert(c).second) out.push_back(c);
  }
  return out;
}

namespace {

void scan(const fs::path& dir, int depth, std::vector<ModelEntry>& out) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  if (fs::exists(dir / "config.json", ec) &&
      (fs::exists(dir / "model.safetensors", ec) || fs::exists(dir / "model.safetensors.index.json", ec))) {
    uintmax_t bytes = 0;
    for (auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file(ec)) bytes += e.file_size(ec);
    out.push_back({dir, "hf", bytes});
    return;
  }
  for (auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec) && e.path().extension() == ".gguf") out.push_back({e.path(), "gguf", e.file_size(ec)});
    else if (e.is_directory(ec) && depth > 0) scan(e.path(), depth - 1, out);
  }
}

}  // namespace

std::vector<ModelEntry> discover_models() {
  std::vector<ModelEntry> out;
  for (auto& d : model_search_dirs()) scan(d, 2, out);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.path < b.path; });
  return out;
}

fs::path resolve_model_path(const std::string& name) {
  std::error_code ec;
  KVB_CHECK(!name.empty(), "--model: no model given");
  // Built-in models are constructed on first use and cached (harness/model/oracle.h).
  if (name.rfind("builtin:", 0) == 0) {
    KVB_CHECK(is_builtin_oracle(name), "--model {}: unknown built-in model (known: builtin:oracle[?key=value&...])", name);
    return builtin_oracle_path(name);
  }
  if (fs::exists(name, ec)) return fs::path(name);
  std::vector<std::string> dirs;
  for (auto& d : model_search_dirs()) {
    dirs.push_back(d.string());
    for (fs::path c : {d / (name + ".gguf"), d / name / (name + ".gguf"), d / name / "config.json", d / name}) {
      if (fs::exists(c, ec) && !fs::is_directory(c, ec)) return c.filename() == "config.json" ? c.parent_path() : c;
    }
  }
  std::string known;
  for (auto& m : discover_models()) known += (known.empty() ? "" : ", ") + m.path.string();
  KVB_FAIL("model '{}' not found: no such file, and no matching .gguf or model directory in {}{}", name,
           fmt::join(dirs, ", "),
           known.empty() ? std::string("; no models found — run scripts/setup.sh") : "; available: " + known);
}

}  // namespace kvb
